"""`run --profile P --samples N`: a distribution of recovery times, not one point.

A profile gives each latency a value and a range (published or assumed spread). One drill at the
values says what happens if production is exactly typical; the runbook's targets are about the bad
nights too. Here each of N drills gets its own profile — every parameter with a range drawn
uniformly from it (a seeded generator: the same seed draws the same profiles, so a re-run is the
same experiment) — written as a profile file of its own whose every drawn value says where it came
from. The drills run side by side, one per lane (drill/lanes.py; each a child `rollback-drill run`
with its own reports folder under the run's), and the run reports recovery P50 and P95 against
the level's target, nearest-rank over all N: a drill that did not recover counts as slower than
any that did (its P95 is then "not recovered", never a number it did not have).

What is drawn is the profile's statement of uncertainty, not a measurement of GKE: the evidence
names the seed, each sample's values and the profile's sources.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from rollback_drill.drill.lanes import stop
from rollback_drill.evidence.journal import atomic_write, new_run_id, reports_dir
from rollback_drill.settings import LANE_ENV
from rollback_drill.sut.profile import Profile, ProfileError

EXIT_OK, EXIT_TARGET_MISSED, EXIT_HARNESS = 0, 1, 4


def draw(profile: Profile, rng: random.Random) -> dict[str, float]:
    """One value per parameter that has a range (uniform, rounded to 0.1), in the profile's order; the
    502 window never longer than the propagation it is the last part of (drawn after it, capped)."""
    out: dict[str, float] = {}
    for name, p in profile.params.items():
        if p.range is None:
            continue
        lo, hi = p.range
        if name == "ingress_502_window" and "ingress_propagation" in out:
            hi = min(hi, out["ingress_propagation"])
            lo = min(lo, hi)
        out[name] = round(rng.uniform(lo, hi), 1)
    return out


def drawn_profile(profile: Profile, values: dict[str, float], seed: int, index: int) -> dict:
    """The profile as a file's data with the drawn values, each source saying how it was drawn."""
    data = yaml.safe_load(Path(profile.path).read_text(encoding="utf-8"))
    data["profile"] = f"{profile.name}-sample-{index}"
    data["description"] = (f"{profile.description} Sample {index} of `--samples` (seed {seed}): every parameter "
                           f"with a range drawn uniformly from it.").strip()
    for name, value in values.items():
        spec = data["parameters"][name]
        spec["source"] = (f"drawn {value:g} uniformly from [{spec['range'][0]:g}, {spec['range'][1]:g}] (seed {seed}, "
                          f"sample {index}) of {profile.name}'s value {spec['value']:g}: {spec['source']}")
        spec["value"] = value
    return data


def nearest_rank(values: list[float], q: float) -> float:
    """The q-quantile (0 < q <= 1) by nearest rank: a value that was measured, never interpolated."""
    xs = sorted(values)
    return xs[max(0, math.ceil(q * len(xs)) - 1)]


def summary(samples: list[dict], target_min_s: float, target_max_s: float) -> dict:
    """P50/P95 of recovery over every sample; a sample without recovery ranks above all that recovered."""
    rec = [s["recovery_s"] if s["recovery_s"] is not None else math.inf for s in samples]

    def q(x: float) -> float | None:
        v = nearest_rank(rec, x)
        return None if math.isinf(v) else round(v, 1)
    return {"n": len(samples), "p50_s": q(0.5), "p95_s": q(0.95),
            "within_target": sum(1 for r in rec if r <= target_max_s), "target_s": [target_min_s, target_max_s],
            "verdicts": sorted({s["verdict"] for s in samples}),
            "quantiles": "nearest rank over all samples; a sample that did not recover ranks above every one "
                         "that did (its quantile is null: not recovered)"}


@dataclass
class Sample:
    index: int
    values: dict[str, float]
    profile_file: Path
    reports: Path
    log: Path
    lane: int = -1
    process: subprocess.Popen | None = None


def _outcome(s: Sample) -> dict:
    """The sample's drill from its own journal (what the child wrote); RuntimeError when there is none."""
    journals = sorted(s.reports.glob("*/journal.json"))
    tail = " | ".join(s.log.read_text(errors="replace").strip().splitlines()[-3:]) if s.log.exists() else ""
    if not journals:
        raise RuntimeError(f"sample {s.index} (lane {s.lane}) wrote no journal (exit "
                           f"{s.process.returncode if s.process else '?'}): {tail[:400]}")
    data = json.loads(journals[-1].read_text())
    sc = (data.get("scenarios") or [None])[-1]
    if not data.get("complete") or sc is None:
        raise RuntimeError(f"sample {s.index} (lane {s.lane}): its drill did not finish: {tail[:400]}")
    return {"index": s.index, "values": s.values, "profile_file": s.profile_file.name,
            "journal": str(journals[-1].relative_to(s.reports.parent.parent)), "verdict": sc["verdict"],
            "recovery_s": sc["durations"]["recovery_s"],
            "dominant": (sc.get("phases") or {}).get("dominant"), "level": sc["level"]}


