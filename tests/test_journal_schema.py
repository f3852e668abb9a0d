"""The journal's JSON Schema (evidence/journal.schema.json): journals the code writes validate, broken
ones give one line per problem with the JSON path, older versions still render, newer ones are refused."""

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from rollback_drill import DEFAULT_RUNBOOK, FIXTURES, PROJECT_ROOT
from rollback_drill.cluster import ClusterStatus
from rollback_drill.drill.engine import DrillConfig
from rollback_drill.drill.pipeline import DrillPlan
from rollback_drill.drill.mutate import Mutant, MutantOutcome, summary
from rollback_drill.drill.recovery import LABELS, Condition, Recovery
from rollback_drill.drill.result import result
from rollback_drill.drill.runner import environment_info
from rollback_drill.drill.verdict import VERDICTS
from rollback_drill.evidence import schema as S
from rollback_drill.evidence.journal import (SCHEMA, SCHEMA_VERSION, EvidenceError, Journal, JournalWarning,
                                             Redactor, load_journal)
from rollback_drill.evidence.pytest_plugin import journal_problems, journals_written_since
from rollback_drill.evidence.report import render_journal, report_html, summary_md
from rollback_drill.observe.cluster_state import RestoreTarget
from rollback_drill.observe.detectors import Detection
from rollback_drill.observe.timeline import CommandRecord, ComponentSample, ProbeSample, Timeline
from rollback_drill.runbook.analysis import SEVERITY_ORDER, Finding
from rollback_drill.runbook.model import load_runbook
from rollback_drill.sut.changes import ChangeLog
from rollback_drill.sut.faults import Fault
from rollback_drill.sut.profile import load_profile

V1 = FIXTURES / "journals" / "v1-level1-c1.json"
STACK = ("mastodon-web", "mastodon-streaming", "mastodon-sidekiq")


def _cluster():
    return NS(status=lambda: ClusterStatus("local", "/tmp/kubeconfig", "v1.31.4+k3s1", "http://127.0.0.1:8088", True))


