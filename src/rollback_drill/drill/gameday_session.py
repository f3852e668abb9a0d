"""`rollback-drill gameday`: a person runs the rollback; the harness plays the failure and keeps the clock.

The harness prepares the just-migrated state and the load, opens the operator's recorded shell
(drill/recorded_shell.py: tmux, the drill's kubeconfig and namespace, the runbook's working
directory), injects the fault — at once, or at a random moment within `--unannounced` seconds —
and raises the alert when its detector sees what a monitoring system would: a line in the operator's
terminal and, when given, a webhook (JSON; loopback or an allowed origin only). The alert says what
was measured, never which trigger was injected.

From the alert on, the recovery is watched exactly as in `run` (the level's RestoreTarget, the four
conditions, the stability window); nothing of the level is run by the harness. The game day ends when
the operator leaves the shell (`exit`), when a scripted operator's last action is done and the service
has recovered or the wait has run out, or when the facilitator stops it (`--abort`, SIGINT: exit 4,
the journal incomplete, the harness's changes put back). Then the harness runs 手順4 and the 実施後
checklist as in `run`, and the evidence — the person's figures, the step mapping, which command an
outage followed (drill/gameday.py) — goes into the journal's scenario (`gameday`) and `debrief.html`.

A scripted operator (`--operator-script FILE`, drill/gameday.py OperatorScript) is typed into the same
shell through tmux: every path a person takes is the path the tests take.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.request
from pathlib import Path
from typing import Callable

import gevent

from rollback_drill import untrusted
from rollback_drill.drill import pipeline
from rollback_drill.drill.engine import Drill, DrillConfig
from rollback_drill.drill.pipeline import DrillPlan
from rollback_drill.drill.gameday import OperatorRecord, OperatorScript, ScriptError, evaluate
from rollback_drill.drill.hints import next_step
from rollback_drill.drill.recorded_shell import RecordedShell
from rollback_drill.drill.runner import (EXIT_HARNESS, EXIT_USAGE, cluster_that_is_up, environment_info, guarded,
                                        preconditions, report)
from rollback_drill.evidence.debrief import automatic_scenario, drills_in, write_debrief
from rollback_drill.evidence.journal import EvidenceError, Journal, load_journal, new_run_id, reports_dir
from rollback_drill.evidence.report import finish_run
from rollback_drill.runbook.analysis import LiveState

ACTIVE = "gameday-active.json"  # in the reports folder: what `gameday --abort` stops


def alert_text(drill: Drill) -> str:
    """What a monitoring system would page with: the measurement, not the trigger's id or words."""
    det = drill.detection
    return f"ALERT mastodon ({drill.app.namespace}): {det.reason if det else 'firing'} — since {time.strftime('%H:%M:%S')}"


def post_webhook(url: str, payload: dict) -> str:
    """POST the alert as JSON; a webhook that does not answer is said, never fatal (a pager can be down)."""
    try:
        req = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        with untrusted.no_redirect_opener().open(req, timeout=5) as r:
            return f"webhook {r.status}"
    except OSError as e:
        return f"webhook failed: {e}"


def users_series(load_series: list[dict]) -> list[dict]:
    """The load's buckets as users lived them: every action that did not do what the user wanted is a
    failure (a 404 from an Ingress whose backend has no pod is an outage too, though not a 5xx)."""
    return [{**b, "requests": sum(a["done"] for a in b.get("actions", {}).values()),
             "failures": sum(a["failed"] for a in b.get("actions", {}).values())} for b in load_series]


def replay(script: OperatorScript, shell: RecordedShell, now: Callable[[], float], acks: list[OperatorRecord],
           done: list[bool]) -> None:
    """Type the script into the shell at its think times: after the alert, then after each prompt came back."""
    typed = 0
    for i, a in enumerate(script.actions):
        gevent.sleep(a.think_s)
        if a.kind == "ack":
            t = now()
            acks.append(OperatorRecord("ack", t, t, None, kind="ack", script_line=a.line))
            continue
        if a.kind == "ctrl-c":
            shell.ctrl_c()
            shell.wait_idle(30, typed)
            continue
        shell.type(a.command)
        typed += 1
        if a.command.strip() == "exit":
            break
        nxt = script.actions[i + 1] if i + 1 < len(script.actions) else None
        if nxt is not None and nxt.kind == "ctrl-c":
            continue  # the Ctrl-C ends it after its think time (a `watch` never gives the prompt back)
        while shell.alive() and not shell.wait_idle(1, typed):
            pass
    done.append(True)


def operator_left(gone: Callable[[], bool], now: Callable[[], float], grace_s: float) -> Callable[[], bool]:
    """The recovery watch's stop: the operator has left, and `grace_s` has passed since. Recovery is the
    service's, not the person's: a recovery already under way when they typed `exit` still gets its
    stability window (on a slow machine it ended after the operator did); a service that was never
    brought back is not waited on for the whole limit."""
    left: list[float] = []

    def stop() -> bool:
        if not left and gone():
            left.append(now())
        return bool(left) and now() - left[0] >= grace_s
    return stop


