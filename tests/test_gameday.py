"""Game day without a cluster: scripted operators against the project runbook's Level 1, the step
mapping by meaning, per-person figures against the deadline, outage attribution and the debrief."""

import re
from pathlib import Path

import pytest

from rollback_drill import DEFAULT_RUNBOOK, FIXTURES
from rollback_drill.drill.gameday import (OperatorRecord, OperatorScript, ScriptError, Stacks, attribution, evaluate,
                                          map_steps, meaning, person_figures)
from rollback_drill.evidence.debrief import _t_max, _x, compare, debrief_html
from rollback_drill.evidence.redaction import REDACTED, Redactor
from rollback_drill.runbook.model import load_runbook

RB = load_runbook(DEFAULT_RUNBOOK)
L1 = RB.level(1)
SCRIPTS = Path(__file__).resolve().parent.parent / "fixtures" / "gameday"
ELSEWHERE = [(f"手順{st.number}", c) for st in RB.steps for c in st.commands]
INJECT, ALERT = 30.0, 40.0
ALLOWANCE = 60.0  # the team's acknowledgement target, held against 即座


def _duration(command: str) -> float:
    """What the commands take on the drill cluster, roughly: a wait for pods 20 s, the rest 1 s."""
    return 20.0 if "kubectl wait" in command else 1.0


def _records(name: str) -> list[OperatorRecord]:
    return OperatorScript.read(SCRIPTS / f"{name}.script").planned(ALERT, _duration)


def _line(text: str) -> int:
    return next(c.line for c in L1.commands if c.text == text)


def _series(until: float, share_at) -> list[dict]:
    """Users' requests, 10 per 0.5 s bucket, the failed share given by `share_at(t)`."""
    out, t = [], 0.0
    while t < until:
        f = round(10 * share_at(t))
        out.append({"t": t, "requests": 10, "failures": f, "errors_5xx": f, "p50_ms": 20, "p95_ms": 40})
        t += 0.5
    return out


# ---- the scripted operator -----------------------------------------------------------------------
def test_the_example_scripts_parse_and_plan_a_persons_pace():
    for f in sorted(SCRIPTS.glob("*.script")):
        assert OperatorScript.read(f).commands
    recs = _records("level1-follows-runbook")
    assert recs[0].kind == "ack" and recs[0].start == ALERT + 15
    first = recs[1]
    assert first.text == "kubectl get pods" and first.start == ALERT + 15 + 10  # think time after the last prompt
    watch = next(r for r in recs if r.text.startswith("watch"))
    assert watch.exit_code == 130 and watch.end == watch.start + 30  # ended by the script's Ctrl-C


@pytest.mark.parametrize("bad, expected", [
    ("kubectl get pods", "expected '+SECONDS COMMAND'"),
    ("+-5 kubectl get pods", "0 seconds or more"),
    ("+abc kubectl get pods", "think time in seconds"),
    ("+nan kubectl get pods", "0 seconds or more"),
    ("+5", "expected a command"),
    ("+5    ", "expected a command"),
    ("+5 echo 'unterminated", "unbalanced quotes"),
    ("+5 kubectl apply -f x \\", "one action per line"),
    ("+5 watch kubectl get pods", "follow it with '+SECONDS ctrl-c'"),
    ("+5 ack", "a second 'ack'"),
])
def test_a_bad_script_line_is_refused_with_one_message_naming_it(bad, expected):
    text = f"# a game day\n\n+10 ack\n+5 kubectl get pods\n{bad}\n+5 kubectl get ingress\n"
    with pytest.raises(ScriptError) as e:
        OperatorScript.parse(text, "drill.script")
    msg = str(e.value)
    assert msg.startswith("drill.script:5: ") and expected in msg and "\n" not in msg
    assert e.value.line == 5


def test_ctrl_c_needs_a_command_to_end_and_a_script_needs_a_command():
    with pytest.raises(ScriptError, match=r"s:1: 'ctrl-c' ends the command"):
        OperatorScript.parse("+3 ctrl-c\n+1 kubectl get pods\n", "s")
    with pytest.raises(ScriptError, match="at least one"):
        OperatorScript.parse("# nothing\n+5 ack\n", "s")