def _drill(runbook, level_no: int = 1, trigger_id: str = "C1", profile: str = "local", db_size_gb=None) -> NS:
    """What `drill/result.py` reads of a Drill, filled as a Level N drill under a trigger leaves it."""
    tl = Timeline()
    tl.mark("steady", 3.2)
    tl.mark("inject", 5.0)
    tl.mark("detect", 7.4)
    tl.mark("decide", 7.41)
    tl.mark("commands_done", 9.0)
    tl.mark("recovered", 12.6)
    for i in range(40):
        t = i * 0.5
        bad = 5.0 <= t < 10.0
        for _ in range(8):
            tl.record_request(0.012 + 0.001 * i, 500 if bad else 200, t=t, served_by="mastodon-web-7d9f8-x2k4p")
        tl.record_action("read", not bad, t=t)
        tl.record_action("post", True, t=t)
        tl.add_sample(ProbeSample("health", t + 0.02, not bad, 0.011, "200" if not bad else "500", t_start=t,
                                  served_by="mastodon-web-7d9f8-x2k4p"))
        tl.add_component_sample(ComponentSample(t, t >= 9.0, "Available 1/1"))
    tl.commands.append(CommandRecord(level_no, "kubectl apply -f backup/ingress-mastodon.yaml", "kubectl apply -f "
                                     "backup/ingress-mastodon.yaml -n mastodon", 41, 7.41, 8.1, 0,
                                     "ingress.networking.k8s.io/mastodon configured", rewrites=["namespace added"],
                                     step=f"Level {level_no}"))
    tl.commands.append(CommandRecord(level_no, "kubectl wait --for=condition=ready pod -l app=mastodon-web",
                                     "kubectl wait --for=condition=ready pod -l app=mastodon-web", 45, 8.1, 9.0, 0,
                                     "pod/mastodon-web-7d9f8-x2k4p condition met", step=f"Level {level_no}"))
    tl.k8s_events += [
        {"t": 7.6, "object": "pod/mastodon-web-7d9f8-x2k4p", "reason": "PodCreated", "message": "created"},
        {"t": 8.9, "object": "pod/mastodon-web-7d9f8-x2k4p", "reason": "PodReady", "message": "Ready condition true"},
        {"t": 8.2, "object": "ingress/mastodon", "reason": "BackendsChanged", "message": "backends mastodon-web"}]
    tl.emulation.append({"t": 8.3, "what": "load balancer programmed", "detail": "backends mastodon-web"})
    trig = runbook.trigger(trigger_id)
    conditions = [Condition(k, LABELS[k], 9.1, True, "held over the 10 s window") for k in "abcd"]
    ctx = NS(findings=[
        Finding(45, "kubectl wait --for=condition=ready pod -l app=mastodon-web", "the wait passed by luck",
                "wait for the new ReplicaSet's pods", "wait_race", "medium", "1 pod matched", f"Level {level_no}"),
        Finding(41, "kubectl apply -f backup/ingress-mastodon.yaml", "names no namespace", "add -n mastodon",
                "broad_scope", "low", "", f"Level {level_no}")])
    data = {"statuses_before_restore": 12, "statuses_lost": 3, "media_attachments_before_restore": 4,
            "media_attachments_lost": 1} if level_no == 3 else {}
    cfg = DrillConfig(profile=load_profile(profile), db_size_gb=db_size_gb)
    return NS(tl=tl, runbook=runbook, level_no=level_no, cfg=cfg, trigger=trig,
              fault=Fault("web-5xx", {"web_error_ratio": 0.95}, "95% of answers 500"),
              detection=Detection(True, 7.4, "5xx ratio 0.95 over 3.0 s (> 0.5)", 0.95, 0.5),
              decided_by="rollback-drill (automatic, on detection)", pre_levels=[2] if level_no == 3 else [],
              target=RestoreTarget(STACK, full_state=level_no >= 2, database=level_no == 3), baseline=0.0123,
              recovery=Recovery(12.6, 22.6, conditions), data=data,
              checklist=[{"item": "全Podが Running 状態", "ok": True, "evidence": "kubectl get pods -> exit 0"},
                         {"item": "関係者への報告", "ok": None, "evidence": "not checked: no automated check"}],
              ctx=ctx, load_stats={"requests": 2400, "failures": 160, "rps": 29.8, "p50_ms": 12, "p95_ms": 40,
                                   "users": 6, "rps_per_user": 5.0, "workers": 0},
              changes=ChangeLog(), emulation=NS(changes=["Ingress class traefik delayed 2 s"],
                                                reverted=["Ingress class traefik delay removed"]),
              phase="done", env=NS(image="localhost/mastodon-stub:3f2a9c41d7e0", is_stub=True),
              plan=DrillPlan(level_no, "C1", "a mutant", runbook.level(level_no).commands[:2], 30.0, "if_recovered"))


@pytest.fixture(scope="module")
def runbook():
    return load_runbook(DEFAULT_RUNBOOK)


@pytest.fixture
def written(tmp_path, runbook) -> dict:
    """A journal written by the real Journal class: a Level 1 and a Level 3 drill, then finished."""
    d1 = _drill(runbook)
    j = Journal(tmp_path / "run", environment_info(_cluster(), runbook, d1), Redactor(["s3cr3t"]))
    j.add_scenario(result(d1, "Level 1 under C1"))
    j.add_scenario(result(_drill(runbook, 3, "C1", "gke", 50.0), "Level 3 under L3"))
    j.finish()
    return json.loads(j.path.read_text())


def test_a_journal_the_code_writes_validates(written):
    assert S.validate_journal(written, written_now=True) == []
    assert [s["verdict"] for s in written["scenarios"]] == ["passed", "passed"]
    assert written["scenarios"][0]["recovery"]["conditions"][0]["key"] == "a"
    assert written["scenarios"][1]["restore_projection"]["size_gb"] == 50.0 and written["scenarios"][1]["data"]
    assert written["scenarios"][0]["phases"]["phases"]  # the optional parts are exercised too


