"""When is the service recovered, and why: the four conditions, evaluated over the timeline.

`t_recovered` is the first instant t (after the rollback started) such that for the whole
stability window [t, t + stability):

(a) the trigger's own criterion is false again, measured the way it was detected: every
    detector window ending in the stability window is under the runbook's threshold (5xx
    ratio, latency against the pre-fault baseline), or the criterion's probe is green;
    a criterion a person declares (a security problem) cannot be measured and says so;
(b) every steady-state probe is green, and the failed share of user requests is at or under
    the lowest 5xx threshold of the runbook;
(c) every answer (load and probes) came from a pod of the stack the level restores, looked up
    by the pod's owner in the Kubernetes API, not by its name;
(d) every component the level brings back is Available and the state it restores matches
    the pre-migration state (sampled from the API into the timeline).

Each condition needs at least one observation inside the window: silence is never green.
The result says, per condition, since when it held and, if it did not, the last reason why,
so a reader of the journal sees why recovery was (or was not) declared.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass
from typing import Callable

from rollback_drill.observe.detectors import PROBE_FOR_KIND, DetectorConfig
from rollback_drill.observe.timeline import Timeline
from rollback_drill.runbook.model import Trigger

LABELS = {
    "a": "the trigger's own criterion is false again",
    "b": "every steady-state probe is green and user failures are under the lowest 5xx threshold",
    "c": "every answer comes from the stack the level restores",
    "d": "every component the level brings back is Available and matches the pre-migration state",
}


@dataclass
class Condition:
    key: str
    label: str
    held_since: float | None  # from then on it held up to the end of the evaluation
    holds: bool  # held over the stability window that decided (or the last one evaluated)
    detail: str  # the evidence, or the last reason it did not hold

    def to_dict(self) -> dict:
        d = asdict(self)
        d["held_since"] = None if self.held_since is None else round(self.held_since, 3)
        return d


@dataclass
class Recovery:
    t_recovered: float | None
    evaluated_until: float
    conditions: list[Condition]
    settled: str = ""  # why the wait ended before its limit: what nothing left could bring back

    def to_dict(self) -> dict:
        return {"t_recovered": None if self.t_recovered is None else round(self.t_recovered, 3),
                "evaluated_until": round(self.evaluated_until, 3),
                "conditions": [c.to_dict() for c in self.conditions], "settled": self.settled}

    def failing(self) -> list[Condition]:
        return [c for c in self.conditions if not c.holds]

    def may_start_by(self, t: float) -> bool:
        """Whether a recovery window starting at or before `t` can still complete: every condition has held
        continuously since then up to the end of this evaluation (a window starts only where each holds)."""
        return all(c.held_since is not None and c.held_since <= t for c in self.conditions)


class _Series:
    """Observations (time, ok, detail) of one thing, with window queries by bisection."""

    def __init__(self, events: list[tuple[float, bool, str]]) -> None:
        events = sorted(events, key=lambda e: e[0])
        self.times = [e[0] for e in events]
        self.oks = [e[1] for e in events]
        self.details = [e[2] for e in events]
        self.bad_idx = [i for i, ok in enumerate(self.oks) if not ok]
        self.bad_times = [self.times[i] for i in self.bad_idx]

    def holds(self, t: float, end: float) -> bool:
        """Green at instant t, green throughout [t, end), and observed at least once in it."""
        i = bisect_right(self.times, t) - 1
        if i >= 0 and not self.oks[i]:
            return False
        j = bisect_left(self.bad_times, t)
        if j < len(self.bad_times) and self.bad_times[j] < end:
            return False
        k = bisect_left(self.times, t)
        return k < len(self.times) and self.times[k] < end

    def last_bad(self, until: float) -> tuple[float, str] | None:
        j = bisect_left(self.bad_times, until) - 1
        if j < 0:
            return None
        i = self.bad_idx[j]
        return self.times[i], self.details[i]

    def first_after(self, t: float, since: float) -> float | None:
        k = bisect_right(self.times, t) if t >= since else bisect_left(self.times, since)
        return self.times[k] if k < len(self.times) else None


@dataclass
class RecoveryCheck:
    """The inputs of the four conditions; `evaluate` is pure over the timeline."""

    tl: Timeline
    trigger: Trigger | None
    probes: tuple[str, ...]
    detector: DetectorConfig
    baseline_s: float | None
    stability_s: float
    max_error_ratio: float
    serves_restored: Callable[[str], tuple[bool, str]]  # pod -> (belongs to the restored stack, why)

    # ---- the series of each condition --------------------------------------------------------
    def _criterion(self, since: float, until: float) -> tuple[list[_Series], str]:
        c = self.trigger.criterion if self.trigger else None
        if c is None:
            return [], "no trigger: nothing to measure"
        w = self.detector.window_s
        ends = [since + w + i * self.tl.BUCKET for i in range(int(max(0.0, until - since - w) / self.tl.BUCKET) + 1)]
        if c.kind == "error_ratio":
            ev = []
            for e in ends:
                ratio, n = self.tl.error_ratio(e - w, e)
                ok = n >= self.detector.min_requests and ratio <= c.threshold
                ev.append((e, ok, f"5xx ratio {ratio:.1%} over {n} requests in [{e - w:.1f}, {e:.1f})s "
                                  f"(threshold {c.threshold:.0%}, minimum {self.detector.min_requests} requests)"))
            return [_Series(ev)], f"5xx ratio of every {w:g}s detector window at or under {c.threshold:.0%}"
        if c.kind in ("latency_factor", "performance"):
            factor = c.threshold if c.kind == "latency_factor" else self.detector.performance_factor
            if not self.baseline_s:
                return [_Series([])], "no pre-fault latency baseline was recorded"
            limit = factor * self.baseline_s
            ev = []
            for e in ends:
                p50 = self.tl.latency_quantile(e - w, e, 0.5)
                n = sum(b.requests for b in self.tl.window(e - w, e))
                ok = p50 is not None and n >= self.detector.min_requests and p50 < limit
                ev.append((e, ok, f"median latency {'-' if p50 is None else f'{p50 * 1000:.0f} ms'} over {n} "
                                  f"requests in [{e - w:.1f}, {e:.1f})s (limit {factor:g}x baseline "
                                  f"{self.baseline_s * 1000:.0f} ms = {limit * 1000:.0f} ms)"))
            return [_Series(ev)], f"median latency of every {w:g}s window under {factor:g}x the pre-fault baseline"
        probe = PROBE_FOR_KIND.get(c.kind)
        if probe is None or probe not in self.probes:
            return [], f"not measurable: '{c.text}' is declared by a person (kind {c.kind})"
        return [self._probe_series(probe, since)], f"the {probe} probe is green"

    def _probe_series(self, probe: str, since: float) -> _Series:
        # one sample before `since` gives the state at the start of the window
        ss = self.tl.probe_samples(probe)
        return _Series([(s.t, s.ok, f"{probe}: {s.detail}") for s in ss])

    def _answers(self) -> _Series:
        ev: list[tuple[float, bool, str]] = []
        cache: dict[str, tuple[bool, str]] = {}

        def judge(pod: str) -> tuple[bool, str]:
            if pod not in cache:
                cache[pod] = self.serves_restored(pod)
            return cache[pod]

        for s in self.tl.samples:
            if s.served_by:
                ok, why = judge(s.served_by)
                ev.append((s.t, ok, f"{s.probe} probe answered by {s.served_by} ({why})"))
        # copies: `judge` may ask the API about a pod (a gevent switch), and meanwhile the load adds
        # buckets and answers — iterating the live dicts failed with "dictionary changed size"
        for b in list(self.tl.buckets.values()):
            served = dict(b.served_by)
            if served:
                bad = {p: n for p, n in served.items() if not judge(p)[0]}
                if bad:
                    p, n = max(bad.items(), key=lambda x: x[1])
                    ev.append((b.t, False, f"{sum(bad.values())} answers in [{b.t:.1f}, {b.t + self.tl.BUCKET:.1f})s "
                                           f"from outside the restored stack, e.g. {p} ({judge(p)[1]})"))
                else:
                    ev.append((b.t, True, f"{sum(served.values())} answers from the restored stack"))
        return _Series(ev)

    def _components(self) -> _Series:
        return _Series([(c.t, c.ok, c.detail) for c in self.tl.components])

    # ---- evaluation ---------------------------------------------------------------------------
    def evaluate(self, since: float, until: float | None = None) -> Recovery:
        until = self.tl.now() if until is None else until
        stab = self.stability_s
        a_series, a_what = self._criterion(since, until)
        probe_series = {p: self._probe_series(p, since) for p in self.probes}
        c_series = self._answers()
        d_series = self._components()

        def ratio_ok(t: float, end: float) -> bool:
            ratio, _ = self.tl.error_ratio(t, end)
            return ratio <= self.max_error_ratio

        def holds(key: str, t: float, end: float) -> bool:
            if key == "a":
                return all(s.holds(t, end) for s in a_series)
            if key == "b":
                return all(s.holds(t, end) for s in probe_series.values()) and ratio_ok(t, end)
            if key == "c":
                return c_series.holds(t, end)
            return d_series.holds(t, end)

        all_series = [*a_series, *probe_series.values(), c_series, d_series]
        candidates = sorted({x for s in all_series for x in s.times if since <= x <= until - stab})
        t_rec = None
        for t in candidates:
            if all(holds(k, t, t + stab) for k in "abcd"):
                t_rec = t
                break
        end = until if t_rec is None else t_rec + stab
        window_start = t_rec if t_rec is not None else max(since, end - stab)
        series_of = {"a": a_series, "b": list(probe_series.values()), "c": [c_series], "d": [d_series]}
        evidence = {"a": a_what,
                    "b": f"{len(self.probes)} probes green, user failures at or under {self.max_error_ratio:.0%}",
                    "c": "every answer in the window came from the restored stack",
                    "d": d_series.details[bisect_left(d_series.times, end) - 1] if d_series.times else ""}
        conditions = []
        for key in "abcd":
            ok = holds(key, window_start, end)
            held_since, last_bad = _held_since(series_of[key], since, end)
            if ok:
                detail = evidence[key]
            elif key == "b" and not ratio_ok(window_start, end):
                ratio, n = self.tl.error_ratio(window_start, end)
                detail = (f"{ratio:.1%} of {n} user requests failed in [{window_start:.1f}, {end:.1f})s "
                          f"(at most {self.max_error_ratio:.0%})")
            else:
                detail = last_bad or "no observation in the window"
                if key == "a":
                    detail = f"{a_what}; last failing: {detail}"
            conditions.append(Condition(key, LABELS[key], held_since, ok, detail))
        return Recovery(t_rec, until, conditions)


def _held_since(series: list[_Series], since: float, end: float) -> tuple[float | None, str]:
    """The first observation after the last failing one (before `end`) across the series."""
    last_bad: tuple[float, str] | None = None
    for s in series:
        lb = s.last_bad(end)
        if lb and (last_bad is None or lb[0] > last_bad[0]):
            last_bad = lb
    if not series:
        return since, ""
    starts = []
    for s in series:
        f = s.first_after(last_bad[0] if last_bad else since - 1e-9, since)
        if f is None or f >= end:
            return None, last_bad[1] if last_bad else ""
        starts.append(f)
    return max(starts), last_bad[1] if last_bad else ""
