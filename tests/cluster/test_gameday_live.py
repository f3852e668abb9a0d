"""A game day on the real cluster: a scripted operator typed into the recorded tmux shell while the
harness plays the failure (C1) and keeps the clock. Fast scripts (fixtures/gameday/quick/); the
person-paced ones (fixtures/gameday/) are @nightly-length."""

import json

import pytest

from rollback_drill.observe import load as _load  # noqa: F401 - locust patches gevent first
from rollback_drill import DEFAULT_RUNBOOK, FIXTURES
from rollback_drill.drill.gameday_session import run_gameday
from rollback_drill.drill.runner import EXIT_FINDING, EXIT_OK, EXIT_TARGET_MISSED

QUICK = FIXTURES / "gameday" / "quick"


def _run(tmp_path, monkeypatch, script: str, trigger: str = "C1", level: int = 1,
         **kw) -> tuple[int, dict, list[str], object]:
    monkeypatch.setenv("ROLLBACK_DRILL_REPORTS", str(tmp_path))
    lines: list[str] = []
    code = run_gameday(level, trigger, str(DEFAULT_RUNBOOK), None, lines.append, "scripted operator",
                       str(QUICK / script), **kw)
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    return code, json.loads((run_dir / "journal.json").read_text()), lines, run_dir


def test_an_operator_who_follows_the_runbook_recovers_and_every_step_is_timed(cluster, tmp_path, monkeypatch):
    code, journal, lines, run_dir = _run(tmp_path, monkeypatch, "level1-follows-runbook.script")
    assert journal["scenarios"], "\n".join(lines)  # the game day stopped before its drill: say why
    s = journal["scenarios"][0]
    g = s["gameday"]
    f = g["figures"]
    said = "\n".join(lines) + "\n" + json.dumps({"figures": f, "records": [
        {k: r[k] for k in ("text", "start", "end", "exit_code")} for r in g["records"]]}, ensure_ascii=False)
    assert code in (EXIT_OK, EXIT_FINDING) and s["verdict"] == "passed", said
    # measured, in order: fault -> alert -> ack -> first command -> decision -> recovered
    assert 0 < f["detect_s"] < 10 and 0 < f["ack_s"] < f["first_action_s"] < f["decision_s"], said
    assert f["decision_command"] == "kubectl scale deployment mastodon-web --replicas=1", said
    assert not f["decision_late"] and f["allowed_s"] == 60.0 and "即座" in f["deadline_basis"], said
    assert f["recovery_s"] is not None and f["within_target"], said
    steps = {st["line"]: st for st in f["steps"]}
    assert {37, 38, 39, 42, 45} <= set(steps), steps  # each step the operator did, with its time
    records = g["records"]
    watch = next(r for r in records if r["text"].startswith("watch"))
    assert watch["exit_code"] not in (None, 0) or watch["end"] is not None  # ended by the operator's Ctrl-C
    curl = next(r for r in records if r["text"].startswith("curl"))
    assert curl["exit_code"] == 0 and "200" in curl["output"], said  # the production URL went to the drill's Ingress
    assert s["plan"]["level"] == 1 and s["plan"]["trigger"] == "C1" and (run_dir / "debrief.html").exists()
    assert "ALERT" in "\n".join(lines) and "C1" not in next(ln for ln in lines if "ALERT" in ln)


@pytest.mark.nightly  # the suite's 12 minutes: the passing game day stays in it, the must-fail ones run nightly
def test_an_operator_who_skips_the_ingress_switch_does_not_recover_and_the_debrief_names_the_step(
        cluster, tmp_path, monkeypatch):
    code, journal, lines, run_dir = _run(tmp_path, monkeypatch, "level1-skips-ingress.script",
                                         immediate_allowance_s=60.0)
    s = journal["scenarios"][0]
    assert code == EXIT_TARGET_MISSED and s["verdict"] == "not_recovered", "\n".join(lines)
    skipped = [o for o in s["gameday"]["mapping"]["steps"] if o["status"] == "skipped"]
    assert any(o["line"] == 45 for o in skipped), skipped
    assert "kubectl apply -f backup/ingress-mastodon.yaml" in (run_dir / "debrief.html").read_text()


@pytest.mark.nightly
def test_a_decision_after_the_persons_allowance_is_decision_late(cluster, tmp_path, monkeypatch):
    """The same operator as above, held to a 2 s acknowledgement target for 即座: decision_late."""
    code, journal, lines, _ = _run(tmp_path, monkeypatch, "level1-follows-runbook.script", immediate_allowance_s=2.0)
    s = journal["scenarios"][0]
    f = s["gameday"]["figures"]
    assert code == EXIT_TARGET_MISSED and s["verdict"] == "decision_late", "\n".join(lines)
    assert f["decision_late"] and f["allowed_s"] == 2.0 and f["decision_s"] > 2.0


@pytest.mark.nightly
def test_an_outage_after_scaling_the_helm_stack_down_first_is_attributed_to_that_command(
        cluster, tmp_path, monkeypatch):
    """Under M1 (15 % of answers fail) most users are still served; the scale-down of the Helm web stack
    before traffic moved takes every answer away (404s from the Ingress), and the rise follows that command."""
    code, journal, lines, run_dir = _run(tmp_path, monkeypatch, "level1-scales-helm-down-first.script", "M1")
    g = journal["scenarios"][0]["gameday"]
    assert any(a["command"].startswith("kubectl scale deploy mastodon-helm-web") for a in g["attributions"]), \
        (g["attributions"], "\n".join(lines))


