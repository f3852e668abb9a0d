"""Benchmark: drills side by side (not a test). Writes bench/results/parallel.json.

For each N asked (default 1 2 3 4), on an up drill cluster:
- the suite as CI runs it (`pytest -m "<mark> and not after_down" -n N`; N = 1 runs without xdist),
  wall time and every test's outcome (from its JUnit file); with --every-trigger also the suite with
  every trigger row (the @nightly rows of features/triggers.feature back in: `suite_every_trigger_s`);
- `rollback-drill mutate --level 1 --trigger C1 --parallel N`: wall time and the kill/survive set;
- the CPU seconds the machine spent meanwhile (/proc/stat busy jiffies: the cluster, the datastores
  and the load share the same two cores, which is what bounds N).
`verdicts_identical` says whether every N gave the same outcomes and the same kill set as the first.

  .venv/bin/python bench/parallel_bench.py [--n 1 --n 2] [--skip-suite] [--skip-mutation]
    [--mark "not nightly"] [--every-trigger] [--out bench/results/parallel.json]

Each N's point is written as soon as it is measured (a long run stopped midway keeps what it has).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"


def cpu_jiffies() -> tuple[int, int]:
    """(busy, idle) jiffies of the whole machine since boot."""
    f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    v = list(map(int, f))
    idle = v[3] + v[4]
    return sum(v) - idle, idle


def measured(cmd: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run `cmd`; (process, wall seconds, CPU seconds of the whole machine meanwhile)."""
    hz = os.sysconf("SC_CLK_TCK")
    b0, _ = cpu_jiffies()
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.monotonic() - t0
    b1, _ = cpu_jiffies()
    return p, wall, (b1 - b0) / hz


def suite(n: int, mark: str, junit: Path) -> dict:
    cmd = [str(VENV / "pytest"), "-p", "no:cacheprovider", "-q", "-m", f"({mark}) and not after_down",
           f"--junitxml={junit}"] + (["-n", str(n)] if n > 1 else [])
    p, wall, cpu = measured(cmd)
    outcomes = {}
    for tc in ET.parse(junit).iter("testcase"):
        state = "passed"
        for child in tc:
            if child.tag in ("failure", "error"):
                state = "failed"
            elif child.tag == "skipped":
                state = "skipped"
        outcomes[f"{tc.get('classname')}::{tc.get('name')}"] = state
    return {"suite_s": round(wall, 1), "suite_cpu_s": round(cpu, 1), "suite_exit": p.returncode,
            "tests": len(outcomes), "failed": sorted(k for k, v in outcomes.items() if v == "failed"),
            "outcomes": outcomes, "summary": p.stdout.strip().splitlines()[-1:] if p.stdout else []}


def mutation(n: int) -> dict:
    cmd = [str(VENV / "rollback-drill"), "mutate", "--level", "1", "--trigger", "C1", "--json", "--parallel", str(n)]
    p, wall, cpu = measured(cmd)
    try:
        r = json.loads(p.stdout)
    except ValueError:
        return {"mutation_s": round(wall, 1), "mutation_cpu_s": round(cpu, 1), "mutation_exit": p.returncode,
                "error": (p.stderr or p.stdout).strip().splitlines()[-3:]}
    return {"mutation_s": round(wall, 1), "mutation_cpu_s": round(cpu, 1), "mutation_exit": p.returncode,
            "killed": sorted(o["mutant"]["id"] for o in r["outcomes"] if o["outcome"] == "killed")
            if "outcomes" in r else None,
            "survived": sorted(s["mutant"]["id"] for s in r["survivors"]),
            "baseline_recovery_s": r["baseline"]["recovery_s"], "time_limit_s": r["time_limit_s"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append", help="lanes (repeatable; default 1 2 3 4)")
    ap.add_argument("--mark", default="not nightly", help="the suite's -m expression (default: as CI runs it)")
    ap.add_argument("--skip-suite", action="store_true")
    ap.add_argument("--skip-mutation", action="store_true")
    ap.add_argument("--every-trigger", action="store_true", help="also the suite with every trigger row")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "parallel.json"))
    args = ap.parse_args()
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    points = {p["n"]: p for p in previous.get("points", [])}
    for n in args.n or [1, 2, 3, 4]:
        # a re-measured N replaces its old point whole: one point, one commit (never values of two commits)
        point = {"n": n, "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                  capture_output=True, text=True).stdout.strip()}
        if not args.skip_suite:
            point.update(suite(n, args.mark, Path(f"/tmp/parallel-bench-junit-{n}.xml")))
            point["mark"] = args.mark
        if args.every_trigger:
            every = suite(n, f"({args.mark}) or trigger_rows", Path(f"/tmp/parallel-bench-junit-all-{n}.xml"))
            point.update({"suite_every_trigger_s": every["suite_s"], "suite_every_trigger_cpu_s": every["suite_cpu_s"],
                          "suite_every_trigger_tests": every["tests"], "suite_every_trigger_failed": every["failed"],
                          "every_trigger_outcomes": every["outcomes"]})
        if not args.skip_mutation:
            point.update(mutation(n))
        point["cpu_s"] = round(sum(point.get(k, 0) for k in ("suite_cpu_s", "suite_every_trigger_cpu_s",
                                                             "mutation_cpu_s")), 1)
        point["measured_order"] = time.time()  # which commit is the newest: the one compared
        points[n] = point
        print(json.dumps({k: v for k, v in point.items() if not k.endswith("outcomes")}), flush=True)
        write(out, points)
    return 0


def previous_notes(out: Path) -> list[str]:
    """What a person wrote beside the measurements (kept across runs; never a measured value)."""
    try:
        return list(json.loads(out.read_text()).get("notes", []))
    except (OSError, ValueError):
        return []


def write(out: Path, points: dict) -> None:
    ordered = [points[k] for k in sorted(points)]
    for p in ordered:
        p["verdicts"] = {"suite_failed": p.get("failed"), "mutants_survived": p.get("survived")}
    # verdicts are compared only between points of one commit, and only what two or more of them
    # measured: anything else is "not checked" (None), never "identical"
    newest = max(ordered, key=lambda p: p.get("measured_order", 0))["commit"]
    same = [p for p in ordered if p.get("commit") == newest]

    def identical(key: str) -> bool | None:
        seen = [json.dumps(p[key], sort_keys=True) for p in same if key in p]
        return None if len(seen) < 2 else len(set(seen)) == 1

    same_suite, same_every, same_kills = identical("outcomes"), identical("every_trigger_outcomes"), identical("survived")
    checked = [v for v in (same_suite, same_every, same_kills) if v is not None]
    verdicts_identical = None if not checked else all(checked)
    result = {"points": ordered, "notes": previous_notes(out),
              "verdicts_identical": verdicts_identical, "compared_commit": newest,
              "compared_n": [p["n"] for p in same],
              "suite_outcomes_identical": same_suite, "every_trigger_outcomes_identical": same_every,
              "mutation_kill_sets_identical": same_kills,
              "machine": f"{os.cpu_count()} cores", "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "points"}, indent=2), flush=True)


if __name__ == "__main__":
    sys.exit(main())
