Feature: Level 1 — return the Ingress to the old Services (1-2 min)
  Helm pods are up but misbehave: scale the old Kustomize stack up, point the Ingress back at
  it, scale the Helm stack down. The runbook's own commands, verbatim.

  Background:
    Given the drill cluster is up
    And the runbook "fixtures/runbook/rollback-runbook.ja.md"

  Scenario: Level 1 under a Critical 5xx storm meets its target and the checklist holds
    Given the just-migrated Mastodon is serving under load
    When the fault for trigger C1 is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 1
    Then the rollback started within the trigger's decision deadline
    And the service recovers within the target of Level 1
    And the Ingress serves the old Kustomize stack
    And every item of the post-rollback checklist holds
    And the runbook's findings include "no_wait, wait_race, missing_object, broad_scope, duration", each with its line and what was observed
    And the drill's evidence is written
