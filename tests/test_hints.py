"""`gameday --hints`: the runbook step that matches the cluster's state (drill/hints.py), judged from a
state built by hand — the live path reads the same LiveState from the cluster."""

from __future__ import annotations

import shutil

import pytest

from rollback_drill import DEFAULT_RUNBOOK, FIXTURES
from rollback_drill.drill.hints import judge, next_step
from rollback_drill.runbook.analysis import LiveState
from rollback_drill.runbook.model import load_runbook

L1 = load_runbook(DEFAULT_RUNBOOK).level(1)
L2 = load_runbook(DEFAULT_RUNBOOK).level(2)
HELM = {"mastodon-helm-web": 1, "mastodon-helm-streaming": 1, "mastodon-helm-sidekiq-all-queues": 1}
OLD0 = {"mastodon-web": 0, "mastodon-streaming": 0, "mastodon-worker": 0}
LABELS = {d: {"app": d} for d in OLD0} | {d: {"app.kubernetes.io/instance": "mastodon-helm"} for d in HELM}


@pytest.fixture
def workdir(tmp_path):
    for item in ("backup", "k8s"):
        shutil.copytree(FIXTURES / item, tmp_path / item)
    return tmp_path


def live(deployments: dict[str, int], backends: set[str], releases=frozenset({"mastodon-helm"}),
         asked: dict[str, int] | None = None) -> LiveState:
    """`deployments`: ready pods; `asked`: the replicas they ask for where that differs."""
    return LiveState(deployments=dict(deployments), ingress_backends=set(backends), releases=set(releases),
                     app_labels={d: LABELS[d] for d in deployments}, replicas={**deployments, **(asked or {})})


def test_just_after_the_alert_the_hint_is_the_levels_first_step(workdir):
    hint = next_step(L1.commands, live(HELM | OLD0, {"mastodon-helm-web", "mastodon-helm-streaming"}), workdir,
                     "mastodon", 1)
    assert hint.startswith("Level 1, line 37: kubectl scale deployment mastodon-web --replicas=1")
    assert "mastodon-web asks for 0 replica(s), 0 ready" in hint


def test_with_the_old_stack_up_the_hint_is_the_ingress_switch_back(workdir):
    up = HELM | {d: 1 for d in OLD0}
    hint = next_step(L1.commands, live(up, {"mastodon-helm-web", "mastodon-helm-streaming"}), workdir, "mastodon", 1)
    assert "line 45: kubectl apply -f backup/ingress-mastodon.yaml" in hint
    assert "the Ingress routes to mastodon-helm-streaming, mastodon-helm-web" in hint


def test_after_the_switch_the_hint_is_the_optional_scale_down_then_done(workdir):
    up = HELM | {d: 1 for d in OLD0}
    switched = {"mastodon-web", "mastodon-streaming"}
    assert "line 48: kubectl scale deployment mastodon-helm-web --replicas=0" in \
        next_step(L1.commands, live(up, switched), workdir, "mastodon", 1)
    done = {d: 1 for d in OLD0} | {d: 0 for d in HELM}
    assert next_step(L1.commands, live(done, switched), workdir, "mastodon", 1).startswith(
        "Level 1: every step the cluster can show is done")


def test_a_scale_is_judged_by_what_the_deployment_asks_for_a_wait_by_ready_pods(workdir):
    # under C1 the Helm web pod fails its readiness: 0 ready, but nobody has scaled it away yet
    up = HELM | {d: 1 for d in OLD0} | {"mastodon-helm-web": 0}
    hint = next_step(L1.commands, live(up, {"mastodon-web", "mastodon-streaming"}, asked={"mastodon-helm-web": 1}),
                     workdir, "mastodon", 1)
    assert "line 48: kubectl scale deployment mastodon-helm-web --replicas=0" in hint
    assert "asks for 1 replica(s), 0 ready" in hint
    # the old web asked for 1 but not ready yet: the scale is done, the wait is next
    hint = next_step(L1.commands, live(HELM | OLD0, {"mastodon-helm-web"}, asked={d: 1 for d in OLD0}), workdir,
                     "mastodon", 1)
    assert "line 42: kubectl wait" in hint and "no ready pod matches app=mastodon-web" in hint


def test_what_the_cluster_cannot_show_is_never_claimed_done(workdir):
    # Level 2: the GKE objects and annotations are not judged; they are named, never passed as done
    state = live({d: 1 for d in OLD0}, {"mastodon-web", "mastodon-streaming"}, releases=set())
    hint = next_step(L2.commands, state, workdir, "mastodon", 2)
    assert "every step the cluster can show is done" in hint and "the cluster cannot show them" in hint
    annotate = next(c for c in L2.commands if c.text.startswith("kubectl annotate"))
    assert judge(annotate, state, workdir, "mastodon").done is None


def test_a_helm_uninstall_and_its_alternative_count_once(workdir):
    state = live(OLD0, {"mastodon-helm-web"}, releases=set())
    first = L2.commands[0]
    assert first.text.startswith("helm uninstall") and judge(first, state, workdir, "mastodon").done is True
    hint = next_step(L2.commands, state, workdir, "mastodon", 2)
    assert "line 66: kubectl apply -k k8s/overlays/production" not in hint  # the old Deployments exist
    assert "line 69: kubectl wait" in hint and "no ready pod matches app=mastodon-web" in hint
