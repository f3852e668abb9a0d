"""Step definitions: thin sentences over the drill engine (rollback_drill.drill.Drill).

State lives in fixtures: the cluster and the journal per session, the drill per scenario.
"""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401,I001 - locust patches gevent before anything else

import html
import json
import re
from pathlib import Path

import yaml

import pytest
from pytest_bdd import given, parsers, then, when

from rollback_drill import PROJECT_ROOT
from rollback_drill.sut.deploy import PRE_MIGRATION_VERSION
from rollback_drill.drill.engine import Drill, DrillConfig
from rollback_drill.drill.mutate import neutered
from rollback_drill.evidence.journal import Journal, new_run_id, reports_dir
from rollback_drill.evidence.report import finish_run
from rollback_drill.runbook.model import load_runbook, parse_runbook_text
from rollback_drill.sut.profile import load_profile



# ---- fixtures ----------------------------------------------------------------------------------
# `cluster` (session) is the root conftest's (../conftest.py), shared with tests/cluster/.


@pytest.fixture(scope="session")
def journal(cluster):
    holder: dict = {}
    yield holder
    if "journal" in holder:
        finish_run(holder["journal"])


@pytest.fixture
def state(request, cluster, journal):
    """Per-scenario state: the runbook in use and the drill once started."""
    st: dict = {"cluster": cluster}
    yield st
    drill: Drill | None = st.get("drill")
    if drill is None:
        return
    drill.close()
    if not st.get("recorded"):
        _record(st, journal, request.node.name)


def _add(st: dict, journal_holder: dict, res: dict) -> None:
    drill: Drill = st["drill"]
    if "journal" not in journal_holder:
        from rollback_drill.drill.runner import environment_info
        journal_holder["journal"] = Journal(reports_dir() / f"pytest-{new_run_id()}",
                                            environment_info(st["cluster"], st["runbook"], drill), drill.redactor)
    j = journal_holder["journal"]
    j.redactor.add(drill.redactor.values)  # every drill's secrets: the session journal holds them all
    j.add_scenario(res)


def _record(st: dict, journal_holder: dict, name: str) -> dict:
    drill: Drill = st["drill"]
    drill.stop_traffic()
    drill.end_emulation()
    res = drill.result(name)
    _add(st, journal_holder, res)
    st["recorded"] = True
    st["result"] = res
    return res


def _result(st: dict) -> dict:
    drill: Drill = st["drill"]
    if drill.level_no is not None and "recovered" not in drill.tl.marks and "recovery_waited" not in st:
        drill.wait_recovery()
        st["recovery_waited"] = True
    return drill.result("")


# ---- Given ---------------------------------------------------------------------------------------
@given("the drill cluster is up")
def cluster_up(state):
    assert state["cluster"].status().ready, "the drill cluster is not ready: run 'rollback-drill cluster up'"


@given(parsers.parse('the runbook "{path}"'))
def the_runbook(state, path):
    state["runbook"] = load_runbook(PROJECT_ROOT / path)  # with its sidecar, as `run` reads it


@given(parsers.parse('the runbook "{path}" with the Level 1 target changed to "{target}"'))
def runbook_changed_target(state, path, target):
    p = PROJECT_ROOT / path
    text = p.read_text(encoding="utf-8").replace("**所要時間**: 1-2分", f"**所要時間**: {target}", 1)
    state["runbook"] = parse_runbook_text(text, f"{p} (Level 1 target {target})")


@given(parsers.parse('the runbook "{path}" with "{old}" changed to "{new}"'))
def runbook_changed_text(state, path, old, new):
    p = PROJECT_ROOT / path
    text = p.read_text(encoding="utf-8")
    assert old in text, f"'{old}' is not in {p}"
    state["runbook"] = parse_runbook_text(text.replace(old, new), f"{p} ('{old}' -> '{new}')")


@given(parsers.parse("the automatic decider thinks for {n:d} seconds before deciding"))
def decider_thinks(state, n):
    state["decision_delay_s"] = float(n)


@given(parsers.parse('the fidelity profile "{name}"'))
def fidelity_profile(state, name):
    state["profile"] = load_profile(name)


@given(parsers.parse("the production database is {n:g} GB"))
def production_db_size(state, n):
    state["db_size_gb"] = float(n)


@given("the just-migrated Mastodon is serving under load")
def migrated_under_load(state):
    cfg = DrillConfig(decision_delay_s=state.get("decision_delay_s", 0.0), db_size_gb=state.get("db_size_gb"))
    if "profile" in state:
        cfg.profile = state["profile"]
    drill = Drill(state["cluster"], state["runbook"], cfg)
    state["drill"] = drill
    drill.prepare()
    drill.start_traffic()