# ---- commands by meaning -------------------------------------------------------------------------------
@pytest.mark.parametrize("typed", [
    "kubectl scale deploy/mastodon-web --replicas 1",
    "kubectl  scale   deployment mastodon-web --replicas=1 -n mastodon",
    "kubectl --namespace=mastodon scale deployments mastodon-web --replicas=1",
    "kubectl scale --replicas=1 deploy mastodon-web",
])
def test_the_same_command_typed_differently_is_done_as_written(typed):
    m = map_steps(L1.commands, [typed])
    step = m.steps[0]
    assert (step.status, step.as_written, step.typed) == ("done", True, typed)


def test_flags_paths_and_waits_compare_by_meaning():
    assert meaning("kubectl -n mastodon apply -f ./backup/ingress-mastodon.yaml").key == \
        meaning("kubectl apply -f backup/ingress-mastodon.yaml").key
    assert meaning("kubectl wait pod --timeout 60s -l app=mastodon-web --for condition=ready").key == \
        meaning("kubectl wait --for=condition=ready pod -l app=mastodon-web --timeout=60s").key
    assert meaning("kubectl get po -n other").key != meaning("kubectl get pods").key  # another namespace


def test_other_arguments_are_changed_and_one_command_for_three_steps_is_said():
    m = map_steps(L1.commands, ["kubectl scale deployment mastodon-web --replicas=2",
                                "kubectl scale deploy mastodon-streaming mastodon-worker --replicas=1"])
    assert [s.status for s in m.steps[:3]] == ["changed", "changed", "changed"]
    assert "several steps" in m.steps[1].note
    assert m.typed[1].steps == [1, 2]


def test_one_form_of_an_alternative_pair_is_enough():
    l2 = RB.level(2)
    m = map_steps(l2.commands, ["helm uninstall mastodon-helm", "kubectl apply -k k8s/overlays/production/"])
    by_line = {s.line: s for s in m.steps}
    first, second = (c.line for c in l2.commands[:2])
    assert by_line[second].status == "done" and by_line[first].status == "not_needed"
    assert m.typed[0].effect == "neutral" and "as the level does" in m.typed[0].why  # Level 2 removes it by design


# ---- the must-show scenarios -----------------------------------------------------------------------------
def test_an_operator_following_the_runbook_does_every_step_with_fidelity_1():
    recs = _records("level1-follows-runbook")
    m = map_steps(L1.commands, recs, elsewhere=ELSEWHERE)
    assert [s.status for s in m.steps] == ["done"] * len(L1.commands)
    assert m.fidelity == 1.0
    assert not [t for t in m.typed if t.effect == "hurt"]
    extras = {t.text: t.runbook for t in m.typed if t.role == "extra"}
    assert extras["kubectl get pods"].startswith("手順1 line")  # a status check the runbook asks for elsewhere
    switch = next(r for r in recs if "ingress-mastodon" in r.text)
    f = person_figures({"inject": INJECT, "alert": ALERT, "recovered": switch.end + 12}, recs, 0.0, ALLOWANCE,
                       L1.target_max_s, m)
    assert f.detect_s == 10.0 and f.ack_s == 15.0 and f.first_action_s == 25.0
    assert f.decision_command == "kubectl scale deployment mastodon-web --replicas=1"
    assert f.decision_s == 15 + 10 + 1 + 8 + 1 + 12 and not f.decision_late
    assert "acknowledgement target of 60 s" in f.deadline_basis
    assert [s["line"] for s in f.steps] == [c.line for c in L1.commands]
    assert f.within_target is True


def test_skipping_the_ingress_switch_back_names_the_skipped_step():
    m = map_steps(L1.commands, _records("level1-skips-ingress"))
    by_line = {s.line: s.status for s in m.steps}
    assert by_line[_line("kubectl apply -f backup/ingress-mastodon.yaml")] == "skipped"
    assert m.fidelity == 0.8  # 4 of the 5 non-optional steps


