Feature: A drill fails when it should
  A harness that always passes proves nothing. These drills are broken on purpose and must
  report the failure: a missed target, a fault never detected, a check after rollback failing.

  Background:
    Given the drill cluster is up

  Scenario: Recovery slower than the runbook's target fails the drill
    Given the runbook "fixtures/runbook/rollback-runbook.ja.md" with the Level 1 target changed to "1-2秒"
    And the just-migrated Mastodon is serving under load
    When the fault for trigger C1 is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 1
    Then the drill's verdict is "target_missed"

  Scenario: A fault below the runbook's threshold is never detected
    Given the runbook "fixtures/runbook/rollback-runbook.ja.md" with "5xx エラー率が5%を超えている" changed to "5xx エラー率が95%を超えている"
    And the just-migrated Mastodon is serving under load
    When the fault for trigger M1 is injected with 8% errors
    Then the trigger is not detected within 10 seconds
    And the drill's verdict is "not_detected"

  Scenario: A rollback decided after the severity's deadline fails the drill
    Given the runbook "fixtures/runbook/rollback-runbook.ja.md"
    And the automatic decider thinks for 3 seconds before deciding
    And the just-migrated Mastodon is serving under load
    When the fault for trigger C1 is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 1
    Then the drill's verdict is "decision_late"

  Scenario: A post-rollback check that fails fails the drill
    Given the runbook "fixtures/runbook/rollback-runbook.ja.md"
    And the just-migrated Mastodon is serving under load
    And the old Deployment "mastodon-worker" has been deleted since the migration
    And the drill waits at most 20 seconds for recovery
    When the fault for trigger C1 is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 1
    Then the drill's verdict is not "passed"
    And the post-rollback check "バックグラウンドジョブが動作している" fails
    And the runbook command "kubectl scale deployment mastodon-worker --replicas=1" is reported as a finding
