Feature: Configuration mistakes a migration makes, as faults of the Helm release
  What a migration gets wrong in the release's values, made with `helm upgrade --reuse-values` at
  the official chart's value paths: the pods roll and really run misconfigured. No switch in the
  application is needed, so these are the faults a drill of a team's own release can use. Level 1
  moves traffic back to the old stack, which the mistake never touched.
  Every CI run drills the wrong database password on a team's own release addressed as an existing
  context (tests/cluster/test_existing_context.py); these rows, on the drill cluster, run nightly.

  Background:
    Given the drill cluster is up
    And the runbook "fixtures/runbook/rollback-runbook.ja.md"

  Scenario Outline: <id>: <mistake> is detected and Level 1 removes it from what users get
    Given the just-migrated Mastodon is serving under load
    When the configuration mistake for trigger <id> is made in the Helm release
    Then the injected fault is "<fault>"
    And the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 1
    Then the service recovers within the target of Level 1
    And the Ingress serves the old Kustomize stack
    And the drill's evidence is written
    And the release's values are what they were before the drill once the drill cluster is reset

    @nightly
    Examples:
      | id | mistake                                  | fault                 |
      | C2 | a wrong database password                | config-db-password    |
      | C3 | sign-in through an unreachable LDAP      | config-ldap-unreachable |
      | H3 | a sidekiq worker that lost its queues    | config-sidekiq-queues |
      | H4 | a wrong object-storage secret            | config-s3-credentials |
      | M2 | a streaming port the Ingress does not use | config-streaming-port |
