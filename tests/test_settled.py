"""When the recovery wait may stop early (observe/cluster_state.py `settled_gaps`): only for what
nothing but a new command would change. Pure logic over the API's JSON, read through a stand-in for
the one Kubernetes access layer; the live drills (must-fail rows, mutants) exercise it on the cluster."""

from __future__ import annotations

from kubernetes.client.rest import ApiException

from rollback_drill.observe.cluster_state import ClusterState, RestoreTarget

SNAP = {"ingress": {"mastodon": ["mastodon-web"]}, "objects": [["hpa", "mastodon-web"]],
        "annotations": {"mastodon-web": {"cloud.google.com/neg": '{"ingress": true}'}}}


def _dep(name: str, replicas: int, available: int) -> dict:
    return {"metadata": {"name": name}, "spec": {"replicas": replicas},
            "status": {"availableReplicas": available,
                       "conditions": [{"type": "Available", "status": "True" if available else "False"}]}}


class FakeKube:
    namespace = "mastodon"

    def __init__(self, deps, backend="mastodon-web", helm=False, hpa=True, annotation='{"ingress":true}'):
        self.deps, self.backend, self.helm, self.hpa, self.annotation = deps, backend, helm, hpa, annotation

    def get_raw(self, path: str, **_) -> dict:
        if path.endswith("/deployments"):
            return {"items": self.deps}
        if "/ingresses/" in path:
            if self.backend is None:
                raise ApiException(status=404)
            return {"spec": {"rules": [{"http": {"paths": [{"backend": {"service": {"name": self.backend}}}]}}]}}
        if "/horizontalpodautoscalers/" in path:
            if not self.hpa:
                raise ApiException(status=404)
            return {"metadata": {"name": "mastodon-web"}}
        if "/services/" in path:
            return {"metadata": {"annotations": {"cloud.google.com/neg": self.annotation}}}
        raise AssertionError(path)

    def helm_release_deployed(self, release: str) -> bool:
        return self.helm


def _settled(kube: FakeKube, full_state: bool = False) -> list[str]:
    return ClusterState(kube).settled_gaps(RestoreTarget(("mastodon-web", "mastodon-worker"), full_state), SNAP,
                                           "mastodon")


def test_a_deployment_still_starting_pods_is_not_settled_one_left_at_zero_is():
    booting = FakeKube([_dep("mastodon-web", 1, 0), _dep("mastodon-worker", 1, 1)])
    assert _settled(booting) == []
    assert not ClusterState(booting).restored(RestoreTarget(("mastodon-web",)), SNAP, "mastodon")[0]
    left = FakeKube([_dep("mastodon-web", 0, 0), _dep("mastodon-worker", 1, 1)])
    assert _settled(left) == ["Deployment mastodon-web not Available (0 available; it wants 0 replicas)"]
    gone = FakeKube([_dep("mastodon-web", 1, 1)])
    assert _settled(gone) == ["Deployment mastodon-worker does not exist"]


def test_an_ingress_pointing_elsewhere_or_gone_is_settled():
    deps = [_dep("mastodon-web", 1, 1), _dep("mastodon-worker", 1, 1)]
    assert _settled(FakeKube(deps)) == []
    assert _settled(FakeKube(deps, backend="mastodon-helm-web")) == [
        "Ingress mastodon backends ['mastodon-helm-web'], before the migration ['mastodon-web']"]
    assert _settled(FakeKube(deps, backend=None)) == [
        "Ingress mastodon backends ['(missing: 404)'], before the migration ['mastodon-web']"]


def test_a_full_state_level_settles_on_the_release_an_object_and_an_annotation_never_on_a_schema():
    deps = [_dep("mastodon-web", 1, 1), _dep("mastodon-worker", 1, 1)]
    assert _settled(FakeKube(deps), full_state=True) == []  # annotations compared by meaning
    assert _settled(FakeKube(deps, helm=True, hpa=False, annotation="{}"), full_state=True) == [
        "hpa mastodon-web (present before the migration) is missing",
        "Service mastodon-web annotation cloud.google.com/neg='{}', before the migration '{\"ingress\": true}'",
        "Helm release mastodon still deployed"]
    state = ClusterState(FakeKube(deps))
    gaps, _ = state.restore_gaps(RestoreTarget(("mastodon-web",), database=True), SNAP, "mastodon",
                                 lambda: (False, "schema not readable: restore running"))
    assert [(g.what, g.settled) for g in gaps] == [("schema not readable: restore running", False)]


def test_a_wait_on_pods_nothing_will_create_is_futile_one_on_booting_pods_is_not():
    from types import SimpleNamespace as NS

    from rollback_drill.drill.engine import Drill
    from rollback_drill.runbook.model import Command

    class Kube:
        def __init__(self, pods, replicas):
            self.pods, self.replicas = pods, replicas

        def get_raw(self, path, **q):
            if path.endswith("/pods"):
                assert q == {"labelSelector": "app=mastodon-web"}
                return {"items": self.pods}
            return {"items": [{"spec": {"replicas": self.replicas,
                                        "template": {"metadata": {"labels": {"app": "mastodon-web"}}}}}]}

    def futile(pods, replicas, text="kubectl wait --for=condition=ready pod -l app=mastodon-web --timeout=60s"):
        d = NS(app=NS(namespace="mastodon"), state=NS(kube=Kube(pods, replicas)))
        return Drill._futile_wait(d, Command(text, 42))

    assert futile([], 0).startswith("no pod matches app=mastodon-web")
    assert futile([], 1) == ""  # the Deployment is creating its pod
    assert futile([{"metadata": {"name": "p"}}], 0) == ""  # a pod is there (it may become ready)
    assert futile([], 0, "kubectl wait --for=condition=available deployment/mastodon-web") == ""
    assert futile([], 0, "kubectl wait --for=condition=ready pod -l 'app in (a,b)'") == ""  # not judged


def test_the_recovery_wait_gives_a_profiles_latencies_on_top_of_twice_the_target():
    from rollback_drill.drill.engine import DrillConfig, recovery_limit_s
    from rollback_drill.sut.profile import load_profile
    local = DrillConfig()
    assert recovery_limit_s(120, local, restore=False) == 240  # 2 x the target, the local profile adds nothing
    gke = DrillConfig(profile=load_profile("gke"))
    gke.recovery_timeout_s += gke.emulated_s()
    # boot 30 + pull 30 + NEG 15 + propagation 60 on top; Level 1 restores no database
    assert recovery_limit_s(120, gke, restore=False) == 240 + 135
    assert recovery_limit_s(120, gke, restore=True) == 240 + 135 + 10 + 240 + 12 * 10
    assert recovery_limit_s(7200, local, restore=True) == 600  # never beyond the configured timeout
