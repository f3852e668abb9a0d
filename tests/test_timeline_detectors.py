"""Pure logic: recovery instant, detectors against the runbook's thresholds."""

from rollback_drill.observe.detectors import DetectorConfig, check
from rollback_drill.runbook.model import Criterion, Trigger
from rollback_drill.observe.timeline import ProbeSample, Timeline, recovered_at


def _tl_with(samples: dict[str, list[tuple[float, bool]]]) -> Timeline:
    tl = Timeline()
    for probe, ss in samples.items():
        for t, ok in ss:
            tl.add_sample(ProbeSample(probe, t, ok, 0.01))
    return tl


def test_recovery_is_first_instant_from_which_all_probes_stay_green():
    grid = [i * 0.5 for i in range(60)]  # 0..29.5 s at 2 Hz
    tl = _tl_with({"a": [(t, t >= 5.0) for t in grid], "b": [(t + 0.1, t >= 7.0) for t in grid]})
    assert recovered_at(tl, ["a", "b"], since=0.0, stability_s=10.0, max_error_ratio=0.05, until=30.0) == 7.1


def test_a_flap_inside_the_window_postpones_recovery():
    grid = [i * 0.5 for i in range(80)]
    tl = _tl_with({"a": [(t, t >= 5.0 and t != 9.0) for t in grid]})
    assert recovered_at(tl, ["a"], 0.0, 10.0, 0.05, until=40.0) == 9.5


def test_no_recovery_without_samples_or_before_the_window_ends():
    tl = _tl_with({"a": [(t * 0.5, True) for t in range(10)]})
    assert recovered_at(tl, ["a"], 0.0, 10.0, 0.05, until=5.0) is None
    assert recovered_at(tl, ["a", "silent"], 0.0, 1.0, 0.05, until=5.0) is None


def test_recovery_needs_the_error_ratio_under_threshold():
    tl = _tl_with({"a": [(i * 0.5, True) for i in range(60)]})
    for i in range(200):
        tl.record_request(0.01, 500 if i % 4 == 0 and i < 100 else 200, t=i * 0.1)  # 25 % errors until 10 s
    assert recovered_at(tl, ["a"], 0.0, 5.0, 0.05, until=30.0) >= 5.0


def _trigger(kind: str, threshold: float | None) -> Trigger:
    return Trigger("X1", "Critical", 0.0, Criterion("test", 1, kind, threshold))


def test_error_ratio_detector_uses_the_runbook_threshold():
    tl = Timeline()
    for i in range(100):
        tl.record_request(0.01, 500 if i % 10 < 6 else 200, t=10 + i * 0.03)  # 60 % in 3 s
    cfg = DetectorConfig()
    assert check(_trigger("error_ratio", 0.5), tl, 13.0, 10.0, cfg, None).fired
    assert not check(_trigger("error_ratio", 0.7), tl, 13.0, 10.0, cfg, None).fired


def test_error_ratio_detector_needs_enough_requests():
    tl = Timeline()
    for i in range(5):
        tl.record_request(0.01, 500, t=10 + i * 0.1)
    assert not check(_trigger("error_ratio", 0.5), tl, 13.0, 10.0, DetectorConfig(), None).fired


def test_latency_detector_compares_with_baseline():
    tl = Timeline()
    for i in range(60):
        tl.record_request(0.35, 200, t=10 + i * 0.05)
    cfg = DetectorConfig()
    assert check(_trigger("latency_factor", 3.0), tl, 13.0, 10.0, cfg, baseline=0.1).fired
    assert not check(_trigger("latency_factor", 3.0), tl, 13.0, 10.0, cfg, baseline=0.2).fired
    assert check(_trigger("performance", None), tl, 13.0, 10.0, cfg, baseline=0.15).fired


def test_probe_detector_needs_consecutive_failures_after_injection():
    tl = _tl_with({"login": [(9.0, False), (10.5, True), (11.0, False), (11.5, False)]})
    d = check(_trigger("login", None), tl, 11.6, 10.0, DetectorConfig(), None)
    assert d.fired and d.t == 11.5
    assert not check(_trigger("login", None), tl, 11.2, 10.0, DetectorConfig(), None).fired


def test_declared_criteria_are_not_measured():
    assert not check(_trigger("security", None), Timeline(), 5.0, 0.0, DetectorConfig(), None).fired
