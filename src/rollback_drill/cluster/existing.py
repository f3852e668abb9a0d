"""The existing provider: a named kubeconfig context, e.g. a staging cluster for preflight.

Safety first: a drill is destructive, so a context the harness did not create is refused unless
it is listed in ROLLBACK_DRILL_ALLOWED_CONTEXTS (comma-separated). The refusal says how to allow it.
"""

from __future__ import annotations

import os
from pathlib import Path

from rollback_drill.cluster import Cluster, ClusterError, ClusterStatus, remember_provider
from rollback_drill.cluster.kube import current_context, server_version, user_kubeconfig

ALLOW_ENV = "ROLLBACK_DRILL_ALLOWED_CONTEXTS"
INGRESS_ENV = "ROLLBACK_DRILL_INGRESS_URL"  # where this machine reaches the context's Ingress (a loopback port-forward)


def allowed_contexts() -> set[str]:
    return {c.strip() for c in os.environ.get(ALLOW_ENV, "").split(",") if c.strip()}


def check_allowed(context: str) -> None:
    from rollback_drill.untrusted import Untrusted
    from rollback_drill.untrusted import context as context_name
    try:
        context_name(context)
    except Untrusted as e:
        raise ClusterError(str(e)) from None
    if context not in allowed_contexts():
        raise ClusterError(f"refusing kubeconfig context '{context}': rollback-drill did not create it and a drill "
                           f"scales deployments to 0, uninstalls Helm releases and restores databases. "
                           f"If this cluster is meant for drills, allow it explicitly: "
                           f"{ALLOW_ENV}={context}")


class ExistingCluster(Cluster):
    name = "existing"

    def __init__(self, context: str | None) -> None:
        self._kubeconfig = user_kubeconfig()
        if context is None:
            context = current_context(self._kubeconfig)
        if not context:
            raise ClusterError("no kubeconfig context given: pass --context NAME (and allow it in "
                               f"{ALLOW_ENV})")
        check_allowed(context)
        self.context = context

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig

    @property
    def bin_dir(self) -> Path | None:
        """kubectl and helm of the harness's own install when present (else those on PATH)."""
        from rollback_drill.cluster.local import LocalCluster
        return LocalCluster().bin_dir

    @property
    def ingress_url(self) -> str:
        from rollback_drill.untrusted import Untrusted, local_ingress_url
        try:
            return local_ingress_url(os.environ.get(INGRESS_ENV, "http://127.0.0.1:80"), INGRESS_ENV)
        except Untrusted as e:
            raise ClusterError(str(e)) from None

    def up(self) -> ClusterStatus:
        remember_provider("existing")
        return self.status()

    def down(self) -> None:
        """Nothing to tear down: the harness does not own this cluster."""

    def status(self) -> ClusterStatus:
        ok, version, why = server_version(self.kubeconfig, self.context)
        return ClusterStatus("existing", str(self.kubeconfig), version, self.ingress_url, ok,
                             {"context": self.context}, why)

    def load_image(self, archive: Path, name: str) -> None:
        raise ClusterError(f"cannot load {name} into context '{self.context}': push it to a registry the "
                           "cluster can pull from and set the image in the Helm values")
