"""`rollback-drill run`: one drill outside pytest, same engine, journal and exit codes."""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401 - locust patches gevent before anything else
from rollback_drill.cluster import ClusterError, get_cluster
from rollback_drill.drill.engine import Drill, DrillError
from rollback_drill.evidence.journal import EvidenceError, Journal, new_run_id, reports_dir
from rollback_drill.evidence.report import finish_run
from rollback_drill.runbook.model import RunbookError, load_runbook

EXIT_OK, EXIT_TARGET_MISSED, EXIT_USAGE, EXIT_FINDING, EXIT_HARNESS = 0, 1, 2, 3, 4


def environment_info(cluster, runbook, drill: Drill | None) -> dict:
    st = cluster.status()
    return {"cluster": {"provider": st.provider, "kubernetes_version": st.kubernetes_version,
                        "ingress_url": st.ingress_url},
            "image": drill.env.image if drill and drill.env else None,
            "runbook": {"path": runbook.path, "sha256": runbook.sha256},
            "config": drill.cfg.to_dict() if drill else None}


def run_single(level_no: int, trigger_id: str, runbook_path: str, provider: str | None, echo=print) -> int:
    try:
        runbook = load_runbook(runbook_path)
        runbook.level(level_no)
        if level_no != 3:
            runbook.trigger(trigger_id)
    except (RunbookError, KeyError) as e:
        echo(f"rollback-drill: {e.args[0] if isinstance(e, KeyError) else e}")
        return EXIT_USAGE
    cluster = get_cluster(provider)
    try:
        if not cluster.status().ready:
            echo("cluster: bringing the local drill cluster up")
            cluster.up()
    except ClusterError as e:
        echo(f"rollback-drill: cluster up failed: {e}")
        return EXIT_HARNESS
    drill = Drill(cluster, runbook)
    run_dir = reports_dir() / new_run_id()
    journal = None
    try:
        echo("drill: deploying the just-migrated state")
        drill.prepare()
        journal = Journal(run_dir, environment_info(cluster, runbook, drill), drill.redactor)
        echo("drill: load and probes on, waiting for steady state")
        drill.start_traffic()
        if level_no == 3:
            # The last resort comes after Level 2: then the migration's damage to data is found.
            echo("drill: Level 3 is an escalation: running Level 2 first, then damaging pre-migration rows")
            drill.run_level_first(2)
            drill.corrupt_data()
            det = drill.wait_detection()
            echo(f"drill: detection: {det.reason}")
        elif trigger_id.upper() == "C4":
            drill.declare("C4", "on-call SRE (declared in the drill)")
        else:
            drill.inject(trigger_id)
            echo(f"drill: injected {drill.fault.name} for {trigger_id}: {drill.fault.description}")
            det = drill.wait_detection()
            echo(f"drill: detection: {det.reason}")
        name = f"Level {level_no} under {drill.trigger.id}"
        if not drill.detection or not drill.detection.fired:
            journal.add_scenario(drill.result(name))
            finish_run(journal)
            echo(f"FAILED: fault not detected within {drill.cfg.detection_timeout_s:.0f}s; journal {journal.path}")
            return EXIT_TARGET_MISSED
        drill.decide()
        echo(f"drill: running Level {level_no} commands")
        drill.rollback(level_no)
        drill.wait_recovery()
        drill.verify()
        drill.stop_traffic()
        res = drill.result(name)
        journal.add_scenario(res)
        finish_run(journal)
    except (DrillError, EvidenceError) as e:
        echo(f"rollback-drill: drill failed: {e}")
        return EXIT_HARNESS
    except KeyboardInterrupt:
        echo("rollback-drill: interrupted; load and probes stopped, journal marked incomplete")
        return EXIT_HARNESS
    finally:
        drill.close()
    d = res["durations"]
    lv = res["level"]
    measured = "not recovered" if d["recovery_s"] is None else f"{d['recovery_s']:.1f}s"
    echo(f"{name}: detected in {d['detection_latency_s']}s, "
         f"recovery time {measured} (target {lv['target_min_s']:.0f}-{lv['target_max_s']:.0f}s) -> {res['verdict']}")
    if res["data"]:
        d3 = res["data"]
        echo(f"  data lost by the restore (written after the backup): {d3.get('statuses_lost', 0)} of "
             f"{d3.get('statuses_before_restore', 0)} statuses, {d3.get('media_attachments_lost', 0)} of "
             f"{d3.get('media_attachments_before_restore', 0)} media")
    for f in res["findings"]:
        echo(f"  finding (line {f['line']}): {f['command']}: {f['problem']} -> {f['action']}")
    for c in res["checklist"]:
        echo(f"  [{'x' if c['ok'] else ' ' if c['ok'] is False else '-'}] {c['item']}: {c['evidence']}")
    echo(f"journal: {journal.path}")
    if res["verdict"] != "passed":
        return EXIT_TARGET_MISSED
    return EXIT_FINDING if res["findings"] else EXIT_OK