@given(parsers.parse("Level {n:d} has already been carried out"))
def level_already_done(state, n):
    state["drill"].run_level_first(n)


@given(parsers.parse('the old Deployment "{name}" has been deleted since the migration'))
def old_deployment_deleted(state, name):
    state["drill"].env.kube.kubectl("delete", "deployment", name, "--wait=true")


@given(parsers.parse("the drill waits at most {n:d} seconds for recovery"))
def recovery_timeout(state, n):
    state["drill"].cfg.recovery_timeout_s = float(n)


# ---- When ----------------------------------------------------------------------------------------
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


@when(parsers.parse("the operator runs the commands of Level {n:d}"))
def run_level(state, n):
    drill: Drill = state["drill"]
    if "decide" not in drill.tl.marks:
        drill.decide()  # the decider's think time; the decision is measured at the first command
    drill.rollback(n)


def _switches_traffic_or_scales_down_helm(drill: Drill):
    """By meaning: a command that applies an Ingress, or scales a Helm Deployment to 0."""
    def which(cmd) -> bool:
        m = re.match(r"^\s*kubectl\s+apply\s+-f\s+(\S+)", cmd.text)
        if m:
            f = drill.env.workdir / m.group(1)
            return f.exists() and any(d and d.get("kind") == "Ingress" for d in yaml.safe_load_all(f.read_text()))
        m = re.match(r"^\s*kubectl\s+scale\s+deployment\s+(\S+)\s+--replicas=0\b", cmd.text)
        return bool(m and m.group(1) in drill.app.helm_stack)
    return which


@when(parsers.parse("the operator runs Level {n:d} with its Ingress switch-back and Helm scale-downs neutered"))
def run_level_neutered(state, n):
    drill: Drill = state["drill"]
    commands, changed = neutered(drill.runbook.level(n).commands, _switches_traffic_or_scales_down_helm(drill))
    assert len(changed) >= 2, f"nothing to neuter in Level {n}: {changed}"
    state["neutered"] = changed
    drill.decide()
    drill.rollback(n, commands)


# ---- Then ----------------------------------------------------------------------------------------
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


# Which user action the criterion's meaning makes fail (latency criteria make answers slow, not failed).
FAILED_KIND = {"error_ratio": "read", "db": "read", "login": "sign_in", "jobs": "jobs", "media": "media_upload",
               "feature": "streaming"}


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


@then(parsers.parse('the runbook command "{command}" is reported as a finding'))
def command_is_finding(state, command):
    findings = state["drill"].ctx.findings
    assert any(f.command == command for f in findings), [f.command for f in findings]


@then(parsers.parse('the runbook\'s findings include "{classes}", each with its line and what was observed'))
def findings_include(state, classes):
    drill: Drill = state["drill"]
    found = {f.kind for f in drill.ctx.findings}
    wanted = {c.strip() for c in classes.split(",")}
    assert wanted <= found, f"missing classes {wanted - found}; found {sorted(found)}"
    assert all(f.line > 0 and f.observed for f in drill.ctx.findings if f.kind in wanted)


@then("the runbook's restore command is reported as a finding")
def restore_finding(state):
    findings = state["drill"].ctx.findings
    assert any(f.command.startswith("gcloud sql backups restore") and "restore-instance" in f.problem
               for f in findings), [f.to_dict() for f in findings]


@then("each defect of the restore command is its own finding and every rewrite is listed")
def restore_defects_and_rewrites(state):
    drill: Drill = state["drill"]
    restore = [f for f in drill.ctx.findings if f.command.startswith("gcloud sql backups restore")]
    problems = " | ".join(f.problem for f in restore)
    for defect in ("rejected as written", "--restore-instance", "placeholder left in the command: YOUR_PROJECT_ID",
                   "the example value 1234567890123"):
        assert defect in problems, f"'{defect}' not among the restore's findings: {problems}"
    ran = [c for c in drill.tl.commands if c.text.startswith("gcloud sql backups restore") and c.exit_code == 0]
    assert ran and ran[-1].text == next(c.text for c in drill.runbook.level(3).commands if "restore" in c.text)
    rewrites = " | ".join(ran[-1].rewrites)
    assert "backup ID 1234567890123 ->" in rewrites and "--restore-instance" in rewrites and "YOUR_PROJECT_ID" in rewrites


