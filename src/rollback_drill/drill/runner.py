"""`rollback-drill run`: one drill outside pytest, same engine, journal and exit codes.

Exit codes: 0 passed · 1 a target missed (any verdict but passed) · 2 bad input · 3 passed with
runbook findings · 4 the harness itself failed or was interrupted. A harness error or an
interruption never looks like a verdict: one line, exit 4, the journal marked incomplete with
the phase it stopped in.
"""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401,I001 - locust patches gevent before anything else

import signal
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import gevent

from rollback_drill.cluster import Cluster, ClusterError, get_cluster
from rollback_drill.drill import pipeline
from rollback_drill.drill.engine import Drill, DrillConfig, DrillError
from rollback_drill.drill.pipeline import DrillPlan
from rollback_drill.evidence.journal import EvidenceError, Journal, new_run_id, reports_dir
from rollback_drill.evidence.report import finish_run
from rollback_drill.runbook.model import Runbook, RunbookError, declare_hint, load_runbook
from rollback_drill.sut.datastores import removed_with
from rollback_drill.sut.faults import NoFault, describe, fault_for
from rollback_drill.settings import first_line
from rollback_drill.sut.profile import Profile

EXIT_OK, EXIT_TARGET_MISSED, EXIT_USAGE, EXIT_FINDING, EXIT_HARNESS = 0, 1, 2, 3, 4


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: the drill stops now (BaseException: no `except Exception` swallows it)."""

    def __init__(self, signum: int) -> None:
        self.signal = signal.Signals(signum).name
        super().__init__(self.signal)


@contextmanager
def interruptible() -> Iterator[None]:
    """Deliver SIGINT/SIGTERM to the main greenlet as `Interrupted`, wherever it is waiting
    (a sleep, a probe, a runbook command: the command's process group is killed on the way out)."""
    main = gevent.getcurrent()
    handlers = [gevent.signal_handler(s, lambda s=s: gevent.kill(main, Interrupted(s)))
                for s in (signal.SIGINT, signal.SIGTERM)]
    try:
        yield
    finally:
        for h in handlers:
            h.cancel()


def environment_info(cluster, runbook, drill: Drill | None) -> dict:
    from rollback_drill.drill.plan import reading
    from rollback_drill.sut.deploy import chart_evidence
    st = cluster.status()
    return {"cluster": {"provider": st.provider, "kubernetes_version": st.kubernetes_version,
                        "ingress_url": st.ingress_url},
            "image": drill.env.image if drill and drill.env else None,
            # the reading itself, so that `runbook PATH --diff journal.json` shows what an edit changed since
            "runbook": {"path": runbook.path, "sha256": runbook.sha256, "reading": reading(runbook)},
            "config": drill.cfg.to_dict() if drill else None,
            # the stub chart's parity with the official one and the lab's timings (a team's release: None)
            "chart": chart_evidence() if drill and drill.env and drill.env.is_stub else None}


def preconditions(level_no: int, trigger_id: str, runbook_path: str,
                  fault_style: str = "switch") -> tuple[Runbook | None, int, str]:
    """Bad input (exit 2) and what the harness cannot do (exit 4), before touching any cluster."""
    try:
        runbook = load_runbook(runbook_path)
        runbook.level(level_no)
        if level_no != 3:
            runbook.trigger(trigger_id)
    except (RunbookError, KeyError) as e:
        return None, EXIT_USAGE, f"rollback-drill: {e.args[0] if isinstance(e, KeyError) else e}"
    if level_no != 3:
        c = runbook.trigger(trigger_id).criterion
        if c.kind == "unread":
            return None, EXIT_USAGE, (f"rollback-drill: {runbook.path}:{c.line}: cannot read criterion "
                                      f"'{c.text}' ({trigger_id.upper()}) as a metric; {declare_hint(runbook.path, c)}")
        try:
            describe(c)
        except NoFault as e:
            return None, EXIT_HARNESS, (f"rollback-drill: the harness cannot drill {trigger_id.upper()}: "
                                        f"{e.args[0]} (line {c.line}); {declare_hint(runbook.path, c)}")
        if fault_style == "config" and not c.person_decides:
            try:
                fault_for(c, style="config")
            except NoFault as e:
                return None, EXIT_USAGE, (f"rollback-drill: --faults config cannot drill {trigger_id.upper()}: "
                                          f"{e.args[0]}; use --faults switch, or a trigger of a DB, jobs, "
                                          f"media or streaming criterion")
    return runbook, EXIT_OK, ""


@dataclass
class Guard:
    """The drill and journal of a command, so that a stop can mark and close them."""

    drill: Drill | None = None
    journal: Journal | None = None
    code: int | None = None  # set when the command stopped (exit 4)


@contextmanager
def guarded(echo) -> Iterator[Guard]:
    """Signals delivered as `Interrupted`; any interruption or harness error stops the drill, marks
    the journal incomplete and sets `code` (4) instead of escaping; the drill is always closed."""
    g = Guard()
    with interruptible():
        try:
            yield g
        except (Interrupted, Exception) as e:  # noqa: BLE001 - every harness error: one line, exit 4
            g.code = stopped(e, g.drill, g.journal, echo)
        finally:
            if g.drill:
                try:
                    g.drill.close()
                except Exception as e:  # noqa: BLE001 - closing failed: one line, exit 4, never a traceback
                    echo(f"rollback-drill: the harness failed while stopping the drill: {first_line(e)[:300]}")
                    g.code = EXIT_HARNESS


def cluster_that_is_up(provider: str | None, echo) -> Cluster | None:
    """The drill cluster when it is up; None after saying why not (the caller exits 4). For commands that
    must not bring it up themselves: a game day, N sample drills side by side."""
    try:
        cluster = removed_with(get_cluster(provider))
        if cluster.status().ready:
            return cluster
        echo(f"rollback-drill: the {cluster.name} cluster is not up: run 'rollback-drill cluster up'")
    except ClusterError as e:
        echo(f"rollback-drill: cluster: {e}")
    return None


def run_single(level_no: int, trigger_id: str, runbook_path: str, provider: str | None, echo=print,
               decision_delay_s: float = 0.0, monitor_s: float | None = None, profile: Profile | None = None,
               db_size_gb: float | None = None, fault_style: str = "switch", load_workers: int = 0) -> int:
    runbook, code, msg = preconditions(level_no, trigger_id, runbook_path, fault_style)
    if runbook is None:
        echo(msg)
        return code
    with guarded(echo) as g:
        try:
            cluster = removed_with(get_cluster(provider))
            if not cluster.status().ready:
                if cluster.name != "local":
                    st = cluster.status()
                    echo(f"rollback-drill: the {cluster.name} cluster is not reachable: "
                         f"{(st.detail or 'no answer').splitlines()[-1]}")
                    return EXIT_HARNESS
                echo("cluster: bringing the local drill cluster up")
                cluster.up()
        except ClusterError as e:
            echo(f"rollback-drill: cluster: {e}")
            return EXIT_HARNESS
        cfg = DrillConfig(decision_delay_s=decision_delay_s, fault_style=fault_style)
        cfg.load.workers = load_workers
        if profile is not None:
            cfg.profile = profile
        cfg.db_size_gb = db_size_gb if db_size_gb is not None else runbook.sidecar.get("database_size_gb")
        if monitor_s is not None:
            cfg.monitor_s = monitor_s
        g.drill = drill = Drill(cluster, runbook, cfg)
        echo("drill: deploying the just-migrated state")
        drill.prepare()
        g.journal = journal = Journal(reports_dir() / new_run_id(), environment_info(cluster, runbook, drill),
                                      drill.redactor)
        pipeline.run(drill, DrillPlan(level_no, trigger_id), echo)
        res = drill.result(f"Level {level_no} under {drill.trigger.id}")
        journal.add_scenario(res)
        finish_run(journal)
    if g.code is not None:
        return g.code
    return report(res, journal, drill, echo)


def run_staging(level_no: int, trigger_id: str, runbook_path: str, staging, yes: bool, echo=print,
                fault_style: str = "config", load_workers: int = 0, monitor_s: float | None = None,
                ca_bundle: str = "") -> int:
    """One drill on an existing, allow-listed context (sut/existing.py): the state checked, the plan
    printed, nothing changed without `yes`, everything the harness changed put back. The private
    kubeconfig copy goes on every path."""
    from rollback_drill.sut.existing import forget
    runbook, code, msg = preconditions(level_no, trigger_id, runbook_path, fault_style)
    if runbook is None:
        echo(msg)
        return code
    cfg = DrillConfig(fault_style=fault_style, ca_bundle=ca_bundle)
    cfg.load.workers = load_workers
    if monitor_s is not None:
        cfg.monitor_s = monitor_s
    try:
        ready = _staging_plan(level_no, trigger_id, runbook, staging, cfg, echo)
        if isinstance(ready, int):
            return ready
        if not yes:
            echo("rollback-drill: nothing was changed: that is the plan; run again with --yes to carry it out")
            return EXIT_USAGE
        return _staging_drill(level_no, trigger_id, runbook, staging, cfg, *ready, echo)
    finally:
        forget(staging)


def _staging_plan(level_no: int, trigger_id: str, runbook: Runbook, staging, cfg: DrillConfig, echo):
    """Read-only: refusals (exit 2), an unreachable or unreadable cluster (exit 4), else print the plan
    and return (cluster, the system under test)."""
    from rollback_drill.cluster.existing import ExistingCluster
    from rollback_drill.drill.staging import plan_lines, system_under_test
    from rollback_drill.sut.existing import NotAsAssumed, read_record, running_owner
    from rollback_drill.sut.mistakes import NoOpMistake, merged_values, proven_mistake, restarts_on_rollback
    try:
        cluster = ExistingCluster(staging.context)
        st = cluster.status()
        if not st.ready:
            echo(f"rollback-drill: the existing cluster is not reachable: {(st.detail or 'no answer').splitlines()[-1]}")
            return EXIT_HARNESS
        if staging.pending.exists():
            pid = running_owner(read_record(staging.pending))
            raise NotAsAssumed(f"refusing a drill on context '{staging.context}' namespace {staging.app.namespace}", [
                f"another drill is running there (pid {pid}): wait for it or end it" if pid is not None else
                f"a previous drill there was killed before it put back what it changed ({staging.pending}): run "
                f"'rollback-drill put-back --context {staging.context}' first"])
        kube = staging.kube(cluster.bin_dir)
        sut = system_under_test(staging, kube, runbook, level_no, lambda m: echo(f"deploy: {m}"))
        sut.check()
        c = runbook.trigger(trigger_id).criterion if level_no != 3 else None
        fault = None if c is None or c.person_decides else fault_for(
            c, style=cfg.fault_style, config_paths=runbook.sidecar.get("config_faults"))
        revision = kube.helm_release_revision(staging.app.release) if staging.sut == "existing" else None
        restarts = ""
        if staging.sut == "existing" and fault is not None and fault.values:  # proven before the plan
            fault = proven_mistake(kube, staging.app, staging.chart, fault)
            restarts = restarts_on_rollback(merged_values(kube, staging.app.release))
    except (NotAsAssumed, NoFault, NoOpMistake) as e:
        echo(f"rollback-drill: {e.args[0] if isinstance(e, NoFault) else e}")
        return EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - the cluster could not be read: one line, exit 4
        echo(f"rollback-drill: could not read context '{staging.context}' ({type(e).__name__}): {first_line(e)[:300]}")
        return EXIT_HARNESS
    for line in plan_lines(staging, runbook, level_no, fault, cfg.load, revision, restarts):
        echo(line)
    return cluster, sut


def _staging_drill(level_no: int, trigger_id: str, runbook: Runbook, staging, cfg: DrillConfig, cluster, sut,
                   echo) -> int:
    from rollback_drill.sut.existing import owner_key
    with guarded(echo) as g:
        g.drill = drill = Drill(cluster, runbook, cfg, sut=sut)
        drill.changes.pending = staging.pending  # survives a SIGKILL: `put-back` reads it
        drill.changes.pending_key = {"context": staging.context, "namespace": staging.app.namespace, **owner_key()}
        echo(f"drill: {'deploying' if staging.sut == 'stub' else 'attaching to'} {sut.describe()}")
        drill.prepare()
        g.journal = journal = Journal(reports_dir() / new_run_id(), environment_info(cluster, runbook, drill),
                                      drill.redactor)
        journal.data["environment"]["target"] = {"context": staging.context, "sut": staging.sut,
                                                 "namespace": staging.app.namespace,
                                                 "release": staging.app.release, "url": staging.target_url}
        pipeline.run(drill, DrillPlan(level_no, trigger_id), echo)
        echo("drill: putting back what the harness changed")
        drill.put_back()  # before the result, which lists what was put back
        res = drill.result(f"Level {level_no} under {drill.trigger.id} on {staging.context}")
        journal.add_scenario(res)
        finish_run(journal)
    if g.drill is not None:
        for line in g.drill.changes.reverted:
            echo(f"  put back: {line}")
        for line in g.drill.changes.not_reverted:
            echo(f"  NOT put back: {line}")
    if g.code is not None:
        return g.code
    return report(res, journal, drill, echo)


def stopped(e: BaseException, drill: Drill | None, journal: Journal | None, echo) -> int:
    """An interruption or a harness error: stop everything, mark the journal incomplete with the
    phase, say it in one line, exit 4 — never a verdict."""
    phase = drill.phase if drill else "start"
    if drill:
        drill.abort()
        drill.put_back()  # on a cluster the harness does not own: before the journal, which lists it
    if isinstance(e, Interrupted):
        _mark_incomplete(journal, drill, {"interrupted_by": e.signal, "phase": phase})
        echo(f"rollback-drill: interrupted by {e.signal} during {phase}: load, probes and the running command "
             f"stopped; journal {'marked incomplete: ' + str(journal.path) if journal else 'not started'}")
        return EXIT_HARNESS
    from rollback_drill.sut.mistakes import NoOpMistake
    if isinstance(e, NoOpMistake):  # bad input found on the cluster: refused before anything was broken
        _mark_incomplete(journal, drill, {"refused": str(e), "phase": phase})
        echo(f"rollback-drill: {e}")
        return EXIT_USAGE
    _mark_incomplete(journal, drill, {"harness_error": f"{type(e).__name__}: {e}", "phase": phase})
    first = first_line(e)
    kind = "drill failed" if isinstance(e, (DrillError, EvidenceError)) else "the harness failed"
    echo(f"rollback-drill: {kind} during {phase}: {first[:400]}")
    return EXIT_HARNESS


def _mark_incomplete(journal: Journal | None, drill: Drill | None, why: dict) -> None:
    if journal is None:
        return
    try:
        if drill is not None and (drill.trigger is not None or drill.level_no is not None):
            journal.add_scenario(drill.result(f"{why.get('phase')} (incomplete)", interrupted=True))
        journal.data["stopped"] = why
        if drill is not None and drill.changes.changes:
            journal.data["harness_changes"] = drill.changes.to_dict()
        journal.write()
    except Exception:  # noqa: BLE001 - the stop itself must not fail; the journal stays incomplete
        pass


def report(res: dict, journal: Journal, drill: Drill, echo) -> int:
    d = res["durations"]
    lv = res["level"]
    name = res["name"]
    if res["verdict"] == "not_detected":
        echo(f"FAILED: fault not detected within {drill.cfg.detection_timeout_s:.0f}s; journal {journal.path}")
        return EXIT_TARGET_MISSED
    measured = "not recovered" if d["recovery_s"] is None else f"{d['recovery_s']:.1f}s"
    echo(f"{name}: detected in {d['detection_latency_s']}s, decided in {d['decision_s']}s, "
         f"recovery time {measured} (target {lv['target_min_s']:.0f}-{lv['target_max_s']:.0f}s) -> {res['verdict']}"
         f" [profile {res['profile']['name']}]")
    ph = res.get("phases") or {}
    if ph.get("phases"):
        echo("  where the time went: " + "; ".join(f"{p['phase']} {p['s']:.1f}s" for p in ph["phases"])
             + (f" (dominated by {ph['dominant']})" if ph.get("dominant") else ""))
    if res.get("restore_projection"):
        echo(f"  {res['restore_projection']['statement']}")
    for c in (res.get("recovery") or {}).get("conditions", []):
        since = "—" if c["held_since"] is None else f"{c['held_since']:.1f}s"
        echo(f"  ({c['key']}) {'held' if c['holds'] else 'NOT held'} (since {since}): {c['label']} — {c['detail'][:200]}")
    failed = {k: v for k, v in res["outage"]["actions"].items() if v["failed"]}
    if failed:
        echo("  users saw: " + ", ".join(f"{v['failed']} of {v['done']} {k}" for k, v in failed.items()) + " failed")
    if res["data"]:
        d3 = res["data"]
        echo(f"  data lost by the restore (written after the backup): {d3.get('statuses_lost', 0)} of "
             f"{d3.get('statuses_before_restore', 0)} statuses, {d3.get('media_attachments_lost', 0)} of "
             f"{d3.get('media_attachments_before_restore', 0)} media")
    for f in res["findings"]:  # most severe first
        echo(f"  finding [{f['severity']}] {f['step'] or ''} line {f['line']} ({f['kind']}): {f['command']}: "
             f"{f['problem']} -> {f['action']}")
    for c in res["checklist"]:
        echo(f"  [{'x' if c['ok'] else ' ' if c['ok'] is False else '-'}] {c['item']}: {c['evidence']}")
    echo(f"journal: {journal.path}")
    if res["verdict"] != "passed":
        return EXIT_TARGET_MISSED
    return EXIT_FINDING if res["findings"] else EXIT_OK


# ---- rollback-drill mutate ---------------------------------------------------------------------
def mutation_drill(cluster, runbook: Runbook, limit: float | None, profile: Profile | None = None) -> Drill:
    """A drill of a mutation run: a mutant's failing checks are retried no longer than its time limit."""
    cfg = DrillConfig(check_retry_budget_s=limit) if limit else DrillConfig()
    if profile is not None:
        cfg.profile = profile
        cfg.db_size_gb = runbook.sidecar.get("database_size_gb")
    return Drill(cluster, runbook, cfg)


def mutant_drill(drill: Drill, level_no: int, trigger_id: str, name: str, commands=None,
                 limit: float | None = None) -> dict:
    """One drill of a mutation run (the baseline: commands None), in this process's lane: a mutant
    that did not recover is killed already, so its 手順4 would not change that, and its failing
    checks are retried no longer than its whole time limit. `drill` is prepared."""
    wait = None if limit is None else limit + drill.cfg.stability_s  # the window must fit too
    pipeline.run(drill, DrillPlan(level_no, trigger_id, name, commands, wait, verify="if_recovered"))
    return drill.result(name)


def run_mutant_child(level_no: int, trigger_id: str, runbook_path: str, provider: str | None, mutant_id: str,
                     limit: float | None, out: str, echo=print, profile: Profile | None = None) -> int:
    """One mutant's drill in this process's lane, for `mutate --parallel` (drill/lanes.py): the
    result, redacted with this lane's secrets, is written to `out`; exit codes as for `run`."""
    import json
    from pathlib import Path

    from rollback_drill.drill.mutate import mutants
    from rollback_drill.evidence.journal import atomic_write
    from rollback_drill.settings import lane
    from rollback_drill.sut.deploy import LOCAL

    runbook, code, msg = preconditions(level_no, trigger_id, runbook_path)
    if runbook is None:
        echo(msg)
        return code
    if mutant_id == "baseline":  # the level as written, under the contention the mutants will have
        name, commands = f"baseline: Level {level_no} as written (lane {lane()})", None
    else:
        m = next((x for x in mutants(runbook.level(level_no), LOCAL.counterparts()) if x.id == mutant_id), None)
        if m is None:
            echo(f"rollback-drill: no mutant {mutant_id} of Level {level_no}")
            return EXIT_USAGE
        name, commands = m.label, m.commands
    with guarded(echo) as g:
        g.drill = drill = mutation_drill(get_cluster(provider), runbook, limit, profile)
        drill.prepare()
        res = mutant_drill(drill, level_no, trigger_id, name, commands, limit)
        atomic_write(Path(out), json.dumps(drill.redactor.redact_obj(res), ensure_ascii=False))
    return g.code if g.code is not None else EXIT_OK


MUTATION_FACTOR, MUTATION_CONSTANT_S = 2.0, 10.0  # a mutant's recovery time may be 2x the baseline's + 10 s


def run_mutate(level_no: int, trigger_id: str, runbook_path: str, provider: str | None, echo=print,
               as_json: bool = False, full_wait: bool = False, only: tuple[str, ...] = (), out=None,
               parallel: int = 1, profile: Profile | None = None) -> int:
    """Baseline drill, then one drill per mutant of the level. Exit 0 when every non-optional
    mutant is killed, 1 when one survives (or the baseline does not pass), 2/4 as for `run`.
    `parallel` N > 1: after the baseline, the mutants' drills run N at a time, each in a lane of its
    own (drill/lanes.py) — the same drills, the same judgement, the same journal."""
    import json
    import time

    from rollback_drill.drill.mutate import UsersBar, judge, mutants, summary, usable_baseline
    from rollback_drill.evidence.journal import atomic_write
    from rollback_drill.sut.deploy import LOCAL

    runbook, code, msg = preconditions(level_no, trigger_id, runbook_path)
    if runbook is None:
        echo(msg)
        return code
    level = runbook.level(level_no)
    counterparts = LOCAL.counterparts()
    ms = mutants(level, counterparts)
    if only:
        unknown = sorted(set(only) - {m.id for m in ms})
        if unknown:
            echo(f"rollback-drill: unknown mutant(s) {', '.join(unknown)} for Level {level_no} "
                 f"(known: {', '.join(m.id for m in ms)})")
            return EXIT_USAGE
        ms = [m for m in ms if m.id in only]
    t0 = time.monotonic()
    with guarded(echo) as g:
        cluster = removed_with(get_cluster(provider))
        if not cluster.status().ready:
            echo(f"rollback-drill: the {cluster.name} cluster is not up: run 'rollback-drill cluster up'")
            return EXIT_HARNESS
        run_dir = reports_dir() / new_run_id()

        def one(name: str, commands=None, limit=None) -> dict:
            g.drill = drill = mutation_drill(cluster, runbook, limit, profile)
            drill.prepare()
            if g.journal is None:
                g.journal = Journal(run_dir, environment_info(cluster, runbook, drill), drill.redactor)
            res = mutant_drill(drill, level_no, trigger_id, name, commands, limit)
            drill.close()
            g.drill = None
            return res

        from rollback_drill.drill.lanes import LanePool, run_in_lanes
        pool = LanePool(["--level", str(level_no), "--trigger", trigger_id, "--runbook", runbook_path] +
                        (["--provider", provider] if provider else []) +
                        (["--profile", profile.path] if profile is not None and profile.path else []), run_dir)
        try:
            echo(f"mutate: baseline drill of Level {level_no} under {trigger_id.upper()}"
                 + (f", in {parallel} lanes at once" if parallel > 1 else ""))
            # in parallel the baseline runs in every lane at once: the mutants' time limit comes from a
            # recovery measured under the contention they will run in (alone it was 3x faster here)
            others = [pool.spawn(k, k, None, "baseline") for k in range(1, parallel)]
            bases = [one(f"baseline: Level {level_no} as written" + (" (lane 0)" if parallel > 1 else ""))]
            bases += [pool.wait(c) for c in others]
            journal = g.journal
            for b in bases:
                journal.add_scenario(b)
            base = next((b for b in bases if not usable_baseline(b)), None) or \
                max(bases, key=lambda b: b["durations"]["recovery_s"] or 0.0)
            echo(f"mutate: baseline {base['verdict']}, recovery "
                 f"{', '.join(str(b['durations']['recovery_s']) for b in bases)}s")
            if not usable_baseline(base):
                echo(f"mutate: the baseline drill does not pass ({base['verdict']}): mutants are meaningless; "
                     f"journal {journal.path}")
                finish_run(journal)
                return EXIT_TARGET_MISSED
            if base["verdict"] != "passed":
                echo(f"mutate: the level as written misses its target here ({base['verdict']}, recovery "
                     f"{base['durations']['recovery_s']}s against {base['level']['target_max_s']:g}s) with every check "
                     f"met: each mutant is judged against that baseline")
            limit = None if full_wait else \
                MUTATION_FACTOR * (base["durations"]["recovery_s"] or 0.0) + MUTATION_CONSTANT_S
            outcomes = []
            users = UsersBar.of(bases)

            def judged(i: int, m, res: dict, seconds: float) -> None:
                o = judge(m, res, limit, users, base["verdict"])
                o.seconds = seconds
                outcomes.append(o)
                journal.add_scenario(res)
                echo(f"mutate: [{i}/{len(ms)}] {m.id:11} {'killed  ' if o.killed else 'SURVIVED'} "
                     f"{m.describe()[:90]} — {o.killed_by[:160]}")

            if parallel > 1:
                run_in_lanes(pool, ms, parallel, ["--limit", f"{limit}"] if limit else [], judged, echo)
                outcomes.sort(key=lambda o: [m.id for m in ms].index(o.mutant.id))
            else:
                for i, m in enumerate(ms, 1):
                    t1 = time.monotonic()
                    res = one(m.label, m.commands, limit)
                    judged(i, m, res, time.monotonic() - t1)
        finally:
            pool.close()  # a failure or an interruption: every lane's drill stops and puts its lane back
        result = summary(base, outcomes, level, trigger_id.upper(), time.monotonic() - t0, limit, users,
                         (profile or DrillConfig().profile).name)
        result["parallel"] = parallel
        result["baselines_recovery_s"] = [b["durations"]["recovery_s"] for b in bases]
        journal.data["mutations"] = result
        atomic_write(run_dir / "mutations.json", json.dumps(journal.redactor.redact_obj(result),
                                                            ensure_ascii=False, indent=2))
        finish_run(journal)
    if g.code is not None:
        return g.code
    if as_json:
        (out or echo)(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        echo(f"Level {level_no} under {trigger_id.upper()}: {result['killed']}/{result['mutants']} mutants killed "
             f"(non-optional {result['non_optional_killed']}/{result['non_optional']}) in {result['wall_s']:.0f}s")
        for s in result["survivors"]:
            echo(f"  survivor {s['mutant']['id']}: {s['step']} — {s['killed_by']}")
        for f in result["findings"]:
            echo(f"  finding: {f}")
        echo(f"mutations: {run_dir / 'mutations.json'}")
    return EXIT_OK if result["non_optional_killed"] == result["non_optional"] else EXIT_TARGET_MISSED
