Feature: Any team's runbook drills the same — reworded, translated, reordered or extended
  The runbook is the team's prose and changes with it. The harness reads its meaning, so a
  rewording or a translation drills exactly like the original, and a criterion a team adds gets
  the fault and the detector its meaning calls for (fixtures/runbook/variants/). These drills run
  nightly; the reading of every variant (40+) is checked field by field in every run
  (tests/test_runbook_surface_forms.py, tests/test_runbook.py).

  Background:
    Given the drill cluster is up

  Scenario Outline: Level 1 under the Critical 5xx criterion of the <variant> runbook
    Given the runbook "<path>"
    And the just-migrated Mastodon is serving under load
    When the fault for the Critical 5xx criterion is injected into the Helm release
    Then the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 1
    Then the service recovers within the target of Level 1
    And every item of the post-rollback checklist holds
    And the drill's evidence is written

    @nightly
    Examples:
      | variant           | path                                                      |
      | reworded Japanese | fixtures/runbook/variants/rollback-runbook.reworded.ja.md |
      | English           | fixtures/runbook/variants/rollback-runbook.en.md          |

  @nightly
  Scenario: A criterion the team added (streaming not delivered) gets the streaming fault; Level 1 removes it
    Given the runbook "fixtures/runbook/variants/rollback-runbook.extended.ja.md"
    And the just-migrated Mastodon is serving under load
    When the fault for trigger H5 is injected into the Helm release
    Then the injected fault is "streaming-down"
    And the trigger is detected with the runbook's threshold
    When the operator runs the commands of Level 1
    Then the service recovers within the target of Level 1
    And the drill's evidence is written
