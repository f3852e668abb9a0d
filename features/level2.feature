Feature: Level 2 — uninstall the Helm release and restore the old stack (5-10 min)

  Background:
    Given the drill cluster is up
    And the runbook "fixtures/runbook/rollback-runbook.ja.md"

  Scenario: Level 2 after the Helm release lost its database meets its target
    Given the just-migrated Mastodon is serving under load
    When the fault for trigger C2 is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 2
    Then the rollback started within the trigger's decision deadline
    And the service recovers within the target of Level 2
    And the Helm release is gone and the old stack serves
    And the GKE objects of the old stack are restored
    And every item of the post-rollback checklist holds
    And the runbook's findings include "alternative, no_wait, wait_race, broad_scope", each with its line and what was observed
    And the drill's evidence is written
