"""Benchmark: locust as one process and in its distributed mode (1 and 2 worker processes)
against the local Ingress (not a test). Writes bench/results/load.json.

Each run offers 200 users x 20 req/s for 20 s to an unknown host, so Traefik's own 404 answers and
the load generator, not the stub, is what is measured: requests/s reached, and CPU seconds per
wall second of the master (this process) and of the workers (children, measured after they exit).
Every request of every worker reaches this process's timeline, as in a drill.
  .venv/bin/python bench/load_bench.py [--seconds 20] [--users 200]
"""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401,I001 - locust patches gevent first

import argparse
import json
import os
import resource
import time
from pathlib import Path

import gevent

ROOT = Path(__file__).resolve().parents[1]


def one(workers: int, seconds: float, users: int) -> dict:
    from rollback_drill.cluster import get_cluster
    from rollback_drill.observe.load import Load, LoadConfig
    from rollback_drill.observe.probes import Target
    from rollback_drill.observe.timeline import Timeline
    tl = Timeline()
    target = Target(get_cluster().ingress_url, "no-such-host.invalid", "x", "x", own_ingress=True)
    load = Load(target, tl, LoadConfig(users=users, rps_per_user=20.0, max_seconds=seconds + 30, workers=workers))
    s0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    load.start()
    t0 = time.monotonic()  # after the workers connected: the same measured window for every mode
    gevent.sleep(seconds)
    wall = time.monotonic() - t0  # the offered window; stopping (and the workers' last batches) is not in it
    stats = load.stop()
    s1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_self = (s1.ru_utime - s0.ru_utime) + (s1.ru_stime - s0.ru_stime)
    cpu_workers = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    in_timeline = sum(b.requests for b in tl.buckets.values())
    cpu_wall = time.monotonic() - t0
    return {"workers": workers, "users": users, "seconds": round(wall, 1), "requests": stats["requests"],
            "rps": round(stats["requests"] / wall, 1), "requests_in_timeline": in_timeline,
            "master_cpu_per_s": round(cpu_self / cpu_wall, 2), "workers_cpu_per_s": round(cpu_workers / cpu_wall, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "load.json"))
    args = ap.parse_args()
    runs = []
    for workers in (0, 1, 2):
        runs.append(one(workers, args.seconds, args.users))
        print(json.dumps(runs[-1]), flush=True)
        gevent.sleep(2)
    out = {"benchmark": "load", "cpus": os.cpu_count(), "offered_rps": args.users * 20.0, "runs": runs,
           "note": "workers 0 = users in the master process; CPU in seconds per wall second (1.0 = one core)"}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