def test_an_interrupted_and_a_mutate_journal_validate(tmp_path, runbook):
    d = _drill(runbook)
    d.tl.marks.pop("recovered")
    d.recovery, d.phase = None, "recovery_wait"
    j = Journal(tmp_path / "run", environment_info(_cluster(), runbook, d), Redactor([]))
    base = result(_drill(runbook), "baseline: Level 1 as written")
    j.add_scenario(base)
    j.add_scenario(result(d, "recovery_wait (incomplete)", interrupted=True))
    j.data["stopped"] = {"interrupted_by": "SIGTERM", "phase": "recovery_wait"}
    j.data["harness_changes"] = {"changes": ["created namespace drill-1a2b"], "reverted": [], "not_reverted": [
        "created namespace drill-1a2b (not put back yet)"]}
    level = runbook.level(1)
    m = Mutant("delete:0", "delete", 0, level.commands[0].line, level.commands[0].text, None, False)
    out = MutantOutcome(m, "not_recovered", True, "not_recovered: (c) not held", True, seconds=31.4)
    j.data["mutations"] = summary(base, [out], level, "C1", 95.2, 22.0)
    j.write()
    data = json.loads(j.path.read_text())
    assert data["scenarios"][1]["verdict"] == "interrupted"
    assert S.validate_journal(data, written_now=True) == []


def test_broken_journals_give_one_line_per_problem_with_the_path(written):
    bad = copy.deepcopy(written)
    bad["scenarios"][0]["durations"]["recovery_s"] = "6.3"
    del bad["scenarios"][1]["verdict"]
    bad["scenarios"][0]["verdict"] = "won"
    bad["scenarios"][0]["recovery"]["conditions"][3]["key"] = "e"
    bad["scenarios"][0]["findings"][0]["severity"] = "urgent"
    bad["complete"] = "yes"
    assert S.validate_journal(bad) == [
        "$.complete: 'yes' is not of type 'boolean'",
        "$.scenarios[0].durations.recovery_s: '6.3' is not of type 'number', 'null'",
        "$.scenarios[0].findings[0].severity: 'urgent' is not one of ['high', 'medium', 'low']",
        "$.scenarios[0].recovery.conditions[3].key: 'e' is not one of ['a', 'b', 'c', 'd']",
        f"$.scenarios[0].verdict: 'won' is not one of {list(VERDICTS)}",
        "$.scenarios[1]: 'verdict' is a required property"]
    stopped = copy.deepcopy(written)
    stopped["stopped"] = {"phase": "detection"}
    assert S.validate_journal(stopped) == ["$.stopped: matches none of: 'harness_error' is a required property; "
                                           "'interrupted_by' is a required property; 'refused' is a required property"]
    assert S.validate_journal([]) == ["$: list is not a journal (a JSON object)"]


def test_additions_are_allowed_and_fields_added_within_the_version_are_required_only_of_new_journals(written):
    extra = copy.deepcopy(written)
    extra["future_field"] = {"anything": 1}
    extra["scenarios"][0]["future_field"] = [1, "two"]
    assert S.validate_journal(extra, written_now=True) == []
    early_v2 = copy.deepcopy(written)  # written before `profile` and finding classes were added to version 2
    del early_v2["scenarios"][0]["profile"]
    del early_v2["scenarios"][0]["findings"][0]["kind"]
    assert S.validate_journal(early_v2) == []
    assert S.validate_journal(early_v2, written_now=True) == [
        "$.scenarios[0]: 'profile' is a required property",
        "$.scenarios[0].findings[0]: 'kind' is a required property"]


def test_the_schema_agrees_with_the_code():
    s = S.schema()
    assert s["$id"] == f"urn:rollback-drill:journal:{SCHEMA_VERSION}" and S.CURRENT == SCHEMA_VERSION
    assert s["properties"]["schema"]["const"] == SCHEMA == S.NAME
    assert s["properties"]["schema_version"]["const"] == SCHEMA_VERSION == max(S.SCHEMA_FILES)
    d = s["$defs"]
    assert d["verdict"]["enum"] == list(VERDICTS)
    assert d["finding"]["properties"]["severity"]["enum"] == list(SEVERITY_ORDER)
    assert d["condition"]["properties"]["key"]["enum"] == list(LABELS)
    for v in S.SCHEMA_FILES:
        assert S.schema(v)["properties"]["schema_version"]["const"] == v


def test_the_field_list_in_the_doc_is_generated_from_the_schema():
    doc = (PROJECT_ROOT / "docs" / "journal-schema.md").read_text(encoding="utf-8")
    assert S.field_list() in doc, "stale: run python -m rollback_drill.evidence.schema --write-doc"
    assert "| `scenarios[].recovery.conditions[].key` | \"a\" \\| \"b\" \\| \"c\" \\| \"d\" | yes |" in doc


