@nightly
Feature: Production fidelity — the drill cluster behaves with GKE's latencies
  Under the gke profile the runbook's commands meet production's latencies for real: the old
  stack's pods are ready only after the node pulled their image (for real, from the harness's own
  registry, once) and the emulated Rails boot (their own readiness
  probes see it) and the load balancer's health check (the NEG readiness gate), an Ingress change
  reaches users only after the GCE load balancer's reprogramming delay — its last part as 502s —, and the Cloud SQL restore runs as an operation for the modelled time of the production
  database's size. The verdict is reported against the runbook's target whatever it is: a level
  that cannot meet its target on GKE is a result, not a failure to hide. (Nightly: each drill
  takes minutes by design.)

  Background:
    Given the drill cluster is up
    And the runbook "fixtures/runbook/rollback-runbook.ja.md"
    And the fidelity profile "gke"

  Scenario: Level 1 under the gke profile pays the emulated boot and Ingress propagation
    Given the just-migrated Mastodon is serving under load
    When the fault for trigger C1 is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 1
    Then the recovery includes the profile's boot of mastodon-web and its Ingress propagation
    And the node pulled the old stack's image once, the first old pod waiting for it
    And users got 502s while the load balancer routed to backends not yet healthy, counted in the outage
    And the old pods are Ready only after the load balancer's health check passed
    And the Ingress serves the old Kustomize stack
    And the journal and the report show the profile with every parameter's source
    And the verdict against the target of Level 1 is stated, whatever it is

  Scenario: Level 2 under the gke profile runs end to end
    Given the just-migrated Mastodon is serving under load
    When the fault for trigger C2 is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 2
    Then the recovery includes the profile's boot of mastodon-web and its Ingress propagation
    And the Helm release is gone and the old stack serves
    And the journal and the report show the profile with every parameter's source
    And the verdict against the target of Level 2 is stated, whatever it is

  Scenario: Level 3 under the gke profile: a restore longer than gcloud waits is seen RUNNING
    Given the production database is 30 GB
    And the just-migrated Mastodon is serving under load
    And Level 2 has already been carried out
    When the migration's damage to the data is found
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 3
    Then the schema is back at the pre-migration version
    And the runbook's `gcloud sql operations list` showed the restore RUNNING
    And the recovery includes the profile's modelled restore
    And the journal and the report show the profile with every parameter's source
    And the verdict against the target of Level 3 is stated, whatever it is
