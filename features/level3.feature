Feature: Level 3 — restore the database from the pre-migration backup (30 min-2 h)
  The last resort: after Level 2 the team finds that the migration damaged data. Everything is
  stopped, the backup taken just before the migration is restored through the runbook's gcloud
  commands (on the Cloud SQL stand-in over the real PostgreSQL), the old stack restarted.

  Background:
    Given the drill cluster is up
    And the runbook "fixtures/runbook/rollback-runbook.ja.md"

  Scenario: Level 3 restores the pre-migration backup and reports the data lost
    Given the just-migrated Mastodon is serving under load
    And Level 2 has already been carried out
    When the migration's damage to the data is found
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 3
    Then the service recovers within the target of Level 3
    And the schema is back at the pre-migration version
    And the writes made after the backup are reported as lost
    And the runbook's restore command is reported as a finding
    And each defect of the restore command is its own finding and every rewrite is listed
    And every item of the post-rollback checklist holds
    And the runbook's findings include "placeholder, broad_scope, no_wait, duration", each with its line and what was observed
    And the drill's evidence is written
