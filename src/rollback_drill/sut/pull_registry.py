"""The harness's own image registry, so that a node pulls an image for real (issue 21: pull once per node).

Why: under a profile that counts the old stack's image as absent on the node (`image_absent_on_node`,
GKE after node recycling or image GC), the rollback's first old pod waits for the kubelet to pull —
`ContainerCreating`, the events `Pulling image` and `Successfully pulled image … in Xs` — and every
later pod on that node starts from the pulled image. A sleep inside the container shows none of that.

How: no registry exists here and none can be reached, so the harness serves one on the node's loopback
(`127.0.0.1:<15300 + lane>`: containerd's CRI speaks plain HTTP to a loopback registry by default). The
lane's old stack names its image by that registry (`pull_ref`, set in the Kustomize overlay at deploy
and tagged on the node from the loaded image, so no drill without the emulation ever pulls). A drill
under such a profile removes that tag from the node; the node's next start of an old pod pulls it from
here. The manifest is the node's own copy of the image (the same digest, so the layers the node still
has for the loaded image are not fetched again): the pull's length is the profile's `image_pull`,
spent answering the first request for the tag — as a registry far away would. Requests that come while
that pull is under way wait for it; later ones are answered at once (the node has the image: a second
pod does not pull). Only the lane's repository is served; blobs come from the node's content store.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable

import gevent
import gevent.event
from gevent.pywsgi import WSGIServer

from rollback_drill.cluster import NodeImage

PORT_BASE = 15300  # lane n: 127.0.0.1:15300+n (the local provider's node is this machine)
_PATH = re.compile(r"^/v2/(?P<repo>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def pull_ref(image: str, lane: int) -> str:
    """The name lane `lane`'s old stack gives `image` (`docker.io/rollback-drill/x:tag` ->
    `127.0.0.1:15300/rollback-drill/x:tag` for lane 0)."""
    repo, tag = image.rsplit(":", 1)
    path = repo.split("/", 1)[1] if "/" in repo and "." in repo.split("/", 1)[0] else repo
    return f"127.0.0.1:{PORT_BASE + lane}/{path}:{tag}"


@dataclass
class PullRegistry:
    """Serves one image (`ref`, as named by `pull_ref`) with the pull taking `delay_s`."""

    ref: str
    image: NodeImage
    read_blob: Callable[[str], bytes | None]
    delay_s: float
    on_pull: Callable[[str, float], None] = lambda what, secs: None  # ("started" | "served", seconds)
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status): the evidence
    _server: WSGIServer | None = None
    _pulled: gevent.event.Event = field(default_factory=gevent.event.Event)
    _pulling: bool = False

    @property
    def port(self) -> int:
        return int(self.ref.split("/", 1)[0].rsplit(":", 1)[1])

    @property
    def repo(self) -> str:
        return self.ref.split("/", 1)[1].rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.ref.rsplit(":", 1)[1]

    def start(self) -> None:
        """Listen on 127.0.0.1 (raises OSError when the port is taken: the caller says so)."""
        self._server = WSGIServer(("127.0.0.1", self.port), self._app, log=None, error_log=None)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None

    # ---- the distribution API, the part a pull uses ----------------------------------------------------
    def _app(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        status, headers, body = self._answer(method, path)
        self.requests.append((method, path, status))
        start_response(f"{status} {'OK' if status == 200 else 'Not Found' if status == 404 else 'Error'}",
                       [*headers, ("Content-Length", str(len(body))),
                        ("Docker-Distribution-API-Version", "registry/2.0")])
        return [b"" if method == "HEAD" else body]

    def _answer(self, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if method not in ("GET", "HEAD"):
            return 405, [], b""
        if path in ("/v2", "/v2/"):
            return 200, [("Content-Type", "application/json")], b"{}"
        m = _PATH.match(path)
        if m is None or m["repo"] != self.repo:
            return 404, [("Content-Type", "application/json")], b'{"errors":[{"code":"NAME_UNKNOWN"}]}'
        ref = m["ref"]
        if m["kind"] == "manifests":
            if ref not in (self.tag, self.image.digest):
                return 404, [("Content-Type", "application/json")], b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
            if ref == self.tag:
                self._pull()
            return 200, [("Content-Type", self.image.media_type), ("Docker-Content-Digest", self.image.digest)], \
                self.image.manifest
        data = self.read_blob(ref) if _DIGEST.match(ref) else None
        if data is None:
            return 404, [("Content-Type", "application/json")], b'{"errors":[{"code":"BLOB_UNKNOWN"}]}'
        return 200, [("Content-Type", "application/octet-stream"), ("Docker-Content-Digest", ref)], data

    def _pull(self) -> None:
        """The first request for the tag takes the pull's time; those during it wait; later ones do not."""
        if self._pulled.is_set():
            return
        if self._pulling:
            self._pulled.wait()
            return
        self._pulling = True
        t0 = time.monotonic()
        self.on_pull("started", 0.0)
        gevent.sleep(self.delay_s)
        self._pulled.set()
        self.on_pull("served", time.monotonic() - t0)