def test_scaling_the_helm_stack_down_before_the_switch_hurts_and_the_outage_is_attributed_to_it():
    recs = _records("level1-scales-helm-down-first")
    m = map_steps(L1.commands, recs)
    down = next(t for t in m.typed if "mastodon-helm-web" in t.text)
    assert down.effect == "hurt" and "removed the serving stack before traffic moved" in down.why
    step = next(s for s in m.steps if s.line == _line("kubectl scale deployment mastodon-helm-web --replicas=0"))
    assert step.status == "out_of_order" and "before line 45" in step.note
    assert next(s for s in m.steps if "ingress" in s.text).status == "done"  # the switch itself is in order
    switch = next(r for r in recs if "ingress-mastodon" in r.text)

    def share(t: float) -> float:  # the fault fails 60 %; nothing answers once the Helm web is gone
        if t < INJECT:
            return 0.0
        if t < down.start + 1.5:
            return 0.6
        return 1.0 if t < switch.end + 2 else 0.0
    attrs = attribution(_series(switch.end + 20, share), recs, m)
    assert len(attrs) == 2
    assert attrs[0].command == "" and "no operator command preceded it" in attrs[0].statement  # the fault itself
    assert attrs[1].command == "kubectl scale deploy mastodon-helm-web --replicas 0"
    assert "the outage is attributed to `kubectl scale deploy mastodon-helm-web --replicas 0`" in attrs[1].statement
    assert attrs[1].share_before == 0.6 and attrs[1].share == 1.0


def test_a_read_only_command_just_before_an_outage_is_never_blamed():
    recs = [OperatorRecord("kubectl get pods", 50.0, 51.0)]
    attrs = attribution(_series(70, lambda t: 1.0 if t >= 52 else 0.0), recs, map_steps(L1.commands, recs))
    assert [a.command for a in attrs] == [""]


def test_a_decision_after_the_deadline_is_late():
    recs = _records("level1-decides-late")
    m = map_steps(L1.commands, recs)
    f = person_figures({"inject": INJECT, "alert": ALERT}, recs, 0.0, ALLOWANCE, L1.target_max_s, m)
    assert f.decision_s > ALLOWANCE and f.decision_late and f.recovery_s is None
    high = person_figures({"inject": INJECT, "alert": ALERT}, recs, 900.0, ALLOWANCE, L1.target_max_s, m)
    assert not high.decision_late and high.allowed_s == 900.0
    assert "the runbook's decision deadline" in high.deadline_basis
    nothing = person_figures({"alert": ALERT}, recs[:3], 900.0, ALLOWANCE, L1.target_max_s,
                             map_steps(L1.commands, recs[:3]))
    assert nothing.decision_s is None and nothing.decision_late  # no rollback command at all


# ---- the debrief ---------------------------------------------------------------------------------------------
SECRET = "s3cr3t-Gameday-Value-42"


def _scenario(name: str) -> tuple[dict, list[OperatorRecord]]:
    recs = _records(name)
    switch = next((r for r in recs if "ingress-mastodon" in r.text), None)
    recovered = None if switch is None else switch.end + 12
    helm_down = next((r.start for r in recs if re.search(r"mastodon-helm-web --replicas[ =]0", r.text)), 1e9)

    def share(t: float) -> float:  # the fault fails 60 %; nothing answers while neither stack serves
        if helm_down + 1.5 <= t < (switch.end + 2 if switch else 1e9) and helm_down < (switch.start if switch else 1e9):
            return 1.0
        return 0.6 if INJECT <= t < (recovered or 1e9) - 5 else 0.0
    recs[1] = OperatorRecord(recs[1].text, recs[1].start, recs[1].end, 0,
                             f"NAME READY\nmastodon-web-1 1/1\nDB_PASSWORD=hunter2hunter2\ntoken {SECRET}\n")
    marks = {"inject": INJECT, "alert": ALERT, **({"recovered": recovered} if recovered else {})}
    series = _series((recovered or 200) + 10, share)
    g = evaluate(L1, 0.0, recs, marks, series, ALLOWANCE, operator="alice", elsewhere=ELSEWHERE)
    return {"name": f"game day: Level 1 under C1 ({name})", "verdict": "passed" if recovered else "not_recovered",
            "trigger": {"id": "C1", "severity": "Critical"}, "level": g["level"],
            "timeline": {"marks": marks, "load_series": series, "probe_samples": [],
                         "k8s_events": [{"t": ALERT + 50, "object": "pod/mastodon-web-1", "reason": "PodReady",
                                         "message": "ready"}], "commands": []},
            "gameday": g}, recs


