"""After the rollback: 手順4 as written, then the 実施後 checklist, each item a real check.

An item the harness cannot check is "not checked" (`ok: None`), never OK.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rollback_drill.runbook.executor import run_commands
from rollback_drill.runbook.meaning import checklist_check, verification_kind
from rollback_drill.observe.probes import TIMEOUT as PROBE_TIMEOUT

if TYPE_CHECKING:
    from rollback_drill.drill.engine import Drill


def verify(drill: Drill) -> list[dict]:
    step = drill.runbook.step_meaning("verify")
    records = run_commands(drill.ctx, step.commands, None, f"手順{step.number} (verify)") if step else []
    drill.monitor()
    by_text = {r.text: r for r in records}
    tl = drill.tl
    now = tl.now()
    since = tl.marks.get("recovered", now - drill.cfg.stability_s)
    bad = [f"{s.probe} at {s.t:.1f}s: {s.detail}" for s in tl.samples if s.t >= since and not s.ok]
    seen = {s.probe for s in tl.samples if s.t >= since}
    recent_ok = not bad and seen >= set(drill.probes.names)

    workers = {d for d in (drill.target.stack if drill.target else ()) if re.search(r"sidekiq|worker", d)}
    by_kind: dict[str, object] = {}
    for text, r in by_text.items():  # what each command checks, by meaning (runbook/meaning.py)
        by_kind.setdefault(verification_kind(text, workers), r)

    def rec_ok(kind: str) -> tuple[bool, str]:
        r = by_kind.get(kind)
        if r is None:
            return False, f"no {kind} command in the verification step (手順{step.number if step else 4})"
        return r.exit_code == 0, f"{r.text} -> exit {r.exit_code}"

    serving = serving_stack_ready(drill)
    health_ok, health_ev = rec_ok("health")
    if health_ok:
        out = by_kind["health"].output
        health_ok = bool(re.search(r"^HTTP/\S+ 200\b", out, re.MULTILINE)) or out.strip() == "OK"
    errlog = by_kind.get("error_log")
    worker_ok, worker_ev = rec_ok("worker")
    results = []
    for item in drill.runbook.checklists.get("after", []):
        check = checklist_check(item)  # by meaning, in either language
        if check == "service":
            ok, ev = serving
        elif check == "health":
            ok, ev = health_ok, health_ev
        elif check == "access":
            ok, ev = probe_ok(drill, "login", now), "login probe (the manual browser sign-in, automated)"
        elif check == "error_log":
            ok = errlog is not None and errlog.output.strip() == ""
            ev = "kubectl logs … | grep -i error: " + ("no error lines" if ok else
                                                       (errlog.output.strip()[:200] if errlog else "not run"))
        elif check == "jobs":
            ok, ev = worker_ok and probe_ok(drill, "jobs", now), worker_ev + " and jobs probe"
        elif check == "monitoring":
            ok = recent_ok
            ev = (f"every probe sample since recovery ({since:.1f}s) green" if ok else
                  f"failing since recovery: {bad[:3]}; probes seen {sorted(seen)}")
        else:
            results.append({"item": item, "ok": None, "evidence": "not checked: no automated check for this item"})
            continue
        results.append({"item": item, "ok": bool(ok), "evidence": ev})
    return results


def probe_ok(drill: Drill, name: str, now: float) -> bool:
    """The probe answered, and only green, in the last two probe timeouts: long enough that a probe
    which takes a few seconds on a busy machine (a sign-in with two drills on two cores) has a
    sample in it, short enough to be "now"."""
    ss = drill.tl.probe_samples(name, now - 2 * PROBE_TIMEOUT)
    return bool(ss) and all(s.ok for s in ss)


def serving_stack_ready(drill: Drill) -> tuple[bool, str]:
    """The restored stack serves: what the level brings back is there, and the last answers came from it."""
    ok, detail = drill.state.restored(drill.target, drill.env.premigration(), drill.app.release)
    judge = drill.state.serves_restored(drill.target.stack)
    last = [ss[-1] for n in drill.probes.names if (ss := drill.tl.probe_samples(n)) and ss[-1].served_by]
    foreign = [f"{s.probe}: {s.served_by} ({judge(s.served_by)[1]})" for s in last if not judge(s.served_by)[0]]
    if foreign:
        ok, detail = False, f"{detail}; answered from outside the restored stack: {foreign[:3]}"
    return ok, detail
