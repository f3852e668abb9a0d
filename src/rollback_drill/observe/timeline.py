"""One timeline per drill: marks, probe samples, load buckets and command records.

All times are seconds on the monotonic clock since the timeline started (sub-millisecond
resolution); one wall-clock anchor converts them for humans. Recovery is computed from the
recorded samples, so the number in the report is reproducible from the journal.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone


@dataclass
class ProbeSample:
    """One probe action. `t` is when its answer arrived (what detection and recovery use);
    `t_start` when it was sent. `served_by` is the pod that answered (X-Served-By), if any."""

    probe: str
    t: float
    ok: bool
    latency_s: float
    detail: str = ""
    t_start: float | None = None
    served_by: str = ""


@dataclass
class ComponentSample:
    """The state of what the level must bring back, read from the Kubernetes API at time t."""

    t: float
    ok: bool
    detail: str


@dataclass
class Bucket:
    """Requests that completed in [t, t + width): load and probes together, as users see them."""

    t: float
    requests: int = 0
    errors_5xx: int = 0
    failures: int = 0  # 5xx, connection errors and timeouts
    latencies: list[float] = field(default_factory=list)
    served_by: dict[str, int] = field(default_factory=dict)  # pod -> answers
    actions: dict[str, list[int]] = field(default_factory=dict)  # kind of user action -> [done, failed]


@dataclass
class CommandRecord:
    level: int | None
    text: str
    ran: str  # what was executed (after substitutions)
    line: int
    start: float
    end: float
    exit_code: int
    output: str
    substitution: str = ""
    note: str = ""
    rewrites: list[str] = field(default_factory=list)  # every difference between `text` and what ran
    step: str = ""  # where in the runbook: "Level 1", "手順1 (status)", "手順4 (verify)", "手順5 (monitor)"


class Timeline:
    BUCKET = 0.5

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.wall0 = datetime.now(timezone.utc)
        self.marks: dict[str, float] = {}
        self.samples: list[ProbeSample] = []
        self.buckets: dict[int, Bucket] = {}
        self.commands: list[CommandRecord] = []
        self.components: list[ComponentSample] = []
        self.k8s_events: list[dict] = []  # what the cluster did (observe/k8s_watch.py): {t, object, reason, message}
        self.emulation: list[dict] = []  # what the fidelity emulation did (sut/emulation.py): {t, what, detail}

    def now(self) -> float:
        return time.monotonic() - self.t0

    def mark(self, name: str, t: float | None = None) -> float:
        self.marks[name] = self.now() if t is None else t
        return self.marks[name]

    def wall(self, t: float) -> str:
        return datetime.fromtimestamp(self.wall0.timestamp() + t, timezone.utc).isoformat(timespec="milliseconds")

    def _bucket(self, t: float) -> Bucket:
        k = int(t / self.BUCKET)
        b = self.buckets.get(k)
        if b is None:
            b = self.buckets[k] = Bucket(k * self.BUCKET)
        return b

    def record_action(self, kind: str, ok: bool, t: float | None = None) -> None:
        """A user action of one kind (sign_in, post, media_upload, read, jobs, streaming) and whether
        it did what the user wanted: the outage report counts failures per kind."""
        b = self._bucket(self.now() if t is None else t)
        done_failed = b.actions.setdefault(kind, [0, 0])
        done_failed[0] += 1
        if not ok:
            done_failed[1] += 1

    def record_request(self, latency_s: float, status: int | None, t: float | None = None,
                       served_by: str = "") -> None:
        t = self.now() if t is None else t
        b = self._bucket(t)
        if served_by:
            b.served_by[served_by] = b.served_by.get(served_by, 0) + 1
        b.requests += 1
        b.latencies.append(latency_s)
        if status is None or status >= 500:
            b.failures += 1
        if status is not None and status >= 500:
            b.errors_5xx += 1

    def add_sample(self, s: ProbeSample) -> None:
        self.samples.append(s)
        if s.served_by:
            b = self._bucket(s.t)
            b.served_by[s.served_by] = b.served_by.get(s.served_by, 0) + 1

    def add_component_sample(self, s: ComponentSample) -> None:
        self.components.append(s)

    def actions(self, start: float, end: float) -> dict[str, dict[str, int]]:
        """User actions per kind in [start, end): {kind: {"done": n, "failed": m}}."""
        out: dict[str, dict[str, int]] = {}
        for b in self.window(start, end):
            for kind, (done, failed) in b.actions.items():
                o = out.setdefault(kind, {"done": 0, "failed": 0})
                o["done"] += done
                o["failed"] += failed
        return dict(sorted(out.items()))

    # ---- windows ----------------------------------------------------------------------------
    def window(self, start: float, end: float) -> list[Bucket]:
        return [b for k, b in sorted(self.buckets.items()) if start <= b.t < end]

    def error_ratio(self, start: float, end: float) -> tuple[float, int]:
        """(share of requests that failed with 5xx or no answer, number of requests) in [start, end)."""
        bs = self.window(start, end)
        n = sum(b.requests for b in bs)
        return ((sum(b.failures for b in bs) / n) if n else 0.0), n

    def latency_quantile(self, start: float, end: float, q: float = 0.5) -> float | None:
        lat = sorted(x for b in self.window(start, end) for x in b.latencies)
        if not lat:
            return None
        return lat[min(len(lat) - 1, int(q * len(lat)))]

    def probe_samples(self, probe: str, start: float = 0.0, end: float = float("inf")) -> list[ProbeSample]:
        return [s for s in self.samples if s.probe == probe and start <= s.t < end]

    def to_dict(self) -> dict:
        series = []
        for k, b in sorted(self.buckets.items()):
            lat = sorted(b.latencies)
            series.append({"t": round(b.t, 3), "requests": b.requests, "errors_5xx": b.errors_5xx,
                           "failures": b.failures,
                           "p50_ms": round(1000 * lat[len(lat) // 2], 1) if lat else None,
                           "p95_ms": round(1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
                           "served_by": dict(sorted(b.served_by.items())),
                           "actions": {k: {"done": v[0], "failed": v[1]} for k, v in sorted(b.actions.items())}})
        return {"started_at": self.wall0.isoformat(timespec="milliseconds"), "monotonic_t0": self.t0,
                "marks": {k: round(v, 3) for k, v in self.marks.items()},
                "commands": [asdict(c) for c in self.commands],
                "probe_samples": [asdict(s) for s in self.samples],
                "component_samples": [asdict(s) for s in self.components],
                "k8s_events": self.k8s_events, "emulation_events": self.emulation,
                "load_series": series}
