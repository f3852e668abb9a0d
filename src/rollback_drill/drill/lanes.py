"""Drills side by side: N lanes on one drill cluster, one drill per lane at a time.

A lane is a namespace, an Ingress host, a PostgreSQL/Redis pair, a work dir and a kubeconfig of
its own (sut/deploy.py `lane_app`, sut/datastores.py `containers`, settings.py `lane_dir`); the
runbook names no namespace, so its commands act on the lane's namespace only. Why processes and
not greenlets: a drill keeps one core busy in bursts (load, probes, watches — measured 59 % of the
two cores for one drill); in one process they would share one interpreter lock. Each lane's drill
is a child `rollback-drill mutant-drill` with $ROLLBACK_DRILL_LANE set, which every process it
starts (the gcloud stand-in) inherits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from rollback_drill.settings import LANE_ENV, MAX_LANES

CHILD_STOP_S = 90.0  # a stopped child puts its lane back (load, faults, emulation) before it goes


class LaneFailed(RuntimeError):
    """A lane's drill could not run (the harness failed, not a verdict)."""


def check_parallel(n: int) -> str:
    """'' when N lanes can run, else why not (bad input: exit 2)."""
    if not 1 <= n <= MAX_LANES:
        return f"--parallel {n}: use a number of lanes from 1 to {MAX_LANES}"
    return ""


@dataclass
class Child:
    """One drill running in a lane as a child process."""

    lane: int
    index: int
    item: object
    process: subprocess.Popen
    out: Path
    log: Path
    started: float

    def result(self) -> dict:
        """Its scenario (redacted by the child); LaneFailed when it stopped without one."""
        if not self.out.exists():
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
            raise LaneFailed(f"lane {self.lane}: drill {self.index} stopped (exit {self.process.returncode}): "
                             f"{' | '.join(tail)[:400]}")
        return json.loads(self.out.read_text())


class LanePool:
    """Starts `rollback-drill mutant-drill ARGV --mutant ID` in a lane and collects its result; `close`
    stops whatever still runs (each child puts its lane back first)."""

    def __init__(self, argv: list[str], run_dir: Path) -> None:
        self.argv, self.dir = argv, run_dir / "lanes"
        self.children: list[Child] = []

    def spawn(self, lane: int, index: int, item, mutant_id: str, extra: Sequence[str] = ()) -> Child:
        self.dir.mkdir(parents=True, exist_ok=True)
        tag = f"{index:03d}-{mutant_id.replace(':', '-')}-lane{lane}"  # one pair of files per drill
        out, log = self.dir / f"{tag}.json", self.dir / f"{tag}.log"
        cmd = [sys.executable, "-m", "rollback_drill", "mutant-drill", *self.argv, *extra, "--mutant", mutant_id,
               "--out", str(out)]
        out.unlink(missing_ok=True)
        with log.open("w") as f:
            p = subprocess.Popen(cmd, env=dict(os.environ, **{LANE_ENV: str(lane)}), stdout=f,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        child = Child(lane, index, item, p, out, log, time.monotonic())
        self.children.append(child)
        return child

    def collect(self, child: Child) -> dict:
        """A finished child's result; it is no longer the pool's to stop."""
        self.children.remove(child)
        return child.result()

    def wait(self, child: Child) -> dict:
        while child.process.poll() is None:
            time.sleep(0.5)
        return self.collect(child)

    def close(self) -> None:
        stop(c.process for c in self.children)
        self.children.clear()


def run_in_lanes(pool: LanePool, mutants: Sequence, n: int, extra: Sequence[str],
                 done: Callable[[int, object, dict, float], None], echo=print) -> None:
    """One child drill per mutant (drill/mutate.py Mutant), at most `n` at a time, lane k in 0..n-1; call
    `done(i, mutant, result, seconds)` in the order they finish. Any failure is raised (the caller
    closes the pool)."""
    queue = list(enumerate(mutants, 1))
    running: dict[int, Child] = {}
    while queue or running:
        for lane in range(n):
            if lane not in running and queue:
                i, mutant = queue.pop(0)
                running[lane] = pool.spawn(lane, i, mutant, mutant.id, extra)
                echo(f"mutate: lane {lane}: {mutant.label[:100]}")
        time.sleep(0.5)
        for lane, child in list(running.items()):
            if child.process.poll() is None:
                continue
            del running[lane]
            done(child.index, child.item, pool.collect(child), time.monotonic() - child.started)


def stop(children) -> None:
    """SIGTERM each child's process group, give it time to put its lane back, then SIGKILL."""
    children = list(children)
    for p in children:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + CHILD_STOP_S
    for p in children:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