def run_samples(level_no: int, trigger_id: str, runbook_path: str, provider: str | None, profile: Profile,
                n: int, seed: int, parallel: int, db_size_gb: float | None = None, echo=print) -> int:
    """N drills of the level under profiles drawn from `profile`'s ranges, `parallel` at a time."""
    from rollback_drill.drill.runner import cluster_that_is_up, preconditions
    runbook, code, msg = preconditions(level_no, trigger_id, runbook_path)
    if runbook is None:
        echo(msg)
        return code
    if not any(p.range for p in profile.params.values()):
        echo(f"rollback-drill: --samples: the profile {profile.name} gives no parameter a range to draw from "
             f"(use --profile gke, or a profile whose parameters have `range: [low, high]`)")
        return 2
    if cluster_that_is_up(provider, echo) is None:  # N drills must not each try to bring it up at once
        return EXIT_HARNESS
    run_dir = reports_dir() / new_run_id()
    folder = run_dir / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    todo: list[Sample] = []
    for i in range(1, n + 1):
        values = draw(profile, rng)
        f = folder / f"profile-{i:03d}.yaml"
        f.write_text(yaml.safe_dump(drawn_profile(profile, values, seed, i), allow_unicode=True, sort_keys=False))
        todo.append(Sample(i, values, f, folder / f"{i:03d}", folder / f"{i:03d}.log"))
    base = [sys.executable, "-m", "rollback_drill", "run", "--level", str(level_no), "--trigger", trigger_id,
            "--runbook", runbook_path] + (["--provider", provider] if provider else []) + \
           (["--db-size", f"{db_size_gb:g}"] if db_size_gb is not None else [])
    echo(f"samples: {n} drills of Level {level_no} under {trigger_id.upper()}, profile {profile.name} drawn "
         f"(seed {seed}), {parallel} side by side; {folder}")
    running: dict[int, Sample] = {}
    done: list[dict] = []
    queue = list(todo)
    t0 = time.monotonic()

    def interrupted(signum, frame) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    try:
        while queue or running:
            for lane in range(parallel):
                if lane not in running and queue:
                    s = queue.pop(0)
                    s.lane = lane
                    s.reports.mkdir(parents=True, exist_ok=True)
                    with s.log.open("w") as log:
                        s.process = subprocess.Popen(
                            base + ["--profile", str(s.profile_file)], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, **{LANE_ENV: str(lane), "ROLLBACK_DRILL_REPORTS": str(s.reports)}),
                            start_new_session=True)
                    running[lane] = s
            time.sleep(0.5)
            for lane, s in list(running.items()):
                if s.process.poll() is None:
                    continue
                del running[lane]
                out = _outcome(s)
                done.append(out)
                rec = "not recovered" if out["recovery_s"] is None else f"{out['recovery_s']:.1f} s"
                echo(f"samples: [{out['index']}/{n}] lane {lane}: recovery {rec} -> {out['verdict']} "
                     f"(" + ", ".join(f"{k} {v:g}" for k, v in s.values.items()) + ")")
    except (RuntimeError, ProfileError) as e:
        echo(f"rollback-drill: {e}")
        return EXIT_HARNESS
    except KeyboardInterrupt:
        echo(f"rollback-drill: interrupted: the sample drills still running were stopped (each puts its lane "
             f"back); {len(done)} of {n} finished, in {folder}")
        return EXIT_HARNESS
    finally:  # an interruption or a failed sample: every drill still running stops and puts its lane back
        stop(s.process for s in running.values() if s.process is not None)
    done.sort(key=lambda d: d["index"])
    lv = done[0]["level"]
    summ = summary(done, lv["target_min_s"], lv["target_max_s"])
    record = {"level": level_no, "trigger": trigger_id.upper(), "profile": profile.name, "profile_file": profile.path,
              "seed": seed, "parallel": parallel, "wall_s": round(time.monotonic() - t0, 1), **summ,
              "samples": done}
    atomic_write(run_dir / "samples.json", json.dumps(record, indent=2, ensure_ascii=False))
    p50 = "not recovered" if summ["p50_s"] is None else f"{summ['p50_s']:.1f} s"
    p95 = "not recovered" if summ["p95_s"] is None else f"{summ['p95_s']:.1f} s"
    echo(f"Level {level_no} under {trigger_id.upper()}, profile {profile.name}, {n} samples (seed {seed}): recovery "
         f"P50 {p50}, P95 {p95} (target {lv['target_min_s']:.0f}-{lv['target_max_s']:.0f} s); "
         f"{summ['within_target']} of {n} within the target")
    echo(f"samples: {run_dir / 'samples.json'}")
    return EXIT_OK if summ["within_target"] == n and all(d["verdict"] == "passed" for d in done) \
        else EXIT_TARGET_MISSED
