"""How the harness read a runbook, and what a drill of it would do: a table a person can check in
a minute (`rollback-drill runbook PATH`), and the same as data (`--json`).

Each criterion -> kind, comparator and threshold, decision deadline, the fault a drill injects and
the detector that sees it (or "unread" with its line and how to declare it). Each level -> target,
what it restores, its commands and the objects each command touches.
"""

from __future__ import annotations

from rollback_drill.drill.mutate import is_optional
from rollback_drill.observe.detectors import PROBE_FOR_KIND, DetectorConfig, MetricSpec
from rollback_drill.runbook.meaning import objects_touched
from rollback_drill.runbook.model import Criterion, Runbook, declare_hint
from rollback_drill.sut.faults import NoFault, describe


def metric_spec(c: Criterion) -> MetricSpec:
    """The criterion as the detectors take it: plain data, so observe/ never imports the runbook."""
    return MetricSpec(c.kind, c.threshold, c.text)


def detector_of(c: Criterion, cfg: DetectorConfig | None = None) -> str:
    cfg = cfg or DetectorConfig()
    if c.kind == "error_ratio":
        return f"5xx ratio over a {cfg.window_s:g}s window {c.comparator or '>'} {c.threshold:.0%} (>= {cfg.min_requests} requests)"
    if c.kind == "latency_factor":
        return f"median latency over {cfg.window_s:g}s >= {c.threshold:g}x the pre-fault baseline"
    if c.kind == "performance":
        return (f"median latency over {cfg.window_s:g}s >= {cfg.performance_factor:g}x the pre-fault baseline "
                f"(the runbook states no number: the configured default)")
    if c.person_decides:
        return "declared by a person (not measured)"
    probe = PROBE_FOR_KIND.get(c.kind)
    if probe:
        return f"{probe} probe fails {cfg.consecutive_failures}x in a row"
    return "none"


def reading(rb: Runbook) -> dict:
    criteria = []
    for t in rb.triggers:
        c = t.criterion
        row = {"id": t.id, "severity": t.severity, "line": c.line, "text": c.text, "kind": c.kind,
               "comparator": c.comparator or None, "threshold": c.threshold, "unit": c.unit or None,
               "decision_deadline_s": t.decision_deadline_s, "declared_in": c.declared_in or None}
        if c.kind == "unread":
            row.update(fault=None, detector=None, unread=f"line {c.line}: {declare_hint(rb.path, c)}")
        else:
            try:
                row["fault"] = describe(c)
            except NoFault as e:
                row["fault"] = None
                row["unread"] = f"{e.args[0]}; {declare_hint(rb.path, c)}"
            row["detector"] = detector_of(c)
        criteria.append(row)
    levels = []
    for lv in rb.levels:
        levels.append({"number": lv.number, "title": lv.title, "line": lv.line, "target_min_s": lv.target_min_s,
                       "target_max_s": lv.target_max_s, "when": lv.when,
                       "restores": lv.restores, "restores_decided_by": list(lv.restores_evidence),
                       "commands": [{"line": c.line, "text": c.text, "optional": is_optional(c), "alternative_to": c.alternative_to,
                                     "touches": objects_touched(c.text), "rewrites": list(c.rewrites)} for c in lv.commands]})
    steps = [{"number": s.number, "title": s.title, "commands": [c.text for c in s.commands]} for s in rb.steps]
    return {"path": rb.path, "sha256": rb.sha256, "sidecar": rb.sidecar or None, "criteria": criteria,
            "levels": levels, "steps": steps, "checklists": rb.checklists, "warnings": list(rb.warnings)}


def table(r: dict) -> str:
    out = [f"runbook {r['path']} (sha256 {r['sha256'][:12]})" +
           (f", declarations from {r['sidecar']['path']}" if r.get("sidecar") else "")]
    out.append(f"{'id':4}{'line':>5}  {'kind':15}{'threshold':>10}  {'decide in':>9}  criterion")
    for c in r["criteria"]:
        thr = "" if c["threshold"] is None else (f"{c['comparator'] or ''}{c['threshold']:.0%}" if c["kind"] == "error_ratio"
                                                 else f"{c['comparator'] or ''}{c['threshold']:g}x")
        kind = "UNREAD" if c["kind"] == "unread" else c["kind"] + ("*" if c["declared_in"] else "")
        out.append(f"{c['id']:4}{c['line']:>5}  {kind:15}{thr:>10}  {c['decision_deadline_s']:>8.0f}s  {c['text']}")
        if c.get("unread"):
            out.append(f"{'':9}-> cannot drill: {c['unread'].splitlines()[0]}")
        else:
            out.append(f"{'':9}-> fault: {c['fault']}; detector: {c['detector']}")
    for lv in r["levels"]:
        out.append(f"Level {lv['number']}: {lv['title']}  target {lv['target_min_s']:.0f}-{lv['target_max_s']:.0f}s; "
                   f"restores {lv['restores']}")
        for c in lv["commands"]:
            tags = (" (optional)" if c["optional"] else "") + (" (alternative)" if c["alternative_to"] is not None else "")
            out.append(f"  {c['line']:>4} $ {c['text']}{tags}")
            if c["touches"]:
                out.append(f"         touches: {', '.join(c['touches'])}")
    unread = [c for c in r["criteria"] if c.get("unread")]
    out.append(f"{len(r['criteria'])} criteria, {len(unread)} cannot be drilled as written"
               + (" (* = declared in the sidecar)" if any(c["declared_in"] for c in r["criteria"]) else ""))
    return "\n".join(out)