def _automatic() -> dict:
    cmds, t = [], 41.0
    for c in L1.commands:
        d = 15.0 if "wait" in c.text else 0.3
        cmds.append({"level": 1, "line": c.line, "text": c.text, "start": t, "end": t + d, "exit_code": 0})
        t += d
    return {"name": "Level 1 under C1", "verdict": "passed", "durations": {"decision_s": 1.0, "recovery_s": 30.0},
            "timeline": {"marks": {"inject": 30.0, "detect": 40.0, "decide": 41.0, "recovered": 71.0},
                         "commands": cmds}}


def test_the_debrief_renders_mapping_figures_chart_and_comparison_without_the_secrets():
    s, recs = _scenario("level1-scales-helm-down-first")
    page = debrief_html(s, _automatic(), Redactor([SECRET]))
    assert SECRET not in page and "hunter2hunter2" not in page and REDACTED in page
    assert page.count('class="op-cmd') == sum(r.kind == "command" for r in recs)  # the operator on the chart
    assert "removed the serving stack before traffic moved" in page
    assert "out of order" in page and "decision deadline (60 s)" in page
    assert "Against the automatic drill" in page
    assert "the outage is attributed to `kubectl scale deploy mastodon-helm-web --replicas 0`" in page
    assert page.count('class="attribution"') == 2  # the fault's rise and the operator's
    rows = compare(s, _automatic())
    assert rows[0]["faster"] == "automatic drill" and rows[-1]["what"].startswith("recovery")
    wait = next(r for r in rows if "kubectl wait" in r["what"])
    assert wait["faster"] == "automatic drill" and wait["by_s"] == pytest.approx(32.1)
    assert wait["why"] == ("mostly the time before the step 8.0 s (person) vs 0.0 s (automatic); "
                           "the command itself 20.0 s vs 15.0 s")
    skipped = next(r for r in rows if "helm-streaming" in r["what"])
    assert (skipped["faster"], skipped["why"]) == ("—", "the person skipped it")


def test_the_debrief_names_a_skipped_step():
    s, _ = _scenario("level1-skips-ingress")
    page = debrief_html(s)
    row = re.search(r"<tr class='step-skipped'><td>45</td>.*?</tr>", page)
    assert row and "kubectl apply -f backup/ingress-mastodon.yaml" in row.group(0)
    assert "not recovered" in page


def test_the_operator_row_shares_the_time_axis_of_the_users_chart():
    s, recs = _scenario("level1-follows-runbook")
    page = debrief_html(s)
    t_max = _t_max(s["timeline"], s["gameday"]["records"]) + 0.5
    inject_x = float(re.search(r'<line x1="([\d.]+)"[^>]*/><text[^>]*>inject ', page).group(1))
    assert inject_x == pytest.approx(_x(INJECT, t_max), abs=0.06)
    alert_x = float(re.search(r'<line class="person-mark" x1="([\d.]+)"', page).group(1))
    assert alert_x == pytest.approx(_x(ALERT, t_max), abs=0.06)


def test_records_survive_the_journal_round_trip():
    recs = OperatorScript.parse("+1 watch kubectl get pods\n+3 ctrl-c\n").planned(0.0)
    assert [OperatorRecord.from_dict(r.to_dict()) for r in recs] == recs
    endless = OperatorRecord("watch kubectl get pods", 1.0, float("inf"), None)
    assert OperatorRecord.from_dict(endless.to_dict()) == endless


