"""The application's names come from the sidecar and flags; every harness change is put back once."""

import pytest

from rollback_drill.runbook.model import RunbookError, load_runbook
from rollback_drill.sut.application import Application, from_sidecar
from rollback_drill.sut.changes import ChangeLog


def test_the_project_names_are_the_defaults_and_the_chart_names_follow_the_release():
    app = Application()
    assert app.helm_stack == ("mastodon-helm-web", "mastodon-helm-streaming", "mastodon-helm-sidekiq-all-queues")
    assert Application(release="social").helm_stack[0] == "social-mastodon-web"  # the chart's fullname rule
    assert app.counterparts()["mastodon-web"] == "mastodon-helm-web"
    assert app.counterparts()["mastodon-helm-sidekiq-all-queues"] == "mastodon-worker"


def test_flags_win_over_the_sidecar():
    app = from_sidecar({"namespace": "social", "helm_release": "masto", "production_host": "social.example",
                        "old_deployments": ["w", "s", "k"]}, namespace="staging-social")
    assert (app.namespace, app.release, app.host, app.old_stack) == ("staging-social", "masto", "social.example",
                                                                     ("w", "s", "k"))


def test_bad_sidecar_names_are_one_clear_error(tmp_path):
    rb = tmp_path / "rb.md"
    rb.write_text((__import__("rollback_drill").DEFAULT_RUNBOOK).read_text())
    (tmp_path / "rb.drill.yaml").write_text("old_deployments: [web]\n")
    with pytest.raises(RunbookError, match="three Deployment names"):
        load_runbook(rb)
    (tmp_path / "rb.drill.yaml").write_text("config_faults: {db: wrong}\n")
    with pytest.raises(RunbookError, match="config_faults"):
        load_runbook(rb)


def test_every_change_is_put_back_once_newest_first_and_a_failure_is_said():
    log, done = ChangeLog(), []
    log.record("created namespace x", lambda: done.append("ns") or "namespace x deleted")
    log.record("broke a value", lambda: (_ for _ in ()).throw(RuntimeError("helm said no")))
    log.record("looked only", None)
    log.record("upgraded release", lambda: done.append("rel") or "rolled back")
    assert log.revert() == ["rolled back", "namespace x deleted"]
    assert done == ["rel", "ns"]
    assert log.revert() == [] and done == ["rel", "ns"]  # once
    d = log.to_dict()
    assert d["changes"] == ["created namespace x", "broke a value", "looked only", "upgraded release"]
    assert d["not_reverted"] == ["broke a value (RuntimeError: helm said no)"]
