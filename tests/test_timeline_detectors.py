"""Pure logic: the recovery conditions (a)-(d), detectors against the runbook's thresholds, verdicts."""

from rollback_drill.drill.recovery import RecoveryCheck
from rollback_drill.drill.verdict import verdict
from rollback_drill.drill.plan import metric_spec
from rollback_drill.observe.detectors import DetectorConfig, MetricSpec, check
from rollback_drill.observe.timeline import ComponentSample, ProbeSample, Timeline
from rollback_drill.runbook.model import Criterion, Trigger

OLD, HELM = "mastodon-web-5d9c-abcde", "mastodon-helm-web-7c-xyz12"


def _tl_with(samples: dict[str, list[tuple[float, bool]]], served_by: str = OLD,
             components: list[tuple[float, bool]] | None = None) -> Timeline:
    tl = Timeline()
    for probe, ss in samples.items():
        for t, ok in ss:
            tl.add_sample(ProbeSample(probe, t, ok, 0.01, served_by=served_by))
    horizon = max((t for ss in samples.values() for t, _ in ss), default=0.0)
    for t, ok in components if components is not None else [(i * 0.5, True) for i in range(int(horizon * 2) + 2)]:
        tl.add_component_sample(ComponentSample(t, ok, "restored" if ok else "mastodon-web not Available"))
    return tl


def _judge(pod: str) -> tuple[bool, str]:
    return (pod.startswith("mastodon-web-"), "owned by Deployment " + pod.rsplit("-", 2)[0])


def _check(tl: Timeline, probes, trigger=None, baseline=None, stability=10.0) -> RecoveryCheck:
    return RecoveryCheck(tl, trigger, tuple(probes), DetectorConfig(), baseline, stability, 0.05, _judge)


def recovered_at(tl, probes, since, stability_s, max_error_ratio, until, trigger=None, baseline=None):
    c = RecoveryCheck(tl, trigger, tuple(probes), DetectorConfig(), baseline, stability_s, max_error_ratio, _judge)
    return c.evaluate(since, until).t_recovered


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


def test_no_recovery_without_component_observations():
    tl = _tl_with({"a": [(i * 0.5, True) for i in range(60)]}, components=[])
    rec = _check(tl, ["a"]).evaluate(0.0, 30.0)
    assert rec.t_recovered is None
    assert [c.key for c in rec.failing()] == ["d"] and "no observation" in rec.failing()[0].detail


def test_recovery_needs_the_error_ratio_under_threshold():
    tl = _tl_with({"a": [(i * 0.5, True) for i in range(60)]})
    for i in range(200):
        tl.record_request(0.01, 500 if i % 4 == 0 and i < 100 else 200, t=i * 0.1)  # 25 % errors until 10 s
    assert recovered_at(tl, ["a"], 0.0, 5.0, 0.05, until=30.0) >= 5.0


def test_green_probes_from_the_helm_stack_are_not_recovery():
    """The rollback that did nothing: everything answers, but from the stack it should have left."""
    tl = _tl_with({"a": [(i * 0.5, True) for i in range(60)]}, served_by=HELM)
    rec = _check(tl, ["a"]).evaluate(0.0, 30.0)
    assert rec.t_recovered is None
    (c,) = rec.failing()
    assert c.key == "c" and HELM in c.detail


def test_load_answered_by_the_helm_stack_blocks_recovery():
    tl = _tl_with({"a": [(i * 0.5, True) for i in range(60)]})
    for i in range(300):
        tl.record_request(0.01, 200, t=i * 0.1, served_by=HELM if i < 150 else OLD)  # Helm answers until 15 s
    rec = _check(tl, ["a"]).evaluate(0.0, 30.0)
    assert rec.t_recovered is not None and rec.t_recovered >= 15.0


def test_latency_criterion_must_be_false_again_even_when_probes_are_green():
    trig = Trigger("M3", "Medium", 1800.0, Criterion("performance degraded", 1, "performance"))
    tl = _tl_with({"a": [(i * 0.5, True) for i in range(80)]})
    for i in range(400):
        tl.record_request(0.7 if i < 200 else 0.05, 200, t=i * 0.1, served_by=OLD)  # slow until 20 s
    rec = _check(tl, ["a"], trig, baseline=0.05).evaluate(0.0, 40.0)
    assert rec.t_recovered is not None and rec.t_recovered >= 20.0
    slow = _check(tl, ["a"], trig, baseline=0.05).evaluate(0.0, 19.0)
    assert slow.t_recovered is None and slow.failing()[0].key == "a" and "median latency" in slow.failing()[0].detail


