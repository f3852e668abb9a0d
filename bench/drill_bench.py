"""Benchmark of the drills (not a test). Writes bench/results/drill.json.

- suite: wall time of the whole feature suite (goal <= 15 min on 2 cores), detection latency per
  trigger from its journal (goal: Critical 5xx <= 5 s after injection);
- recovery: one Level 1 drill while an independent process polls /health through the Ingress at
  20 Hz; the drill's t_recovered is compared with the instant the independent poller saw the
  old stack answer 200 steadily (goal: error <= 1 s);
- load: locust alone against the Ingress (Traefik's own 404 for an unknown host, so the load
  generator, not the stub, is what is measured): requests/s and the harness's CPU share
  (goal >= 200 req/s on one core without saturating it).
Run on an up cluster: .venv/bin/python bench/drill_bench.py [--skip-suite]
"""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401 - locust patches gevent first

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import gevent

ROOT = Path(__file__).resolve().parents[1]
POLLER = r"""
import sys, time, urllib.request
url, host, until = sys.argv[1], sys.argv[2], time.monotonic() + float(sys.argv[3])
while time.monotonic() < until:
    t = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host}), timeout=1) as r:
            print(f"{t:.4f} {r.status} {r.headers.get('X-Served-By','')}", flush=True)
    except Exception as e:
        print(f"{t:.4f} 0 -", flush=True)
    time.sleep(max(0, 0.05 - (time.monotonic() - t)))
"""


def bench_suite() -> dict:
    t0 = time.monotonic()
    p = subprocess.run([str(ROOT / ".venv/bin/pytest"), "-q", "-p", "no:cacheprovider", "steps"], cwd=ROOT,
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    j = sorted(glob.glob(str(ROOT / "reports/pytest-*/journal.json")), key=os.path.getmtime)[-1]
    data = json.loads(Path(j).read_text())
    det = {}
    for s in data["scenarios"]:
        if s["trigger"] and s["durations"]["detection_latency_s"] is not None:
            det.setdefault(s["trigger"]["id"], []).append(s["durations"]["detection_latency_s"])
    c1 = max(det.get("C1", [99]))
    return {"wall_s": round(wall, 1), "goal_s": 900, "passed": p.returncode == 0,
            "summary": p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "",
            "detection_latency_s": det, "critical_5xx_detection_s": c1, "critical_goal_met": c1 <= 5.0}


def bench_recovery() -> dict:
    from rollback_drill.cluster import get_cluster
    from rollback_drill.drill import pipeline
    from rollback_drill.drill.engine import Drill
    from rollback_drill.drill.pipeline import DrillPlan
    from rollback_drill.runbook.model import load_runbook
    from rollback_drill import DEFAULT_RUNBOOK
    cluster = get_cluster()
    drill = Drill(cluster, load_runbook(DEFAULT_RUNBOOK))
    drill.prepare()
    poll = subprocess.Popen([sys.executable, "-c", POLLER, drill.env.ingress_url + "/health", drill.app.host, "120"],
                            stdout=subprocess.PIPE, text=True)
    try:
        pipeline.run(drill, DrillPlan(1, "C1", verify="never"))
    finally:
        drill.close()
        poll.terminate()
    lines = [ln.split() for ln in poll.stdout.read().splitlines()]
    t0 = drill.tl.t0
    decide = drill.tl.marks["decide"]
    stab = drill.cfg.stability_s
    samples = [(float(t) - t0, int(code), who) for t, code, who in lines]
    indep = None
    for i, (t, code, who) in enumerate(samples):
        if t < decide or code != 200 or not who.startswith("mastodon-web-"):
            continue
        window = [s for s in samples[i:] if s[0] < t + stab]
        if window and window[-1][0] >= t + stab - 0.2 and all(c == 200 and w.startswith("mastodon-web-")
                                                              for _, c, w in window):
            indep = t
            break
    rec = drill.recovered
    return {"drill_recovery_s": None if rec is None else round(rec - decide, 3),
            "independent_recovery_s": None if indep is None else round(indep - decide, 3),
            "error_s": None if rec is None or indep is None else round(abs(rec - indep), 3), "goal_s": 1.0,
            "note": "independent = a separate process polling /health at 20 Hz, old stack answering 200 "
                    "for the whole stability window"}


def bench_load(seconds: float = 20.0, users: int = 40) -> dict:
    from rollback_drill.observe.load import Load, LoadConfig
    from rollback_drill.observe.probes import Target
    from rollback_drill.observe.timeline import Timeline
    from rollback_drill.cluster import get_cluster
    tl = Timeline()
    target = Target(get_cluster().ingress_url, "no-such-host.invalid", "x", "x", own_ingress=True)
    load = Load(target, tl, LoadConfig(users=users, rps_per_user=20.0, max_seconds=seconds + 5))
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    load.start()
    gevent.sleep(seconds)
    stats = load.stop()
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"users": users, "seconds": round(wall, 1), "requests": stats["requests"],
            "rps": round(stats["requests"] / wall, 1), "harness_cpu_share_of_one_core": round(cpu / wall, 2),
            "max_rss_mb": round(r1.ru_maxrss / 1024, 1), "goal_rps": 200,
            "goal_met": stats["requests"] / wall >= 200 and cpu / wall < 0.9}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-suite", action="store_true")
    args = ap.parse_args()
    out = {"load": bench_load(), "recovery": bench_recovery()}
    if not args.skip_suite:
        out["suite"] = bench_suite()
    p = ROOT / "bench" / "results" / "drill.json"
    p.parent.mkdir(exist_ok=True)
    p.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
