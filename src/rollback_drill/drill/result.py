"""What the evidence says about one drill: timeline, durations against targets, what users saw
per kind of action, why recovery was (or was not) declared, findings, rewrites and the verdict."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from rollback_drill.drill.phases import phases
from rollback_drill.drill.verdict import verdict
from rollback_drill.runbook.analysis import ordered
from rollback_drill.sut.restore_model import projection

if TYPE_CHECKING:
    from rollback_drill.drill.engine import Drill


def result(drill: Drill, name: str, interrupted: bool = False) -> dict:
    tl, m = drill.tl, drill.tl.marks
    level = drill.runbook.level(drill.level_no) if drill.level_no else None
    rec_s = (m["recovered"] - m["decide"]) if "recovered" in m and "decide" in m else None
    det_s = (m["detect"] - m["inject"]) if "detect" in m and "inject" in m else None
    dec_s = (m["decide"] - m["detect"]) if "decide" in m and "detect" in m else None
    first = min((c.start for c in tl.commands if level and c.level == level.number and "decide" in m
                 and c.start >= m["decide"]), default=None)
    start_s = None if first is None else first - m["decide"]
    t_from = m.get("inject", 0.0)
    t_to = m.get("recovered", tl.now())
    failed = sum(b.failures for b in tl.window(t_from, t_to))
    total = sum(b.requests for b in tl.window(t_from, t_to))
    error_seconds = sum(tl.BUCKET for b in tl.window(t_from, t_to) if b.failures)
    # what the rollback itself cost the users: decision -> recovery (mutation testing compares it)
    r_from, r_to = m.get("decide"), m.get("recovered", tl.now())
    during_buckets = [] if r_from is None else list(tl.window(r_from, r_to))
    during = None if r_from is None else {
        "failed_requests": sum(b.failures for b in during_buckets),
        "requests": sum(b.requests for b in during_buckets), "window": [round(r_from, 3), round(r_to, 3)]}
    within = None if (rec_s is None or level is None) else rec_s <= level.target_max_s
    trig = drill.trigger
    deadline_ok = None if dec_s is None or trig is None else \
        dec_s <= trig.decision_deadline_s + drill.cfg.decision_slack_s
    checks_ok = all(c["ok"] is not False for c in drill.checklist) if drill.checklist else None
    v = verdict(detected=bool(drill.detection and drill.detection.fired), level_run=level is not None,
                recovery_s=rec_s, target_max_s=level.target_max_s if level else None, decision_s=dec_s,
                decision_deadline_s=trig.decision_deadline_s if trig else None,
                decision_slack_s=drill.cfg.decision_slack_s, checks_ok=checks_ok, interrupted=interrupted)
    return {
        "name": name,
        "plan": drill.plan.to_dict() if drill.plan is not None else None,  # what was drilled, as data
        "trigger": None if trig is None else {
            "id": trig.id, "severity": trig.severity, "criterion": trig.criterion.text,
            "kind": trig.criterion.kind, "threshold": trig.criterion.threshold,
            "decision_deadline_s": trig.decision_deadline_s},
        "fault": None if drill.fault is None else asdict(drill.fault),
        "decided_by": drill.decided_by,
        "escalated_from_levels": drill.pre_levels,
        "level": None if level is None else {"number": level.number, "title": level.title,
                                             "target_min_s": level.target_min_s, "target_max_s": level.target_max_s},
        "restores": None if drill.target is None else {"stack": list(drill.target.stack),
                                                       "full_state": drill.target.full_state,
                                                       "database": drill.target.database,
                                                       "meaning": drill.target.describe()},
        "detection": None if drill.detection is None else asdict(drill.detection),
        "baseline_latency_ms": None if drill.baseline is None else round(drill.baseline * 1000, 1),
        "durations": {"detection_latency_s": _r(det_s), "decision_s": _r(dec_s), "recovery_s": _r(rec_s),
                      "start_s": _r(start_s), "within_target": within, "decision_within_deadline": deadline_ok},
        "recovery": None if drill.recovery is None else drill.recovery.to_dict(),
        "outage": {"failed_requests": failed, "requests": total, "error_seconds": error_seconds,
                   "window": [round(t_from, 3), round(t_to, 3)],
                   "actions": tl.actions(t_from, t_to), "during_rollback": during},
        "data": drill.data,
        "checklist": drill.checklist,
        "findings": [f.to_dict() for f in ordered(drill.ctx.findings if drill.ctx else [])],
        "substitutions": sorted({c.substitution for c in tl.commands if c.substitution}),
        "load": drill.load_stats,
        "profile": drill.cfg.profile.to_dict(drill.cfg.db_size_gb),
        "harness_changes": drill.changes.to_dict(),
        "emulation": None if drill.emulation is None else {"changes": drill.emulation.changes,
                                                           "reverted": drill.emulation.reverted},
        "phases": phases(drill),
        "restore_projection": restore_projection(drill),
        "timeline": tl.to_dict(),
        "verdict": v,
        "phase": drill.phase,
    }


def restore_projection(drill: Drill) -> dict | None:
    """For a level that restores the database: the restore time projected for the production size, from
    this machine's measured pg_restore curve (a range) and from the profile's Cloud SQL model (assumed).
    Neither is set beside the level's target: this machine's PostgreSQL is not Cloud SQL, and the model is
    not a measurement."""
    level = drill.runbook.level(drill.level_no) if drill.level_no else None
    if level is None or drill.target is None or not drill.target.database:
        return None
    prof = drill.cfg.profile
    size = drill.cfg.db_size_gb if drill.cfg.db_size_gb is not None else prof.database_size_gb
    if size is None:
        return {"size_gb": None, "statement": "restore not projected: no production database size (give --db-size "
                                              "or database_size_gb in the runbook's sidecar)"}
    pr = projection(size)
    modelled = prof.restore_s(size) + prof["cloudsql_pending"] if prof.emulates else None
    if pr is None:
        parts = [f"restore of {size:g} GB: no restore benchmark recorded (bench/restore_bench.py)"]
    elif pr.get("range_s"):
        lo, hi = pr["range_s"]
        parts = [f"restore of {size:g} GB on this machine's PostgreSQL: {lo / 60:.1f}-{hi / 60:.1f} min ({pr['basis']})"]
    else:
        parts = [f"restore of {size:g} GB on this machine's PostgreSQL: {pr['restore_min']:g} min ({pr['basis']})"]
    if modelled is not None:
        parts.append(f"the {prof.name} profile's Cloud SQL model (assumed, not measured): {modelled / 60:.1f} min")
    return {"size_gb": size, "pg_restore": pr, "modelled_s": modelled, "statement": "; ".join(parts)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
