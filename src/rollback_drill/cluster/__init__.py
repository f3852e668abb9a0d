"""Cluster providers behind one interface: local (upstream binaries), kind, existing context.

A drill only ever needs: a kubeconfig it may use, the Ingress URL on 127.0.0.1, a way to make
locally built images available to the runtime, and up/down. Everything else is provider detail.
The cluster knows no runbook and no system under test: what runs beside it and must go with it
is handed in (`Cluster.add_teardown`). Modules:

- local.py, kind.py, existing.py — the providers
- kube.py — the one Kubernetes access layer: the API client (typed, and raw JSON for reads repeated
  many times a second), the one kubeconfig writer (`write_scoped_kubeconfig`), kubectl/helm where
  the CLI is the convention
- images.py — the offline OCI image pipeline, and the node's pause image
- pki.py — the local cluster's certificates
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rollback_drill.settings import state_dir

PROVIDERS = ("local", "kind", "existing")


class ClusterError(RuntimeError):
    """A cluster problem told in one line: what went wrong and how to fix it."""


@dataclass
class ClusterStatus:
    provider: str
    kubeconfig: str
    kubernetes_version: str
    ingress_url: str
    ready: bool
    components: dict[str, str] = field(default_factory=dict)
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


class Cluster(abc.ABC):
    """The one interface every provider implements."""

    name: str
    _teardowns: tuple[Callable[[], None], ...] = ()

    @property
    @abc.abstractmethod
    def kubeconfig(self) -> Path: ...

    @property
    @abc.abstractmethod
    def ingress_url(self) -> str: ...

    @property
    def bin_dir(self) -> Path | None:
        """A folder to put first on PATH for kubectl and helm matching the server (None: use PATH)."""
        return None

    @property
    def pod_host_address(self) -> str:
        """The host address pods reach the out-of-cluster datastores at."""
        raise ClusterError(f"the {self.name} provider has no host address for the drill's PostgreSQL and Redis")

    @abc.abstractmethod
    def up(self) -> ClusterStatus:
        """Bring the cluster up (idempotent): return once the node is Ready and the Ingress serves."""

    @abc.abstractmethod
    def down(self) -> None:
        """Tear down everything of ours, also after a failed up (the teardowns added included)."""

    def add_teardown(self, remove: Callable[[], None]) -> "Cluster":
        """Have every `down` (also the one after a failed `up`) remove something the layers above run
        beside the cluster — the system under test's datastores listen on the local provider's bridge
        and live on the runner's Docker. The cluster does not know what they are: whoever composes a
        cluster with them adds them (sut/datastores.py `removed_with`)."""
        self._teardowns = (*self._teardowns, remove)
        return self

    def _run_teardowns(self) -> None:
        for remove in self._teardowns:
            remove()

    @abc.abstractmethod
    def status(self) -> ClusterStatus: ...

    @abc.abstractmethod
    def load_image(self, archive: Path, name: str) -> None:
        """Make a locally built OCI archive available to the cluster's container runtime."""

    # ---- a real pull from the harness's own registry (sut/pull_registry.py) -------------------------------
    #: Whether the node's container runtime reaches a registry the harness serves on 127.0.0.1 (the node is
    #: this machine). Providers without it get the pull as a delay inside the container (said in the evidence).
    pulls_from_loopback: bool = False

    def tag_image(self, src: str, dst: str) -> None:
        """Give the node's copy of image `src` the name `dst` too (no pull)."""
        raise ClusterError(f"the {self.name} provider cannot name images on its node")

    def remove_image(self, ref: str) -> bool:
        """Remove the name `ref` from the node (its content stays while another name holds it); False if absent."""
        raise ClusterError(f"the {self.name} provider cannot remove images from its node")

    def node_image(self, ref: str) -> NodeImage:
        """The node's record of image `ref` (raises ClusterError when the node has no such image)."""
        raise ClusterError(f"the {self.name} provider cannot read images from its node")

    def read_blob(self, digest: str) -> bytes | None:
        """A blob of the node's content store (None when it has none of that digest)."""
        return None


@dataclass(frozen=True)
class NodeImage:
    """The node's own record of an image: its manifest's media type, digest and bytes."""

    media_type: str
    digest: str
    manifest: bytes


def _marker() -> Path:
    return state_dir() / "provider"


def remember_provider(name: str) -> None:
    _marker().write_text(name)


def current_provider_name() -> str | None:
    m = _marker()
    return m.read_text().strip() if m.exists() else None


def get_cluster(provider: str | None = None, context: str | None = None) -> Cluster:
    """The provider by name; without a name, the one last brought up, else 'local'."""
    name = provider or current_provider_name() or "local"
    if name == "local":
        from rollback_drill.cluster.local import LocalCluster
        return LocalCluster()
    if name == "kind":
        from rollback_drill.cluster.kind import KindCluster
        return KindCluster()
    if name == "existing":
        from rollback_drill.cluster.existing import ExistingCluster
        return ExistingCluster(context)
    raise ClusterError(f"unknown cluster provider '{name}': use one of {', '.join(PROVIDERS)} "
                       f"(--provider or ROLLBACK_DRILL_PROVIDER)")