def test_the_schema_files_are_package_data():
    text = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert '"rollback_drill.evidence" = ["*.schema.json"]' in text
    for name in S.SCHEMA_FILES.values():
        assert (Path(S.__file__).parent / name).is_file()


# ---- versions ----------------------------------------------------------------------------------------
def test_a_version_1_journal_is_valid_version_1_and_renders(tmp_path):
    raw = json.loads(V1.read_text(encoding="utf-8"))
    assert S.validate_journal(raw) == []
    j = load_journal(V1, strict=True)
    assert j["upgraded"]["from_version"] == 1 and j["schema_version"] == 1
    missing = j["scenarios"][0]["not_in_version"]
    assert "recovery conditions (a)-(d)" in missing and "fidelity profile" in missing
    assert "the findings' class and severity" in missing
    html_path, md_path = render_journal(V1, tmp_path)
    page, md = html_path.read_text(), md_path.read_text()
    assert "<td class='recovery'>6.3s</td>" in page and "<svg" in page
    assert "not in this version (journal schema 1): recovery conditions (a)-(d)" in page
    assert "Journal schema version 1, read by a version 3 reader" in page
    assert "a probe sample&#x27;s t is when the probe was sent" in page
    assert "| Level 1 under C1 | C1 | 1 | 60-120s | — | 2.6s | 6.3s | passed | 1 |" in md
    assert "- line 45: `kubectl wait" in md  # no severity or class invented


def test_a_version_2_journal_says_the_decision_was_measured_differently_and_lacks_the_start(written):
    v2 = copy.deepcopy(written)
    v2["schema_version"] = 2
    for s in v2["scenarios"]:
        s["durations"].pop("start_s", None)
        s["recovery"].pop("settled", None)
    assert S.validate_journal(v2) == []  # valid version 2 as written then
    j = S.upgrade(v2)
    assert j["upgraded"]["from_version"] == 2 and j["upgraded"]["to_version"] == 3
    assert [m for m in j["upgraded"]["meaning_changed"] if m.startswith("the automatic decider's decision_s")]
    assert j["scenarios"][0]["not_in_version"] == ["the harness's own start before the first rollback command",
                                                   "why the wait for recovery ended early"]
    assert len(S.upgrade(json.loads(V1.read_text(encoding="utf-8")))["upgraded"]["meaning_changed"]) == 4


def test_the_current_version_renders_without_version_notes(written):
    j = S.upgrade(written)
    assert j is written and "upgraded" not in j
    page, md = report_html(j, [], {}), summary_md(j, [])
    assert "not in this version" not in page + md and "schema-version" not in page


def test_a_late_version_1_journal_lists_only_what_it_lacks():
    raw = json.loads(V1.read_text(encoding="utf-8"))
    raw["scenarios"][0]["recovery"] = {"t_recovered": 20.5, "evaluated_until": 30.5, "conditions": []}
    missing = S.upgrade(raw)["scenarios"][0]["not_in_version"]
    assert "recovery conditions (a)-(d)" not in missing and "fidelity profile" in missing
    assert "recovery" not in json.loads(V1.read_text(encoding="utf-8"))["scenarios"][0]  # the input is untouched


@pytest.mark.parametrize("version, says", [
    (4, "has journal schema version 4, newer than this rollback-drill reads (versions 1-3): use a release that "
        "reads version 4"),
    (0, "has journal schema version 0, which rollback-drill never wrote (versions 1-3)"),
    (True, "has journal schema version True, which rollback-drill never wrote"),
    ("2", "has journal schema version '2', which rollback-drill never wrote")])
def test_unknown_versions_are_refused_in_one_line(tmp_path, version, says):
    p = tmp_path / "journal.json"
    p.write_text(json.dumps({"schema": "rollback-drill/journal", "schema_version": version, "scenarios": []}))
    with pytest.raises(EvidenceError) as e:
        load_journal(p)
    assert says in str(e.value) and "\n" not in str(e.value)
    assert S.validate_journal(json.loads(p.read_text()))[0].startswith("$.schema_version: ")