def operator_records(shell: RecordedShell, epoch_to_tl: Callable[[float], float],
                     acks: list[OperatorRecord]) -> list[OperatorRecord]:
    out = [OperatorRecord(c.text, epoch_to_tl(c.start), float("inf") if c.end is None else epoch_to_tl(c.end),
                          c.exit_code, c.output) for c in shell.commands() if c.text.strip()]
    return sorted(out + acks, key=lambda r: r.start)


def run_gameday(level_no: int, trigger_id: str, runbook_path: str, provider: str | None, echo=print,
                operator: str = "", script_path: str | None = None, unannounced_s: float | None = None,
                immediate_allowance_s: float = 60.0, webhook: str | None = None,
                wait_s: float | None = None, against: str | None = None, hints: bool = False) -> int:
    """`against`: the journal of an automatic drill of the same level and trigger (`rollback-drill run`);
    the debrief then says who was faster at which step, and why."""
    runbook, code, msg = preconditions(level_no, trigger_id, runbook_path)
    if runbook is None:
        echo(msg)
        return code
    try:
        script = OperatorScript.read(script_path) if script_path else None
        if webhook:
            o = untrusted.origin(webhook, "--alert-webhook")
            if not (o.loopback or o in untrusted.allowed_origins()):
                raise untrusted.Untrusted(f"--alert-webhook {o}: not a loopback address and not in "
                                          f"{untrusted.ALLOWED_TARGETS_ENV}: allow it there first")
        # Level 3's trigger is the damage to data (an escalation after Level 2), whatever --trigger said
        automatic = automatic_to_compare(against, level_no, "L3" if level_no == 3 else trigger_id) if against else None
    except (ScriptError, untrusted.Untrusted, EvidenceError) as e:
        echo(f"rollback-drill: {e}")
        return EXIT_USAGE
    with guarded(echo) as g:
        cluster = cluster_that_is_up(provider, echo)
        if cluster is None:
            return EXIT_HARNESS
        g.drill = drill = Drill(cluster, runbook, DrillConfig(runs_status_step=False))  # 手順1 is the person's
        echo("gameday: deploying the just-migrated state")
        drill.prepare()
        run_dir = reports_dir() / new_run_id()
        g.journal = journal = Journal(run_dir, environment_info(cluster, runbook, drill), drill.redactor)
        shell = RecordedShell(run_dir / "shell", drill.env.workdir, drill.ctx.env, drill.app.namespace,
                              drill.redactor.redact, runbook.production_host, drill.env.ingress_url,
                              drill.ctx.served_host, hints=hints)
        active = reports_dir() / ACTIVE
        try:
            shell.start()
            untrusted.write_private(active, json.dumps({"socket": str(shell.socket), "run": str(run_dir),
                                                        "pid": os.getpid()}))
            echo(f"gameday: the operator's shell is ready: {shell.attach_command()}")
            level = runbook.level(level_no)
            plan = DrillPlan(level_no, trigger_id, f"game day by {operator or 'the operator'}", verify="if_recovered")
            if unannounced_s:  # the failure comes at a moment nobody in the room knows
                echo(f"gameday: a failure will come within {unannounced_s:g} s")
            if not pipeline.start(drill, plan, echo, random.uniform(0, unannounced_s) if unannounced_s else 0.0):
                echo("gameday: the detector never fired: no alert was raised")
            else:
                # the trigger the opening made true: the criterion injected, the person's declaration, or
                # for Level 3 the damage to data after the harness played Level 2 (the earlier shift's work)
                trig = drill.trigger
                drill.tl.mark("alert")
                line = alert_text(drill)
                shell.say(line)
                echo(f"gameday: {line}")
                if webhook:
                    echo("gameday: " + post_webhook(webhook, {"alert": line, "namespace": drill.app.namespace,
                                                              "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
                if trig.decision_deadline_s == 0:  # 即座: a person is held to the team's acknowledgement target
                    drill.cfg.decision_slack_s = max(drill.cfg.decision_slack_s, immediate_allowance_s)
                drill.expect_level(level_no)
                t_alert = drill.tl.marks["alert"]
                acks: list[OperatorRecord] = []
                done: list[bool] = []
                player = gevent.spawn(replay, script, shell, drill.tl.now, acks, done) if script else None
                hinter = gevent.spawn(refresh_hints, drill, level, level_no, shell) if hints else None
                if hints:
                    shell.say("gameday: type `hint` for the runbook step that matches the cluster now")
                scripted_over = (lambda: bool(done) and shell.idle()) if script else (lambda: False)
                limit = wait_s if wait_s is not None else max(2 * level.target_max_s, level.target_max_s + 120)
                drill.wait_recovery(limit_s=limit, since=t_alert,
                                    stop=operator_left(lambda: not shell.alive() or scripted_over(), drill.tl.now,
                                                       2 * drill.cfg.stability_s))
                if drill.recovered is not None and not script:
                    echo("gameday: recovered; exit the shell to end the game day")
                    deadline = time.monotonic() + limit
                    while shell.alive() and time.monotonic() < deadline:
                        gevent.sleep(0.5)
                if player is not None:
                    player.join(timeout=max(0.0, limit - (drill.tl.now() - t_alert)))
                    player.kill(block=False)
                if hinter is not None:
                    hinter.kill(block=False)
                offset = time.time() - drill.tl.now()
                records = operator_records(shell, lambda t: t - offset, acks)
                part = evaluate(level, trig.decision_deadline_s, records, dict(drill.tl.marks),
                                users_series(drill.tl.to_dict().get("load_series", [])), immediate_allowance_s,
                                operator, namespace=drill.app.namespace)
                decision = part["figures"]["decision_s"]
                if decision is not None:
                    drill.tl.mark("decide", t_alert + decision)
                    drill.level_no = level_no
                if drill.recovered is not None:  # 手順4 on a service that never recovered tells nothing new
                    drill.verify()
        finally:
            transcript = shell.transcript()  # redacted
            recording = shell.recording(f"rollback-drill game day: Level {level_no}, {operator or 'the operator'}")
            shell.close()  # the raw logs go with it
            if transcript:
                (shell.folder / "transcript.txt").write_text(transcript)
            if recording:  # the operator's side as it happened: asciinema play shell/session.cast
                (shell.folder / "session.cast").write_text(recording)
            active.unlink(missing_ok=True)
        drill.phase = "done"
        drill.stop_traffic()
        drill.end_emulation()
        res = drill.result(f"game day: Level {level_no} under {drill.trigger.id} by {operator or 'the operator'}")
        if drill.detection and drill.detection.fired:
            res["gameday"] = part
            res["gameday"]["transcript"] = "shell/transcript.txt" if transcript else None
            res["gameday"]["recording"] = "shell/session.cast" if recording else None
            res["gameday"]["hints"] = hints  # a person helped by hints is not timed as one without
            res["gameday"]["compared_with"] = None if automatic is None else {
                "journal": str(against), "scenario": automatic.get("name", "")}
        journal.add_scenario(res)
        finish_run(journal)
        if "gameday" in res:
            if automatic is None:
                echo(f"gameday: no automatic drill to compare with (--against the journal of "
                     f"`rollback-drill run --level {level_no} --trigger {trigger_id.upper()}`)")
            write_debrief(run_dir, res, automatic, redactor=drill.redactor)
            echo(f"gameday: debrief {run_dir / 'debrief.html'}")
            f = part["figures"]
            echo(f"gameday: decision {f['decision_s']} s after the alert (allowed {f['allowed_s']:g} s: "
                 f"{f['deadline_basis']}); fidelity {part['mapping'].get('fidelity')}")
    if g.code is not None:
        return g.code
    return report(res, journal, drill, echo)


def refresh_hints(drill, level, level_no: int, shell: RecordedShell, every_s: float = 2.0) -> None:
    """Keep the shell's hint file at the step that matches the cluster now (drill/hints.py)."""
    while True:
        try:
            live = LiveState.read(drill.state, drill.app.ingress)
            text = next_step(level.commands, live, drill.env.workdir, drill.app.namespace, level_no)
        except Exception as e:  # noqa: BLE001 - a hint that cannot be read says so, the game day goes on
            text = f"no hint right now: the cluster could not be read ({str(e).strip()[:120]})"
        untrusted.write_private(shell.hint_file, text + "\n")
        gevent.sleep(every_s)


def automatic_to_compare(path: str, level_no: int, trigger_id: str) -> dict:
    """The automatic drill in the journal at `path` (bad input, EvidenceError, when there is none)."""
    p = Path(path)
    if p.is_dir():
        p = p / "journal.json"
    data = load_journal(p)
    sc = automatic_scenario(data, level_no, trigger_id)
    if sc is None:
        raise EvidenceError(f"--against {path}: no finished automatic drill of Level {level_no} under "
                            f"{trigger_id.upper()} in it (it holds: {drills_in(data)}); run "
                            f"'rollback-drill run --level {level_no} --trigger {trigger_id.upper()}' and pass its journal")
    return sc


def abort() -> int:
    """`gameday --abort`: the facilitator ends the running game day from outside (its shell closes; the
    harness then stops as after an interrupt: exit 4, journal incomplete, changes put back)."""
    active = reports_dir() / ACTIVE
    if not active.exists():
        print("rollback-drill: no game day is running here")
        return EXIT_USAGE
    info = json.loads(active.read_text())
    import signal
    import subprocess
    try:  # the harness first (it stops as after Ctrl-C: exit 4, journal incomplete, changes put back)
        os.kill(int(info["pid"]), signal.SIGINT)
    except (ProcessLookupError, ValueError, KeyError):
        pass
    subprocess.run(["tmux", "-S", info["socket"], "kill-server"], capture_output=True)
    print(f"rollback-drill: game day {info['run']} stopped")
    return 0