@then("the schema is back at the pre-migration version")
def schema_back(state):
    cmds = [c for c in state["drill"].tl.commands if c.text.endswith("bundle exec rails db:version") and c.exit_code == 0]
    assert cmds and f"Current version: {PRE_MIGRATION_VERSION}" in cmds[-1].output, \
        [(c.exit_code, c.output[-200:]) for c in state["drill"].tl.commands if "db:version" in c.text]


@then("the writes made after the backup are reported as lost")
def writes_lost(state):
    data = state["drill"].data
    assert data.get("statuses_lost", 0) > 0, data


@then("the drill's evidence is written")
def evidence_written(state, journal, request):
    res = _record(state, journal, request.node.name)
    for f in res["findings"]:  # CI shows them: JUnit properties of the scenario
        request.node.user_properties.append(("runbook finding", f"line {f['line']}: {f['command']}: {f['problem']}"))
    assert res["verdict"] == "passed", f"verdict {res['verdict']}"
    path: Path = journal["journal"].path
    text = path.read_text(encoding="utf-8")
    assert request.node.name in text
    for secret in state["drill"].env.secret_values():
        assert secret not in text, "a secret value reached the journal"


# ---- fidelity (features/fidelity.feature) ----------------------------------------------------


def _phase(res: dict, name: str) -> dict:
    found = [p for p in (res["phases"] or {}).get("phases", []) if p["phase"] == name]
    assert found, f"no phase {name!r} in {res['phases']}"
    return found[0]


@then("the recovery includes the profile's boot of mastodon-web and its Ingress propagation")
def recovery_includes_boot_and_propagation(state):
    drill = state["drill"]
    res = _result(state)
    prof = drill.cfg.profile
    assert res["durations"]["recovery_s"] is not None, res["recovery"]
    boot = _phase(res, "boot mastodon-web")
    pull = prof["image_pull"] if prof.image_absent_on_node else 0.0
    assert boot["s"] >= prof["web_boot"] + pull - 1.0, boot  # 1 s: API timestamps and watch latency
    prop = _phase(res, "propagation")
    assert prop["s"] >= prof["ingress_propagation"] - 1.0, prop
    assert res["durations"]["recovery_s"] >= max(boot["to_s"], prop["to_s"]) - 1.0
    seen = [e for e in drill.tl.emulation if e["what"] == "Ingress change seen"]
    assert seen, drill.tl.emulation


@then("the recovery includes the profile's modelled restore")
def recovery_includes_restore(state):
    drill = state["drill"]
    res = _result(state)
    restore = _phase(res, "restore")
    modelled = drill.cfg.profile.restore_s(drill.cfg.db_size_gb)
    assert restore["s"] >= modelled - 1.0, (restore, modelled)
    assert res["restore_projection"] and "30 GB" in res["restore_projection"]["statement"]


@then("the runbook's `gcloud sql operations list` showed the restore RUNNING")
def operations_list_running(state):
    drill = state["drill"]
    lists = [c for c in drill.tl.commands if c.level == 3 and c.text.startswith("gcloud sql operations list")]
    assert lists and "RUNNING" in lists[-1].output, [c.output for c in lists]
    restore = [c for c in drill.tl.commands if c.level == 3 and c.text.startswith("gcloud sql backups restore")]
    assert restore and "taking longer than expected" in restore[-1].output, [c.output for c in restore]


@then("the journal and the report show the profile with every parameter's source")
def profile_in_evidence(state, journal, request):
    res = _record(state, journal, request.node.name)
    prof = res["profile"]
    assert prof["name"] == "gke" and all(p["source"] for p in prof["parameters"].values())
    assert res["emulation"]["changes"] and res["emulation"]["reverted"]
    log = res["harness_changes"]  # the emulation's changes are in the drill's one change log, each put back
    assert set(res["emulation"]["changes"]) <= set(log["changes"]) and not log["not_reverted"], log
    from rollback_drill.evidence.report import report_html
    page = report_html({"run_id": "t", "started_at": "", "complete": True, "environment": {},
                        "scenarios": [res]}, [], {})
    assert "Fidelity: profile gke" in page and "Where the time went" in page
    for p in prof["parameters"].values():
        assert html.escape(p["source"]) in page


@then(parsers.parse("the verdict against the target of Level {n:d} is stated, whatever it is"))
def verdict_stated(state, n):
    res = state.get("result") or _result(state)
    assert res["verdict"] in ("passed", "target_missed"), res["verdict"]
    assert (res["durations"]["within_target"] is True) == (res["verdict"] == "passed")
