"""Pull once per node, as the pod's real waiting state (issue 21 item 2): under a profile that counts the
old stack's image as absent, the node lacks it, the first old pod waits in ContainerCreating while the
kubelet pulls it from the harness's registry (events `Pulling`, `Successfully pulled … in Xs`), a later
pod finds it present; when the emulation stops the name is back and the registry gone. A 4 s pull here;
the gke profile's 30 s runs in features/fidelity.feature (nightly)."""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401,I001 - locust patches gevent first

import socket
import time
from pathlib import Path

import gevent
import pytest
import yaml

from rollback_drill import FIXTURES
from rollback_drill.observe.cluster_state import ClusterState
from rollback_drill.observe.timeline import Timeline
from rollback_drill.sut.emulation import Emulation
from rollback_drill.sut.profile import load_profile

PULL_S = 4.0


def _pull_only(tmp_path: Path):
    doc = yaml.safe_load((FIXTURES / "profiles" / "gke.yaml").read_text(encoding="utf-8"))
    doc["profile"] = "pull-only"
    for name, p in doc["parameters"].items():
        if name in ("web_boot", "streaming_boot", "sidekiq_boot", "neg_ready", "ingress_propagation",
                    "ingress_502_window"):
            p.update(value=0, range=[0, 0], source="assumed: only the pull is under test")
    doc["parameters"]["image_pull"].update(value=PULL_S, range=[PULL_S, PULL_S], source="assumed: the test's")
    path = tmp_path / "pull-only.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_profile(str(path))


def _events(kube, pod_prefix: str) -> list:
    return [e for e in kube.core.list_namespaced_event(kube.namespace).items
            if e.involved_object.name.startswith(pod_prefix) and e.reason in ("Pulling", "Pulled")]


def _wait(what, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        gevent.sleep(0.5)
    pytest.fail(f"not within {seconds:.0f} s: {what.__doc__}")


def test_the_first_old_pod_waits_for_a_real_pull_and_the_next_finds_the_image(cluster, deployed, tmp_path):
    kube, app = deployed.kube, deployed.app
    worker, streaming = app.old_stack[2], app.old_stack[1]
    ref = kube.apps.read_namespaced_deployment(worker, kube.namespace).spec.template.spec.containers[0].image
    assert ref.startswith("127.0.0.1:"), ref  # the old stack names its image by the lane's pull name
    for e in kube.core.list_namespaced_event(kube.namespace).items:  # earlier pods' events are not this test's
        kube.core.delete_namespaced_event(e.metadata.name, kube.namespace)
    em = Emulation(_pull_only(tmp_path), ClusterState(kube), Timeline(), app.ingress, node=cluster)
    em.start()
    try:
        assert any(c.startswith(f"image {ref} removed from the node") for c in em.changes), em.changes
        assert not cluster.has_image(ref)
        kube.scale(worker, 1)

        def waiting():
            """the worker pod waiting in ContainerCreating while the kubelet pulls"""
            pods = kube.core.list_namespaced_pod(kube.namespace, label_selector=f"app={worker}").items
            return [p for p in pods for s in (p.status.container_statuses or [])
                    if s.state.waiting and s.state.waiting.reason == "ContainerCreating"]
        _wait(waiting, 30)

        def pulled():
            """the kubelet's Pulled event of the worker pod"""
            return [e for e in _events(kube, f"{worker}-") if e.reason == "Pulled"]
        msg = _wait(pulled)[0].message
        assert msg.startswith(f'Successfully pulled image "{ref}" in '), msg
        took = float(msg.split(" in ", 1)[1].split("s", 1)[0])
        assert PULL_S <= took < PULL_S + 3, msg
        kube.scale(streaming, 1)  # a later pod on the node: the image is there, no pull

        def present():
            """the streaming pod's Pulled event"""
            return [e for e in _events(kube, f"{streaming}-") if e.reason == "Pulled"]
        assert "already present on machine" in _wait(present)[0].message
        assert [e["what"] for e in em.tl.emulation].count("image pull started") == 1
    finally:
        em.stop()
        kube.scale(worker, 0)
        kube.scale(streaming, 0)
    assert cluster.has_image(ref), "the old stack's image name was not put back on the node"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", em.registry.port)) != 0, "the registry still listens"
    assert any(r.startswith("registry on 127.0.0.1") for r in em.reverted), em.reverted
