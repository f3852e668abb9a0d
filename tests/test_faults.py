"""Pure logic: the fault follows the criterion's meaning and is sized from its threshold."""

import pytest

from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.runbook.model import Criterion, load_runbook
from rollback_drill.sut.faults import NoFault, fault_for


@pytest.mark.parametrize("threshold,ratio", [(0.5, 0.95), (0.1, 0.2), (0.05, 0.15), (0.3, 0.6)])
def test_error_faults_clearly_cross_the_runbooks_threshold(threshold, ratio):
    f = fault_for(Criterion("5xx > x", 1, "error_ratio", threshold))
    assert f.switches == {"error_ratio": ratio} and f.switches["error_ratio"] > threshold
    assert f"{ratio / threshold:.1f}x the runbook's" in f.description


def test_a_scaled_fault_stays_below_the_threshold():
    assert fault_for(Criterion("5xx > 5%", 1, "error_ratio", 0.05), scale=0.4).switches == {"error_ratio": 0.02}


def test_latency_faults_are_sized_from_the_measured_baseline():
    f = fault_for(Criterion("3x normal", 1, "latency_factor", 3.0), baseline_s=0.2)
    assert f.switches == {"latency_ms": 1000}  # (2 x 3 - 1) x 200 ms: median ~6x baseline
    assert fault_for(Criterion("3x normal", 1, "latency_factor", 3.0), baseline_s=0.02).switches == {"latency_ms": 300}
    assert fault_for(Criterion("slow", 1, "performance"), baseline_s=0.2, performance_factor=2.0).switches == \
        {"latency_ms": 600}


def test_the_fault_follows_the_meaning_not_the_id_or_position():
    rb = load_runbook(DEFAULT_RUNBOOK.parent / "variants" / "rollback-runbook.reordered.ja.md")
    names = {t.criterion.kind: fault_for(t.criterion, 0.05).name for t in rb.triggers}
    assert names == {"security": "none", "login": "sessions-broken", "db": "db-wrong-credentials",
                     "error_ratio": "web-5xx", "media": "media-storage-broken", "jobs": "sidekiq-stalled",
                     "latency_factor": "latency", "performance": "latency", "feature": "streaming-down"}
    assert rb.trigger("C1").criterion.kind == "security"  # the first Critical line is now the security one


def test_a_kind_without_a_fault_is_said():
    with pytest.raises(NoFault, match="no fault for a criterion of kind 'down'"):
        fault_for(Criterion("サービスがダウンしている", 9, "down"))


def test_configuration_mistakes_use_the_official_charts_value_paths():
    from rollback_drill.sut.faults import CONFIG

    def crit(kind):
        return Criterion(text="x", line=1, kind=kind)
    db = fault_for(crit("db"), style="config")
    assert db.values == {"postgresql.auth.password": CONFIG["db"].values["postgresql.auth.password"]} and not db.switches
    jobs = fault_for(crit("jobs"), style="config")
    (workers,) = jobs.values["mastodon.sidekiq.workers"]
    assert "default" not in workers["queues"] and workers["name"] == "all-queues"
    media = fault_for(crit("media"), style="config")
    assert set(media.values) == {"mastodon.s3.access_secret"}
    with pytest.raises(NoFault, match="no configuration mistake"):
        fault_for(crit("error_ratio"), style="config")
    assert fault_for(crit("db")).values is None  # the default style is the stub's switch
