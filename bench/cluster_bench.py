"""Benchmark of the cluster layer (not a test): cold build, warm `cluster up`, `cluster down`.

Writes bench/results/cluster.json. Goal (issue 2): warm bring-up <= 60 s on 2 cores.
The cold build is measured only with --cold (it deletes the binary cache: ~15 min).
Run: .venv/bin/python bench/cluster_bench.py [--cold] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(ROOT / ".venv" / "bin" / "rollback-drill")]


def timed(cmd: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold", action="store_true", help="also measure a cold build (deletes the cache)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from rollback_drill.settings import cache_dir
    result: dict = {"machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()}}
    if args.cold:
        subprocess.run(CLI + ["cluster", "down"], check=True, capture_output=True)
        shutil.rmtree(cache_dir() / "bin", ignore_errors=True)
        shutil.rmtree(cache_dir() / "gocache", ignore_errors=True)
        result["cold_build_s"] = round(timed(["bash", str(ROOT / "cluster/local/build-binaries.sh")]), 1)
    ups, downs = [], []
    for _ in range(args.runs):
        downs.append(timed(CLI + ["cluster", "down"]))
        ups.append(timed(CLI + ["cluster", "up"]))  # returns at node Ready + Ingress serving
    result["warm_up_to_ready_and_ingress_s"] = {"runs": [round(x, 2) for x in ups],
                                                "median": round(statistics.median(ups), 2), "goal": 60}
    result["down_s"] = {"runs": [round(x, 2) for x in downs[1:] or downs],
                        "median": round(statistics.median(downs[1:] or downs), 2)}
    result["warm_goal_met"] = statistics.median(ups) <= 60
    out = ROOT / "bench" / "results" / "cluster.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
