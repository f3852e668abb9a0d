"""The harness's own registry (sut/pull_registry.py): the part of the distribution API a node's pull uses,
the pull's time spent once (a second pod on the node does not pull again), requests during the pull waiting
for it. A real server on a free loopback port; the node's content store is a dict here."""

from __future__ import annotations

import hashlib
import socket
import time
import urllib.error
import urllib.request

from rollback_drill.observe import load as _load  # noqa: F401 - locust patches gevent first (sockets cooperate)

import gevent
import pytest

from rollback_drill.cluster import NodeImage
from rollback_drill.sut.pull_registry import PORT_BASE, PullRegistry, pull_ref

MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
BLOB = b"config bytes"
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def test_a_lanes_pull_name_keeps_the_path_and_tag_on_its_own_port():
    assert pull_ref("docker.io/rollback-drill/mastodon-stub:6f71", 0) == \
        f"127.0.0.1:{PORT_BASE}/rollback-drill/mastodon-stub:6f71"
    assert pull_ref("rollback-drill/mastodon-stub:6f71", 3) == f"127.0.0.1:{PORT_BASE + 3}/rollback-drill/mastodon-stub:6f71"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry():
    seen: list[tuple[str, float]] = []
    reg = PullRegistry(f"127.0.0.1:{_free_port()}/rollback-drill/mastodon-stub:t1",
                       NodeImage("application/vnd.oci.image.manifest.v1+json", DIGEST, MANIFEST),
                       {BLOB_DIGEST: BLOB}.get, 1.0, lambda what, s: seen.append((what, s)))
    reg.start()
    yield reg, seen
    reg.stop()


def _get(reg: PullRegistry, path: str, method: str = "GET") -> tuple[int, dict, bytes, float]:
    t0 = time.monotonic()
    req = urllib.request.Request(f"http://127.0.0.1:{reg.port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read(), time.monotonic() - t0
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read(), time.monotonic() - t0


def test_the_first_request_for_the_tag_takes_the_pulls_time_and_later_ones_do_not(registry):
    reg, seen = registry
    assert _get(reg, "/v2/")[0] == 200
    status, headers, body, took = _get(reg, "/v2/rollback-drill/mastodon-stub/manifests/t1", "HEAD")
    assert status == 200 and took >= 1.0 and body == b""
    assert headers["Docker-Content-Digest"] == DIGEST and headers["Content-Type"].endswith("manifest.v1+json")
    status, _, body, took = _get(reg, f"/v2/rollback-drill/mastodon-stub/manifests/{DIGEST}")
    assert status == 200 and body == MANIFEST and took < 0.5
    assert _get(reg, "/v2/rollback-drill/mastodon-stub/manifests/t1")[3] < 0.5  # the node has it: no second pull
    assert [w for w, _ in seen] == ["started", "served"] and seen[1][1] >= 1.0


def test_requests_during_the_pull_wait_for_it_and_the_pull_is_counted_once(registry):
    reg, seen = registry
    jobs = [gevent.spawn(_get, reg, "/v2/rollback-drill/mastodon-stub/manifests/t1") for _ in range(3)]
    gevent.joinall(jobs, timeout=10)
    assert all(j.value[0] == 200 and j.value[3] >= 0.9 for j in jobs), [j.value for j in jobs]
    assert [w for w, _ in seen] == ["started", "served"]


def test_only_the_lanes_repository_and_known_digests_are_served(registry):
    reg, _ = registry
    assert _get(reg, "/v2/other/repo/manifests/t1")[0] == 404
    assert _get(reg, "/v2/rollback-drill/mastodon-stub/manifests/t2")[0] == 404
    assert _get(reg, f"/v2/rollback-drill/mastodon-stub/blobs/{BLOB_DIGEST}")[2] == BLOB
    assert _get(reg, "/v2/rollback-drill/mastodon-stub/blobs/sha256:" + "0" * 64)[0] == 404
    assert _get(reg, "/v2/rollback-drill/mastodon-stub/blobs/../../etc/passwd")[0] == 404
    assert _get(reg, "/v2/", "POST")[0] == 405