def test_a_journal_that_does_not_match_its_schema_is_still_read_with_a_warning(tmp_path, written):
    bad = copy.deepcopy(written)
    bad["scenarios"][0]["verdict"] = "won"
    p = tmp_path / "journal.json"
    p.write_text(json.dumps(bad))
    with pytest.warns(JournalWarning, match=r"does not match journal schema version 3 \(1 problems\): "
                                            r"\$\.scenarios\[0\]\.verdict: 'won'"):
        assert load_journal(p)["scenarios"][0]["verdict"] == "won"
    with pytest.raises(EvidenceError, match=r"\$\.scenarios\[0\]\.verdict"):
        load_journal(p, strict=True)


# ---- the session check (evidence/pytest_plugin.py) ----------------------------------------------------
def test_the_session_check_finds_journals_written_since_it_started(tmp_path, written):
    reports = tmp_path / "reports"
    old, new, broken = (reports / n / "journal.json" for n in ("old", "new", "broken"))
    for p in (old, new, broken):
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps(written))
    bad = copy.deepcopy(written)
    bad["scenarios"][0]["verdict"] = "won"
    broken.write_text(json.dumps(bad))
    past = time.time() - 3600
    os.utime(old, (past, past))
    assert journals_written_since(reports, time.time() - 60) == [broken, new]
    assert journal_problems([broken, new]) == [
        f"{broken}: $.scenarios[0].verdict: 'won' is not one of {list(VERDICTS)}"]
    assert journals_written_since(tmp_path / "absent", 0) == []


def test_a_session_that_writes_a_broken_journal_fails(tmp_path):
    """The plugin's sessionfinish hook, in a pytest run of its own: tests pass, the journal does not."""
    reports = tmp_path / "reports"
    (tmp_path / "test_writes.py").write_text(
        "import json, os, pathlib\n"
        "def test_writes():\n"
        "    p = pathlib.Path(os.environ['ROLLBACK_DRILL_REPORTS']) / 'pytest-x' / 'journal.json'\n"
        "    p.parent.mkdir(parents=True)\n"
        "    p.write_text(json.dumps({'schema': 'rollback-drill/journal', 'schema_version': 2, 'complete': 1}))\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = dict(os.environ, ROLLBACK_DRILL_REPORTS=str(reports))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "rollback_drill.evidence.pytest_plugin",
                        "-p", "no:cacheprovider", str(tmp_path / "test_writes.py")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 passed" in r.stdout and "journals that do not match the journal schema" in r.stdout
    assert f"{reports / 'pytest-x' / 'journal.json'}: $.complete: 1 is not of type 'boolean'" in r.stdout
    assert f"{reports / 'pytest-x' / 'journal.json'}: $: 'run_id' is a required property" in r.stdout


def test_a_gke_drills_phases_the_502_window_the_neg_check_and_the_pull_validate(tmp_path, runbook):
    """The phases a profile with ingress_502_window, neg_ready and image_absent_on_node adds (the Level 3 gke
    drill's journal failed the schema with them before the pattern knew them)."""
    d = _drill(runbook)
    pod, ref = "pod/mastodon-web-7d9f8-x2k4p", "127.0.0.1:15300/rollback-drill/mastodon-stub:x"
    d.tl.k8s_events += [{"t": 7.5, "object": pod, "reason": "Pulling", "message": f'Pulling image "{ref}"'},
                        {"t": 7.55, "object": pod, "reason": "Pulled", "message": f'Successfully pulled image "{ref}" in 1s'}]
    d.tl.emulation += [
        {"t": 7.6, "what": "NEG health check started", "detail": "pod/mastodon-web-7d9f8-x2k4p: containers ready"},
        {"t": 8.0, "what": "load balancer 502s", "detail": "mastodon: changed paths"},
        {"t": 8.1, "what": "NEG health check passed", "detail": "pod/mastodon-web-7d9f8-x2k4p: Ready"},
        {"t": 8.5, "what": "load balancer programmed", "detail": "mastodon -> mastodon-web"}]
    j = Journal(tmp_path / "run", environment_info(_cluster(), runbook, d), Redactor([]))
    res = result(d, "Level 1 under C1")
    names = [p["phase"] for p in res["phases"]["phases"]]
    assert "load balancer 502s" in names and "NEG health check mastodon-web" in names, names
    assert "image pull mastodon-web" in names, names
    j.add_scenario(res)
    j.finish()
    assert S.validate_journal(json.loads(j.path.read_text()), written_now=True) == []