@pytest.mark.nightly  # a Level 3 drill (Level 2 first, then the restore): ~90 s, beyond the suite's budget
def test_a_level_3_game_day_starts_after_the_earlier_shifts_level_2_and_the_person_restores_the_backup(
        cluster, tmp_path, monkeypatch):
    """Level 3 is an escalation: the harness plays Level 2 and the damage to data before the alert; the person
    finds the pre-migration backup in the list, restores it and restarts the old stack. Its trigger is the
    damage (L3), whatever --trigger says; the runbook's restore as written (placeholder ID, project) is not
    what the person typed: the mapping says changed, the data lost is counted."""
    code, journal, lines, run_dir = _run(tmp_path, monkeypatch, "level3-restores-the-backup.script", "C1", level=3)
    assert journal["scenarios"], "\n".join(lines)
    s = journal["scenarios"][0]
    g = s["gameday"]
    f = g["figures"]
    said = "\n".join(lines) + "\n" + json.dumps({"figures": f, "records": [
        {k: r[k] for k in ("text", "start", "end", "exit_code")} for r in g["records"]]}, ensure_ascii=False)
    assert s["plan"]["level"] == 3 and s["trigger"]["id"] == "L3" and s["escalated_from_levels"] == [2], said
    assert code in (EXIT_OK, EXIT_FINDING) and s["verdict"] == "passed", said
    assert f["decision_command"] == "kubectl scale deployment --all --replicas=0" and not f["decision_late"], said
    restore = next(r for r in g["records"] if r["text"].startswith("gcloud sql backups restore"))
    assert restore["exit_code"] == 0, said
    status = {o["line"]: o["status"] for o in g["mapping"]["steps"]}
    assert status.get(97) == "done" and status.get(114) == "done", status
    assert status.get(106) == "changed", status  # the restore typed with "$BACKUP_ID" and other options
    assert s["data"].get("statuses_before_restore", 0) > 0 and "statuses_lost" in s["data"], s.get("data")
    assert (run_dir / "debrief.html").exists()


@pytest.mark.nightly  # ~50 s: the suite keeps the passing game day and the abort; the hints' reading of the
# cluster's state is unit-tested (tests/test_hints.py)
def test_hints_name_the_runbook_step_that_matches_the_cluster_when_asked(cluster, tmp_path, monkeypatch):
    """`gameday --hints`: `hint` in the operator's shell prints the step the cluster's state calls for."""
    code, journal, lines, _ = _run(tmp_path, monkeypatch, "level1-asks-for-hints.script", hints=True)
    assert journal["scenarios"], "\n".join(lines)
    g = journal["scenarios"][0]["gameday"]
    hints = [r["output"] for r in g["records"] if r["text"] == "hint"]
    said = "\n".join(lines) + "\n" + "\n---\n".join(hints)
    assert g["hints"] is True and len(hints) == 3, said
    assert "line 37: kubectl scale deployment mastodon-web --replicas=1" in hints[0], said  # nothing done yet
    assert "line 37" not in hints[1] and "Level 1, line" in hints[1], said  # the scale-ups are seen in the cluster
    # after the switch back: the Ingress routes to the old Services; the next step is the optional scale-down
    assert "line 48: kubectl scale deployment mastodon-helm-web --replicas=0" in hints[2], said
    assert code in (EXIT_OK, EXIT_FINDING) and journal["scenarios"][0]["verdict"] == "passed", said


def test_the_facilitator_aborts_from_outside_exit_4_journal_incomplete_shell_gone(cluster, tmp_path):
    """`rollback-drill gameday --abort` from another terminal: the harness stops as after Ctrl-C (exit 4,
    the journal marked incomplete with the phase), the operator's shell and its private socket are gone."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from rollback_drill import PROJECT_ROOT
    env = dict(os.environ, ROLLBACK_DRILL_REPORTS=str(tmp_path), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "rollback_drill", "gameday", "--level", "1", "--trigger", "C1",
                             "--operator-script", str(QUICK / "level1-thinks-long.script")], cwd=PROJECT_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            lines.append(line.rstrip())
            if "ALERT" in line or time.monotonic() > deadline:
                break
        assert any("ALERT" in ln for ln in lines), "\n".join(lines)
        socket = json.loads((tmp_path / "gameday-active.json").read_text())["socket"]
        time.sleep(3)  # the operator has acknowledged and is thinking
        abort = subprocess.run([sys.executable, "-m", "rollback_drill", "gameday", "--abort"], cwd=PROJECT_ROOT,
                               env=env, capture_output=True, text=True, timeout=60)
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = "\n".join(lines) + "\n" + rest
    assert abort.returncode == 0 and "stopped" in abort.stdout, abort.stdout + abort.stderr
    assert proc.returncode == 4 and "Traceback" not in out, out
    assert "interrupted by SIGINT" in out, out
    journal = json.loads(next(tmp_path.rglob("journal.json")).read_text())
    assert journal["complete"] is False and journal["stopped"]["interrupted_by"] == "SIGINT", journal.get("stopped")
    assert not Path(socket).exists() and not Path(socket).parent.exists(), "the operator's shell socket remains"
    assert not (tmp_path / "gameday-active.json").exists()
    assert not list(tmp_path.rglob("pane.log")) and not list(tmp_path.rglob("commands.log"))  # no raw log stays