def test_stacks_come_from_what_the_level_scales_up_and_down():
    st = Stacks.of(L1.commands)
    assert {"mastodon-web", "mastodon-streaming", "mastodon-worker"} <= st.old
    assert {"mastodon-helm-web", "mastodon-helm-sidekiq-all-queues"} <= st.helm and "mastodon-helm" in st.releases


def test_against_picks_the_automatic_drill_of_the_same_level_and_trigger():
    from rollback_drill.evidence.debrief import automatic_scenario
    auto = {**_automatic(), "level": {"number": 1}, "trigger": {"id": "C1"}, "plan": {"commands": None}}
    journal = {"scenarios": [
        {**auto, "name": "a mutant", "plan": {"commands": ["kubectl get pods"]}},  # edited commands: not fair
        {**auto, "name": "the game day itself", "gameday": {"operator": "x"}},
        {**auto, "name": "Level 1 under M1", "trigger": {"id": "M1"}},
        {**auto, "name": "stopped", "verdict": "interrupted"},
        auto]}
    assert automatic_scenario(journal, 1, "c1") is auto
    assert automatic_scenario(journal, 2, "C1") is None and automatic_scenario({"scenarios": []}, 1, "C1") is None


def test_against_a_journal_without_that_drill_is_refused_before_anything_runs(tmp_path):
    from click.testing import CliRunner
    from rollback_drill.cli import main
    from rollback_drill.evidence.journal import Journal
    from rollback_drill.evidence.redaction import Redactor
    j = Journal(tmp_path / "run", {}, Redactor([]))
    j.add_scenario({"name": "Level 2 under C2", "level": {"number": 2}, "trigger": {"id": "C2"}, "verdict": "passed"})
    r = CliRunner().invoke(main, ["gameday", "--level", "1", "--trigger", "C1", "--against", str(tmp_path / "run"),
                                  "--operator-script", str(FIXTURES / "gameday" / "quick" / "level1-follows-runbook.script")])
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1] == (
        f"rollback-drill: --against {tmp_path / 'run'}: no finished automatic drill of Level 1 under C1 in it "
        "(it holds: Level 2 under C2 (passed)); run 'rollback-drill run --level 1 --trigger C1' and pass its journal")
    r = CliRunner().invoke(main, ["gameday", "--level", "1", "--against", str(tmp_path / "nothing.json")])
    assert r.exit_code == 2 and "cannot read journal" in r.output


def test_after_the_operator_leaves_the_recovery_watch_keeps_a_grace_not_the_whole_limit():
    from rollback_drill.drill.gameday_session import operator_left
    t, gone = [0.0], [False]
    stop = operator_left(lambda: gone[0], lambda: t[0], 20.0)
    assert not stop()
    t[0], gone[0] = 5.0, True  # `exit` typed at 5 s: a recovery under way still gets its window
    assert not stop()
    t[0] = 24.9
    assert not stop()
    t[0] = 25.0
    assert stop()


def test_a_restore_typed_with_the_backup_id_in_a_shell_variable_is_the_step_changed_not_skipped():
    l3 = RB.level(3)
    restore = next(c for c in l3.commands if "backups restore" in c.text)
    m = map_steps(l3.commands, ['BACKUP_ID=$(gcloud sql backups list --instance=mastodon-db --format=json | python3 -c '
                                '\'import json, sys; print(json.load(sys.stdin)[0]["id"])\')',
                                'gcloud sql backups restore "$BACKUP_ID" --restore-instance=mastodon-db '
                                '--backup-instance=mastodon-db'])
    step = next(s for s in m.steps if s.line == restore.line)
    assert step.status == "changed", (step, [s.status for s in m.steps])
    # and gcloud's command path is the verb: another command group is not that step
    assert meaning("gcloud sql backups list --instance=mastodon-db").key != meaning(restore.text).key
    assert meaning("gcloud sql backups restore 1 --backup-instance=a").units[0].verb == "sql backups restore"
    assert meaning("gcloud beta sql operations wait OP --timeout=900").units[0].verb == "beta sql operations wait"
