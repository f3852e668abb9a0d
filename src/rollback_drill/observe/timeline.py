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
    probe: str
    t: float
    ok: bool
    latency_s: float
    detail: str = ""


@dataclass
class Bucket:
    """Requests that completed in [t, t + width): load and probes together, as users see them."""

    t: float
    requests: int = 0
    errors_5xx: int = 0
    failures: int = 0  # 5xx, connection errors and timeouts
    latencies: list[float] = field(default_factory=list)


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


class Timeline:
    BUCKET = 0.5

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.wall0 = datetime.now(timezone.utc)
        self.marks: dict[str, float] = {}
        self.samples: list[ProbeSample] = []
        self.buckets: dict[int, Bucket] = {}
        self.commands: list[CommandRecord] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def mark(self, name: str, t: float | None = None) -> float:
        self.marks[name] = self.now() if t is None else t
        return self.marks[name]

    def wall(self, t: float) -> str:
        return datetime.fromtimestamp(self.wall0.timestamp() + t, timezone.utc).isoformat(timespec="milliseconds")

    def record_request(self, latency_s: float, status: int | None, t: float | None = None) -> None:
        t = self.now() if t is None else t
        k = int(t / self.BUCKET)
        b = self.buckets.get(k)
        if b is None:
            b = self.buckets[k] = Bucket(k * self.BUCKET)
        b.requests += 1
        b.latencies.append(latency_s)
        if status is None or status >= 500:
            b.failures += 1
        if status is not None and status >= 500:
            b.errors_5xx += 1

    def add_sample(self, s: ProbeSample) -> None:
        self.samples.append(s)

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
                           "p95_ms": round(1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None})
        return {"started_at": self.wall0.isoformat(timespec="milliseconds"), "monotonic_t0": self.t0,
                "marks": {k: round(v, 3) for k, v in self.marks.items()},
                "commands": [asdict(c) for c in self.commands],
                "probe_samples": [asdict(s) for s in self.samples],
                "load_series": series}


def recovered_at(tl: Timeline, probes: list[str], since: float, stability_s: float,
                 max_error_ratio: float, until: float | None = None) -> float | None:
    """First instant t >= since from which every probe stays green for `stability_s` and the
    5xx/failure ratio of user requests in [t, t + stability_s) is at or below `max_error_ratio`.

    Requires at least one sample of each probe inside the window, so silence is never green.
    """
    until = tl.now() if until is None else until
    by_probe = {p: tl.probe_samples(p, since) for p in probes}
    # Candidate starts: each sample time after `since` (recovery begins at an observation).
    candidates = sorted({s.t for ss in by_probe.values() for s in ss})
    for t in candidates:
        end = t + stability_s
        if end > until:
            return None
        good = True
        for p, ss in by_probe.items():
            win = [s for s in ss if t <= s.t < end]
            # the probe's last sample before t must also not be failing at t
            if not win or not all(s.ok for s in win):
                good = False
                break
            prev = [s for s in ss if s.t < t]
            if prev and not prev[-1].ok and win[0].t > t:
                good = False
                break
        if not good:
            continue
        ratio, n = tl.error_ratio(t, end)
        if ratio <= max_error_ratio:
            return t
    return None
