"""Then steps on the drill's verdict: detection, decision, recovery, what users saw, the checklist."""

from __future__ import annotations

import json

from pytest_bdd import parsers, then

from rollback_drill.drill.engine import Drill

from drill_state import _add, _result

# Which user action the criterion's meaning makes fail (latency criteria make answers slow, not failed).
FAILED_KIND = {"error_ratio": "read", "db": "read", "login": "sign_in", "jobs": "jobs", "media": "media_upload",
               "feature": "streaming"}


@then("the trigger is detected with the runbook's threshold")
def detected(state):
    drill: Drill = state["drill"]
    det = drill.detection if drill.detection and drill.detection.fired else drill.wait_detection()
    assert det.fired, f"trigger {drill.trigger.id} not detected within {drill.cfg.detection_timeout_s}s: {det.reason}"
    if det.threshold is not None and drill.trigger.criterion.threshold is not None:
        assert det.threshold == drill.trigger.criterion.threshold  # the runbook's number, not ours


@then(parsers.parse("the trigger is not detected within {n:d} seconds"))
def not_detected(state, n):
    det = state["drill"].wait_detection(timeout=n)
    assert not det.fired, f"detected although it should not be: {det.reason}"


@then("the rollback started within the trigger's decision deadline")
def decided_in_time(state):
    drill: Drill = state["drill"]
    took = drill.tl.marks["decide"] - drill.tl.marks["detect"]
    assert took <= drill.trigger.decision_deadline_s + drill.cfg.decision_slack_s, (
        f"decision took {took:.1f}s, the runbook allows {drill.trigger.decision_deadline_s:.0f}s")


@then("the decision is recorded with who decided and when")
def decision_recorded(state):
    """Read back from the evidence, not from the drill's attributes: the scenario as the journal would
    hold it names who decided, the declaration is the detection (its reason names the person, no
    measured delay) and its instant is on the drill's clock, after the steady state and with the
    rollback not yet started."""
    drill: Drill = state["drill"]
    res = drill.result("the decision as recorded")
    assert res["decided_by"] == state["who"], res["decided_by"]
    det = res["detection"]
    assert det["fired"] and state["who"] in det["reason"], det
    assert res["durations"]["detection_latency_s"] == 0.0, res["durations"]
    marks = res["timeline"]["marks"]
    assert marks["steady"] < round(det["t"], 3) == marks["detect"] and "decide" not in marks, marks


@then(parsers.parse("the service recovers within the target of Level {n:d}"))
def recovers_within_target(state, n):
    drill: Drill = state["drill"]
    rec = drill.wait_recovery()
    level = drill.runbook.level(n)
    why = [f"({c.key}) {c.detail[:200]}" for c in drill.recovery.failing()] if drill.recovery else []
    assert rec is not None, f"not recovered within {level.target_max_s:.0f}s: {why} (probes: {_failing(drill)})"
    took = rec - drill.tl.marks["decide"]
    assert took <= level.target_max_s, f"recovery took {took:.1f}s, target {level.target_min_s:.0f}-{level.target_max_s:.0f}s"


@then(parsers.parse("the drill does not pass within {n:d} seconds and says which recovery condition failed"))
def does_not_pass(state, journal, request, n):
    drill: Drill = state["drill"]
    drill.wait_recovery(limit_s=float(n))
    res = drill.result(f"{request.node.name} — neutered attempt: {'; '.join(state['neutered'])}")
    failing = [f"({c.key}) {c.detail[:160]}" for c in drill.recovery.failing()] if drill.recovery else []
    _add(state, journal, res)
    assert res["verdict"] != "passed", f"a Level with {state['neutered']} passed: {res['recovery']}"
    assert failing, f"verdict {res['verdict']} but no recovery condition is named as failing"


@then("the outage report counts what users saw per kind of action")
def outage_per_kind(state):
    drill: Drill = state["drill"]
    actions = drill.result("")["outage"]["actions"]
    missing = {"read", "sign_in", "post", "media_upload", "jobs", "streaming"} - set(actions)
    assert not missing, f"kinds of user action not counted: {missing}: {actions}"
    kind = FAILED_KIND.get(drill.trigger.criterion.kind)
    if kind is not None:
        assert actions[kind]["failed"] > 0, f"{drill.trigger.id} made no '{kind}' action fail: {actions}"


def _failing(drill: Drill) -> list[str]:
    return [f"{n}: {ss[-1].detail}" for n in drill.probes.names
            if (ss := drill.tl.probe_samples(n)) and not ss[-1].ok]


@then("the Ingress serves the old Kustomize stack")
def old_stack_serves(state):
    """The Ingress routes where it routed before the migration (the snapshot deploy took then), and users
    are answered by the old stack's pods — names from the Application and the snapshot, none written here."""
    drill: Drill = state["drill"]
    app, before = drill.app, drill.env.premigration()
    ing = drill.env.kube.get_json("ingress", app.ingress)
    backends = sorted({p["backend"]["service"]["name"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]})
    assert backends == sorted(before["ingress"][app.ingress])
    served_by = drill.tl.probe_samples("health")[-1].detail
    assert any(served_by.startswith(f"{d}-") for d in app.old_stack), served_by
    assert not any(served_by.startswith(f"{d}-") for d in app.helm_stack), served_by


@then("the Helm release is gone and the old stack serves")
def helm_gone(state):
    drill: Drill = state["drill"]
    assert drill.env.kube.helm("status", drill.app.release, check=False).returncode != 0
    old_stack_serves(state)


@then("the GKE objects of the old stack are restored")
def gke_objects(state):
    """Every object and Service annotation the pre-migration snapshot recorded is back as it was."""
    drill: Drill = state["drill"]
    kube, before = drill.env.kube, drill.env.premigration()
    for kind, name in before["objects"]:
        kube.kubectl("get", kind, name)
    for svc, ann in before["annotations"].items():
        want = ann.get("beta.cloud.google.com/backend-config")
        if want is None:
            continue
        got = kube.get_json("service", svc)["metadata"].get("annotations", {}).get("beta.cloud.google.com/backend-config", "")
        assert json.loads(got) == json.loads(want), (svc, got)


@then("every item of the post-rollback checklist holds")
def checklist_holds(state):
    results = state["drill"].verify()
    failing = [c for c in results if c["ok"] is False]
    assert results and not failing, f"post-rollback checks failing: {failing}"


@then(parsers.parse('the post-rollback check "{item}" fails'))
def check_fails(state, item):
    drill: Drill = state["drill"]
    results = drill.checklist or drill.verify()
    found = [c for c in results if c["item"] == item]
    assert found and found[0]["ok"] is False, f"expected '{item}' to fail: {found}"


@then(parsers.parse('the drill\'s verdict is "{verdict}"'))
def verdict_is(state, verdict):
    res = _result(state)
    assert res["verdict"] == verdict, f"verdict {res['verdict']}, durations {res['durations']}"


@then(parsers.parse('the drill\'s verdict is not "{verdict}"'))
def verdict_is_not(state, verdict):
    drill: Drill = state["drill"]
    _result(state)
    if not drill.checklist:
        drill.verify()
    res = drill.result("")
    assert res["verdict"] != verdict, f"verdict {res['verdict']}"
