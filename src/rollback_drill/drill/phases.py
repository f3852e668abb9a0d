"""Where a rollback's time went, from the drill's own records: which phases ran between the
decision and recovery, and which one dominated.

- boot: per component the level brings back, its first pod created after the decision until that
  pod is Ready (the Kubernetes watch, observe/k8s_watch.py);
- image pull: per component, the kubelet's own `Pulling` -> `Successfully pulled` of a pod of it (a
  node that lacks the image: under a profile with `image_absent_on_node`, sut/pull_registry.py);
- propagation: from the Ingress change that points at the restored stack until the first answer
  users got from that stack (X-Served-By) — the controller's or load balancer's reprogramming;
- load balancer 502s: under a profile with `ingress_502_window`, from the load balancer routing a
  changed path to a backend not yet healthy until it was programmed (users got 502);
- NEG health check: under a profile with `neg_ready`, per component, from its pod's containers being
  ready until the load balancer's health check passed (the readiness gate);
- restore: the Cloud SQL restore, from its command's start until its operation was DONE;
- waits: the runbook's own waits (`kubectl wait`, `rollout status`, `sleep`, `watch`, status lists);
- commands: every command of the level, end to end.

Phases overlap (a wait contains a boot); each is an interval on the drill's clock, reported with
its share of the recovery time, never summed into a fake total.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rollback_drill.drill.engine import Drill

WAIT = re.compile(r"^\s*(kubectl\s+(wait|rollout\s+status)\b|sleep\b|watch\b|gcloud\s+sql\s+operations\s+(list|wait))")
RESTORE = re.compile(r"^\s*gcloud\s+sql\s+backups\s+restore\b")


def _iv(name: str, start: float, end: float, decide: float, detail: str = "") -> dict:
    return {"phase": name, "from_s": round(start - decide, 1), "to_s": round(end - decide, 1),
            "s": round(max(0.0, end - start), 1), **({"detail": detail} if detail else {})}


def _restore_end(drill: Drill, start: float) -> float | None:
    """When the stand-in's restore operation that started at `start` was DONE (drill clock)."""
    if drill.env is None:
        return None
    f = drill.env.datastores.backups / "operations.json"
    try:
        ops = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    wall0 = drill.tl.wall0.timestamp()
    for op in reversed(ops):
        if op.get("type") == "RESTORE_VOLUME" and op.get("end") and op.get("status") == "DONE":
            t = datetime.fromisoformat(op["end"]).timestamp() - wall0
            if t >= start:
                return t
    return None


def _pod_span(ev: list[dict], decide: float, dep: str, starts, ends) -> tuple[dict | None, dict | None]:
    """The first event after the decision of a pod of Deployment `dep` that `starts` accepts, and the first
    later event of that same pod that `ends` accepts (None where there is none)."""
    first = next((e for e in ev if e["t"] >= decide and e["object"].startswith(f"pod/{dep}-") and starts(e)), None)
    if first is None:
        return None, None
    return first, next((e for e in ev if e["t"] >= first["t"] and e["object"] == first["object"] and ends(e)), None)


def phases(drill: Drill) -> dict | None:
    m = drill.tl.marks
    if "decide" not in m or drill.level_no is None:
        return None
    decide = m["decide"]
    end = m.get("recovered", drill.tl.now())
    step = f"Level {drill.level_no}"
    cmds = [c for c in drill.tl.commands if c.step == step or (c.level == drill.level_no and not c.step)]
    cmds = [c for c in cmds if c.start >= decide - 0.5]
    out: list[dict] = []
    if cmds:
        out.append(_iv("commands", min(c.start for c in cmds), max(c.end for c in cmds), decide,
                       f"{len(cmds)} commands"))
    waits = [c for c in cmds if WAIT.match(c.text)]
    if waits:
        out.append({**_iv("waits", min(c.start for c in waits), max(c.end for c in waits), decide),
                    "s": round(sum(c.end - c.start for c in waits), 1),
                    "detail": "; ".join(f"line {c.line} {c.end - c.start:.1f} s" for c in waits)})
    restores = [c for c in cmds if RESTORE.match(c.text)]
    if restores:  # the restore that started the operation (a form rejected as written starts none)
        c = next((r for r in reversed(restores) if "Restoring Cloud SQL instance" in r.output), restores[-1])
        done = _restore_end(drill, c.start) or c.end
        out.append(_iv("restore", c.start, max(done, c.end), decide, f"line {c.line}, until the operation was DONE"))
    stack = list(drill.target.stack) if drill.target else []
    ev = drill.tl.k8s_events
    for dep in stack:
        created, ready = _pod_span(ev, decide, dep, lambda e: e["reason"] == "PodCreated",
                                   lambda e: e["reason"] == "PodReady")
        if created is not None:
            out.append(_iv(f"boot {dep}", created["t"], ready["t"] if ready else end, decide,
                           created["object"] + ("" if ready else " (not Ready by the end)")))
    for dep in stack:
        pulling, pulled = _pod_span(ev, decide, dep, lambda e: e["reason"] == "Pulling",
                                    lambda e: e["reason"] == "Pulled" and e["message"].startswith("Successfully pulled"))
        if pulling is not None:
            out.append(_iv(f"image pull {dep}", pulling["t"], pulled["t"] if pulled else end, decide,
                           pulling["object"] + (f": {pulled['message']}" if pulled else " (not pulled by the end)")))
    change = next((e for e in ev if e["t"] >= decide and e["reason"] == "BackendsChanged"
                   and e["object"] == "ingress/mastodon" and any(d in e["message"] for d in stack)), None)
    if change is not None:
        served = next((s.t for s in drill.tl.samples if s.t >= change["t"] and s.served_by
                       and any(s.served_by.startswith(f"{d}-") for d in stack)), None)
        out.append(_iv("propagation", change["t"], served if served is not None else end, decide,
                       f"{change['message']} -> first answer from the restored stack"
                       + ("" if served is not None else " (none by the end)")))
    em = drill.tl.emulation
    bad = next((e for e in em if e["t"] >= decide and e["what"] == "load balancer 502s"), None)
    if bad is not None:
        done = next((e for e in em if e["t"] >= bad["t"] and e["what"] == "load balancer programmed"), None)
        out.append(_iv("load balancer 502s", bad["t"], done["t"] if done else end, decide,
                       "changed paths routed to backends not yet healthy" + ("" if done else " (until the end)")))
    for dep in stack:
        began = next((e for e in em if e["t"] >= decide and e["what"] == "NEG health check started"
                      and e["detail"].startswith(f"pod/{dep}-")), None)
        if began is None:
            continue
        pod = began["detail"].split(":", 1)[0]
        passed = next((e for e in em if e["t"] >= began["t"] and e["what"] == "NEG health check passed"
                       and e["detail"].startswith(f"{pod}:")), None)
        out.append(_iv(f"NEG health check {dep}", began["t"], passed["t"] if passed else end, decide,
                       pod + ("" if passed else " (not passed by the end)")))
    total = end - decide
    main = [p for p in out if p["phase"] != "commands"]
    dom = max(main, key=lambda p: p["s"], default=None)
    for p in out:
        p["share"] = round(p["s"] / total, 2) if total > 0 else None
    return {"recovery_window_s": round(total, 1), "phases": out,
            "dominant": None if dom is None else dom["phase"]}
