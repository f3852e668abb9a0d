"""Benchmark: mutation testing of the runbook's levels (not a test). Writes bench/results/mutation.json.

For each level asked (default 1 and 2, under C1 and C2), `rollback-drill mutate` runs the
baseline drill and one drill per mutant; recorded per level: mutants, killed, kill ratio,
non-optional mutants killed, survivors with the reason, and the wall time (goal: one level
<= 6 min on 2 cores). Run on an up cluster (the nightly workflow does):
  .venv/bin/python bench/mutation_bench.py [--level 1 --trigger C1] ...
"""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401,I001 - locust patches gevent first

import argparse
import json
import time
from pathlib import Path

from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.drill.runner import run_mutate

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 360.0
DEFAULT = [(1, "C1"), (2, "C2")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", type=int, action="append", help="level to mutate (repeatable)")
    ap.add_argument("--trigger", action="append", help="trigger for the level at the same position")
    ap.add_argument("--only", action="append", default=[], help="mutant id to run (repeatable; default: all)")
    ap.add_argument("--parallel", type=int, default=1, help="mutants' drills N at a time, one lane each (mutate --parallel)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "mutation.json"))
    args = ap.parse_args()
    pairs = list(zip(args.level, args.trigger or ["C1"] * len(args.level))) if args.level else DEFAULT
    results = []
    worst = 0
    for level, trigger in pairs:
        lines: list[str] = []
        t0 = time.monotonic()
        code = run_mutate(level, trigger, str(DEFAULT_RUNBOOK), None, echo=lambda m: (print(m, flush=True)),
                          as_json=True, out=lines.append, only=tuple(args.only), parallel=args.parallel)
        wall = time.monotonic() - t0
        worst = max(worst, code)
        if not lines:
            results.append({"level": level, "trigger": trigger, "exit_code": code, "wall_s": round(wall, 1),
                            "error": "no result (see the output above)"})
            continue
        r = json.loads(lines[-1])
        results.append({"level": level, "trigger": trigger, "exit_code": code, "mutants": r["mutants"],
                        "killed": r["killed"], "kill_ratio": r["kill_ratio"],
                        "non_optional": r["non_optional"], "non_optional_killed": r["non_optional_killed"],
                        "baseline_recovery_s": r["baseline"]["recovery_s"], "time_limit_s": r["time_limit_s"],
                        "survivors": [{"id": s["mutant"]["id"], "step": s["step"], "optional": s["mutant"]["optional"],
                                       "why": s["killed_by"]} for s in r["survivors"]],
                        "wall_s": round(wall, 1), "goal_s": GOAL_S, "goal_met": wall <= GOAL_S,
                        "parallel": args.parallel})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"levels": results, "machine": "2 cores", "measured_at": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
