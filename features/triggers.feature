Feature: Every trigger of the runbook is detected under load and removed by a rollback
  The runbook's criteria (ロールバックの判断基準) are the triggers. For each one the drill injects
  the fault that makes it true into the Helm release, under locust load through the Ingress,
  detects it with the runbook's own threshold, decides within the severity's deadline, and
  rolls back with Level 1, after which every steady-state probe is green again.

  Background:
    Given the drill cluster is up
    And the runbook "fixtures/runbook/rollback-runbook.ja.md"

  Scenario Outline: Trigger <trigger> (<severity>) is detected and Level 1 removes it
    Given the just-migrated Mastodon is serving under load
    When the fault for trigger <trigger> is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    And the rollback is decided within the trigger's decision deadline
    When the operator runs the commands of Level 1
    Then the service recovers within the target of Level 1
    And the drill's evidence is written

    Examples:
      | trigger | severity |
      | C1      | Critical |
      | C2      | Critical |
      | C3      | Critical |
      | H1      | High     |
      | H2      | High     |
      | H3      | High     |
      | H4      | High     |
      | M1      | Medium   |
      | M2      | Medium   |
      | M3      | Medium   |

  Scenario: C4, a serious security problem, is a person's decision and is recorded
    Given the just-migrated Mastodon is serving under load
    When "the security officer on call" declares trigger C4
    Then the decision is recorded with who decided and when
    And the rollback is decided within the trigger's decision deadline
    When the operator runs the commands of Level 1
    Then the service recovers within the target of Level 1
    And the drill's evidence is written
