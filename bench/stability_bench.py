"""Benchmark (not a test): is the default drill stable? Writes bench/results/stability.json.

Runs `rollback-drill run --level 1 --trigger C1` N times on an up cluster and records each run's exit
code, verdict, recovery time and finding set (keyed as the nightly gate keys them: class|line|command).
A stable harness gives the same verdict and the same finding set every time (issue 22); a finding seen
in some runs only is timing-dependent and is listed with how often it was seen.
Run: .venv/bin/python bench/stability_bench.py [--runs 20] [--out bench/results/stability.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rollback_drill.evidence.nightly import finding_key

ROOT = Path(__file__).resolve().parents[1]


def one(reports: Path) -> dict:
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "rollback_drill", "run", "--level", "1", "--trigger", "C1"],
                       capture_output=True, text=True, env=dict(os.environ, ROLLBACK_DRILL_REPORTS=str(reports)),
                       timeout=900)
    journals = sorted(reports.rglob("journal.json"), key=lambda f: f.stat().st_mtime)
    s = json.loads(journals[-1].read_text())["scenarios"][-1] if journals else {}
    return {"exit_code": p.returncode, "verdict": s.get("verdict"), "seconds": round(time.monotonic() - t0, 1),
            "recovery_s": (s.get("durations") or {}).get("recovery_s"),
            "findings": sorted({finding_key(f) for f in s.get("findings") or []})}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "stability.json"))
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.runs):
            runs.append(one(Path(d) / f"run-{i}"))
            print(f"run {i + 1}/{args.runs}: {runs[-1]['verdict']} exit {runs[-1]['exit_code']} "
                  f"recovery {runs[-1]['recovery_s']} s, {len(runs[-1]['findings'])} findings", flush=True)
    seen = Counter(k for r in runs for k in r["findings"])
    out = {"drill": "run --level 1 --trigger C1 (local profile)", "machine": "2 cores",
           "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs,
           "verdicts": sorted({str(r["verdict"]) for r in runs}),
           "same_verdict_every_time": len({r["verdict"] for r in runs}) == 1,
           "same_findings_every_time": len({tuple(r["findings"]) for r in runs}) == 1,
           "intermittent_findings": {k: f"{n} of {len(runs)}" for k, n in sorted(seen.items()) if n < len(runs)},
           "recovery_s": sorted(r["recovery_s"] for r in runs if r["recovery_s"] is not None)}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("verdicts", "same_verdict_every_time", "same_findings_every_time",
                                          "intermittent_findings", "recovery_s")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
