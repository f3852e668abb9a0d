Feature: Every trigger of the runbook is detected under load and removed only by a real rollback
  The runbook's criteria (ロールバックの判断基準) are the triggers. For each one the drill injects
  the fault that makes it true into the Helm release, under locust load through the Ingress, and
  detects it with the runbook's own threshold. A Level 1 whose Ingress switch-back and Helm
  scale-downs are replaced by read-only `kubectl get` must not pass: the drill names the recovery
  condition that failed. Level 1 as written then removes the trigger within its target.
  Every row, and C4 (the person's decision), is drilled in every CI run: drills run side by side
  (pytest -n 3, one lane each), which is what makes all eleven affordable (bench/results/parallel.json).

  Background:
    Given the drill cluster is up
    And the runbook "fixtures/runbook/rollback-runbook.ja.md"

  Scenario Outline: Trigger <trigger> (<severity>): a Level 1 that switches nothing back fails, Level 1 as written passes
    Given the just-migrated Mastodon is serving under load
    When the fault for trigger <trigger> is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    When the operator runs Level 1 with its Ingress switch-back and Helm scale-downs neutered
    Then the drill does not pass within 25 seconds and says which recovery condition failed
    When the operator runs the commands of Level 1
    Then the rollback started within the trigger's decision deadline
    And the service recovers within the target of Level 1
    And the outage report counts what users saw per kind of action
    And the drill's evidence is written

    Examples:
      | trigger | severity |
      | C3      | Critical |
      | C1      | Critical |
      | C2      | Critical |
      | H1      | High     |
      | H2      | High     |
      | H3      | High     |
      | H4      | High     |
      | M1      | Medium   |
      | M2      | Medium   |
      | M3      | Medium   |

  Scenario: C4, a serious security problem, is a person's decision: recorded, and only a real rollback ends it
    Given the just-migrated Mastodon is serving under load
    When "the security officer on call" declares trigger C4
    Then the decision is recorded with who decided and when
    When the operator runs Level 1 with its Ingress switch-back and Helm scale-downs neutered
    Then the drill does not pass within 25 seconds and says which recovery condition failed
    When the operator runs the commands of Level 1
    Then the rollback started within the trigger's decision deadline
    And the service recovers within the target of Level 1
    And the drill's evidence is written
