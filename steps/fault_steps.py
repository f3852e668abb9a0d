"""When steps that make a trigger true: a fault switch, a configuration mistake, a declaration."""

from __future__ import annotations

from pytest_bdd import parsers, then, when
import yaml

from rollback_drill.drill.engine import Drill


@when(parsers.parse("the fault for trigger {trigger_id} is injected into the Helm release"))
def inject_fault(state, trigger_id):
    state["drill"].inject(trigger_id)


@when(parsers.parse("the fault for the {severity} 5xx criterion is injected into the Helm release"))
def inject_by_meaning(state, severity):
    rb = state["runbook"]
    trig = next(t for t in rb.triggers if t.severity.lower() == severity.lower() and t.criterion.kind == "error_ratio")
    state["drill"].inject(trig.id)


@when(parsers.parse("the fault for trigger {trigger_id} is injected with {pct:d}% errors"))
def inject_sized(state, trigger_id, pct):
    threshold = state["runbook"].trigger(trigger_id).criterion.threshold
    state["drill"].inject(trigger_id, scale=pct / 100 / threshold)


@when(parsers.parse("the configuration mistake for trigger {trigger_id} is made in the Helm release"))
def config_mistake(state, trigger_id):
    drill: Drill = state["drill"]
    drill.cfg.fault_style = "config"
    drill.inject(trigger_id)


@then("the release's values are what they were before the drill once the drill cluster is reset")
def values_restored(state):
    from rollback_drill.sut.deploy import deploy
    drill: Drill = state["drill"]
    assert drill.env.kube.helm_release_values(drill.app.release) != yaml.safe_load(
        (drill.env.workdir / "helm-values.secret.yaml").read_text()), "the mistake was never in the release"
    drill.close()
    env = deploy(state["cluster"], reset=True, log=lambda m: None)
    assert env.kube.helm_release_values(env.app.release) == yaml.safe_load((env.workdir / "helm-values.secret.yaml").read_text())


@then(parsers.parse('the injected fault is "{name}"'))
def injected_fault(state, name):
    assert state["drill"].fault.name == name, state["drill"].fault


@when(parsers.parse('"{who}" declares trigger {trigger_id}'))
def declare_trigger(state, who, trigger_id):
    state["who"] = who
    state["drill"].declare(trigger_id, who)


@when("the migration's damage to the data is found")
def data_damaged(state):
    state["drill"].corrupt_data()
