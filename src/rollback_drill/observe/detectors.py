"""Detectors: the runbook's trigger criteria turned into checks over the timeline.

The threshold comes from the runbook (5xx > 50 %, > 10 %, > 5 %, 3x normal response time);
the window, the minimum sample and the probe mapping are configuration with defaults here, and
the evidence states which were used. A criterion arrives as a `MetricSpec`, plain data the drill
derives from the runbook (drill/plan.py `metric_spec`): observation never reads the runbook.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rollback_drill.observe.timeline import Timeline

# Which steady-state probe tells each criterion kind.
# "data": Level 3's situation (rows the migration damaged), watched by the drill's data probe
# (drill/engine.py DataProbes: the pre-migration rows read back as they were written).
PROBE_FOR_KIND = {"db": "db", "login": "login", "jobs": "jobs", "media": "media", "streaming": "streaming",
                  "feature": "streaming", "data": "data"}


@dataclass(frozen=True)
class MetricSpec:
    """What a detector measures: the criterion's kind (runbook/meaning.py's kinds), its threshold
    (a ratio, 0.5 for 50 %, or a latency factor, 3.0 for 3x; None when the text states no number)
    and its text as written (said when nobody can measure it)."""

    kind: str
    threshold: float | None = None
    text: str = ""


@dataclass
class DetectorConfig:
    window_s: float = 3.0  # sliding window for ratios and latency
    min_requests: int = 20  # no verdict on fewer requests than this in the window
    consecutive_failures: int = 2  # probe-based criteria fire after this many failed samples in a row
    performance_factor: float = 2.0  # M3 "著しく低下" has no number in the runbook: default 2x baseline
    baseline_s: float = 3.0  # length of the pre-injection baseline for latency (~90 requests at the default load)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Detection:
    fired: bool
    t: float | None
    reason: str
    measured: float | None = None
    threshold: float | None = None


def baseline_latency(tl: Timeline, t_inject: float, cfg: DetectorConfig) -> float | None:
    return tl.latency_quantile(t_inject - cfg.baseline_s, t_inject, 0.5)


def check(spec: MetricSpec, tl: Timeline, t: float, t_inject: float, cfg: DetectorConfig,
          baseline: float | None) -> Detection:
    """Evaluate the trigger's criterion, as `spec`, at time t (only on data after the injection)."""
    c = spec
    start = max(t_inject, t - cfg.window_s)
    if c.kind == "error_ratio":
        ratio, n = tl.error_ratio(start, t)
        if n >= cfg.min_requests and t - t_inject >= cfg.window_s * 0.5 and ratio > c.threshold:
            return Detection(True, t, f"5xx ratio {ratio:.1%} over {n} requests > {c.threshold:.0%}", ratio, c.threshold)
        return Detection(False, None, f"5xx ratio {ratio:.1%} over {n} requests", ratio, c.threshold)
    if c.kind in ("latency_factor", "performance"):
        factor = c.threshold if c.kind == "latency_factor" else cfg.performance_factor
        p50 = tl.latency_quantile(start, t, 0.5)
        n = sum(b.requests for b in tl.window(start, t))
        if baseline and p50 is not None and n >= cfg.min_requests:
            ratio = p50 / baseline
            if ratio >= factor:
                return Detection(True, t, f"median latency {p50 * 1000:.0f} ms = {ratio:.1f}x baseline "
                                          f"{baseline * 1000:.0f} ms >= {factor:g}x", ratio, factor)
            return Detection(False, None, f"median latency {ratio:.1f}x baseline", ratio, factor)
        return Detection(False, None, "not enough latency data")
    probe = PROBE_FOR_KIND.get(c.kind)
    if probe is None:
        return Detection(False, None, f"criterion '{c.text}' is declared by a person, not measured")
    recent = tl.probe_samples(probe, t_inject, t + 1e-9)[-cfg.consecutive_failures:]
    if len(recent) == cfg.consecutive_failures and not any(s.ok for s in recent):
        return Detection(True, recent[-1].t, f"{probe} probe failed {len(recent)}x in a row: {recent[-1].detail}")
    return Detection(False, None, f"{probe} probe green")