def test_a_declared_criterion_is_said_to_be_unmeasurable_not_green():
    trig = Trigger("C4", "Critical", 0.0, Criterion("security problem", 1, "security"))
    tl = _tl_with({"a": [(i * 0.5, True) for i in range(60)]})
    rec = _check(tl, ["a"], trig).evaluate(0.0, 30.0)
    a = rec.conditions[0]
    assert rec.t_recovered == 0.0 and a.holds and "not measurable" in a.detail and "declared by a person" in a.detail


def test_each_condition_says_since_when_it_held():
    grid = [i * 0.5 for i in range(60)]
    tl = _tl_with({"a": [(t, t >= 3.0) for t in grid]}, components=[(t, t >= 6.0) for t in grid])
    rec = _check(tl, ["a"]).evaluate(0.0, 30.0)
    held = {c.key: c.held_since for c in rec.conditions}
    assert rec.t_recovered == 6.0 and held["b"] == 3.0 and held["d"] == 6.0


def test_verdicts():
    base = dict(detected=True, level_run=True, recovery_s=10.0, target_max_s=120.0, decision_s=0.5,
                decision_deadline_s=0.0, decision_slack_s=1.0, checks_ok=True)
    assert verdict(**base) == "passed"
    assert verdict(**{**base, "decision_s": 2.0}) == "decision_late"
    assert verdict(**{**base, "recovery_s": None}) == "not_recovered"
    assert verdict(**{**base, "recovery_s": 130.0}) == "target_missed"
    assert verdict(**{**base, "detected": False}) == "not_detected"
    assert verdict(**{**base, "checks_ok": False}) == "check_failed"
    assert verdict(**{**base, "interrupted": True}) == "interrupted"


def _trigger(kind: str, threshold: float | None) -> MetricSpec:
    """A runbook criterion as the drill hands it to the detectors (drill/plan.py metric_spec)."""
    return metric_spec(Criterion("test", 1, kind, threshold))


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


def test_the_automatic_decision_is_detection_plus_think_time_whatever_the_harness_spent_after_it():
    """The harness's own work after detection (reading state, counting rows: over 1 s with three drills
    side by side) is not the decider's: t_decide stays t_detect + think time, a think time past the deadline
    still gives decision_late: the must-fail drill in features/drill_failures.feature."""
    from types import SimpleNamespace as NS
    from rollback_drill.drill.engine import Drill, DrillConfig
    for think, harness_s in ((0.0, 1.5), (0.4, 0.1)):
        tl = Timeline()
        detect = tl.mark("detect", tl.now() - harness_s)
        d = NS(tl=tl, cfg=DrillConfig(decision_delay_s=think), phase="detection")
        Drill.decide(d)
        assert d.tl.marks["decide"] == detect + think and tl.now() >= detect + think
        Drill.decide(d)  # a second call does not move the decision
        assert d.tl.marks["decide"] == detect + think
    assert abs((tl.marks["decide"] - tl.marks["detect"]) - 0.4) < 1e-9


def test_a_window_that_cannot_start_by_the_latest_start_is_known_before_the_limit():
    """wait_recovery stops once the latest start of a window complete within its limit has passed and a
    condition has failed since: a probe red at 12 s means no window starting by 10 s can hold."""
    grid = [i * 0.5 for i in range(40)]
    red_late = _check(_tl_with({"a": [(t, t < 3.0 or t > 12.0) for t in grid]}), ["a"]).evaluate(0.0, 19.5)
    assert red_late.t_recovered is None and not red_late.may_start_by(10.0)
    green = _check(_tl_with({"a": [(t, t >= 9.0) for t in grid]}), ["a"]).evaluate(0.0, 15.0)
    assert green.t_recovered is None and green.may_start_by(10.0) and not green.may_start_by(8.5)
