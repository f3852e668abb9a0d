"""The kind provider: for CI runners with Docker and kind (GitHub Actions nightly drills).

kind cannot create its node container on our own machines (Docker's --privileged fails there),
so what is tested here is everything short of creating the node: the config, the command lines,
the refusal when Docker or kind is missing. The Ingress controller is Traefik from its chart,
published through the node's port mapping on 127.0.0.1:8088.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rollback_drill import PROJECT_ROOT
from rollback_drill.cluster import Cluster, ClusterError, ClusterStatus, remember_provider
from rollback_drill.cluster.kube import server_version

CLUSTER_NAME = "rollback-drill"
NODE = f"{CLUSTER_NAME}-control-plane"
TRAEFIK_CHART_VERSION = "36.2.0"  # pinned: an unpinned chart changes the Ingress controller under the drills
CONFIG = PROJECT_ROOT / "cluster" / "kind" / "kind-config.yaml"
TRAEFIK_VALUES = {"ports": {"web": {"hostPort": 80}}, "nodeSelector": {"ingress-ready": "true"},
                  "ingressClass": {"isDefaultClass": True}, "service": {"type": "ClusterIP"},
                  # no ready endpoint -> 503 (production's load balancer: 502), never a 404 no criterion counts
                  "providers": {"kubernetesIngress": {"allowEmptyServices": True}}}


class KindCluster(Cluster):
    name = "kind"

    @property
    def kubeconfig(self) -> Path:
        from rollback_drill.settings import state_dir
        return state_dir() / "kind" / "kubeconfig"

    @property
    def ingress_url(self) -> str:
        return "http://127.0.0.1:8088"

    @property
    def pod_host_address(self) -> str:
        """The gateway of kind's Docker network: the runner's address as seen from the pods.

        PostgreSQL and Redis run on the runner (outside the cluster, like Cloud SQL) and listen there.
        """
        p = subprocess.run(["docker", "network", "inspect", "kind", "-f",
                            "{{range .IPAM.Config}}{{if .Gateway}}{{.Gateway}} {{end}}{{end}}"],
                           capture_output=True, text=True)
        gateways = [g for g in p.stdout.split() if ":" not in g]  # IPv4 only
        if p.returncode != 0 or not gateways:
            raise ClusterError(f"cannot find kind's Docker network gateway: {p.stderr.strip() or 'no IPv4 gateway'}")
        return gateways[0]

    def create_command(self) -> list[str]:
        return ["kind", "create", "cluster", "--name", CLUSTER_NAME, "--config", str(CONFIG),
                "--kubeconfig", str(self.kubeconfig), "--wait", "120s"]

    @property
    def traefik_values_file(self) -> Path:
        return self.kubeconfig.parent / "traefik-values.yaml"

    def ingress_commands(self) -> list[list[str]]:
        """Traefik as the Ingress controller, on the ingress-ready node's port 80 (hostPort). Its values
        go in a file: `--set nodeSelector.ingress-ready=true` would make the label a boolean, which the
        chart writes unquoted and the API server rejects (a nodeSelector holds strings)."""
        import yaml
        self.traefik_values_file.parent.mkdir(parents=True, exist_ok=True)
        self.traefik_values_file.write_text(yaml.safe_dump(TRAEFIK_VALUES))
        kc = f"--kubeconfig={self.kubeconfig}"
        return [["helm", kc, "repo", "add", "traefik", "https://traefik.github.io/charts"],
                ["helm", kc, "upgrade", "--install", "traefik", "traefik/traefik", "--version", TRAEFIK_CHART_VERSION,
                 "-n", "traefik", "--create-namespace", "--wait", "-f", str(self.traefik_values_file)]]

    def has_image(self, name: str) -> bool:
        """Whether the kind node's containerd holds the image (kubectl's short names get docker.io/)."""
        import json
        p = subprocess.run(["docker", "exec", NODE, "crictl", "images", "-o", "json"], capture_output=True, text=True)
        if p.returncode != 0:
            raise ClusterError(f"cannot list the images of the kind node {NODE}: {p.stderr.strip()[-300:]}")
        tags = {t for img in json.loads(p.stdout).get("images", []) for t in img.get("repoTags") or []}
        full = name if "/" in name.split(":")[0] and "." in name.split("/")[0] else f"docker.io/{name}"
        return name in tags or full in tags

    def load_command(self, archive: Path) -> list[str]:
        return ["kind", "load", "image-archive", str(archive), "--name", CLUSTER_NAME]

    def _require(self) -> None:
        missing = [t for t in ("docker", "kind", "helm") if not shutil.which(t)]
        if missing:
            raise ClusterError(f"the kind provider needs {', '.join(missing)} on PATH; on machines without "
                               "Docker use --provider local")

    def up(self) -> ClusterStatus:
        self._require()
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        remember_provider("kind")
        for cmd in [self.create_command(), *self.ingress_commands()]:
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                self.down()
                raise ClusterError(f"'{' '.join(cmd[:3])}' failed: {p.stderr.strip()[-500:]}")
        return self.status()

    def down(self) -> None:
        """The kind cluster, then the teardowns added to it: the datastores' containers and volume the
        drills made on the runner's Docker (tests/test_after_down.py checks that nothing remains)."""
        if shutil.which("kind"):
            subprocess.run(["kind", "delete", "cluster", "--name", CLUSTER_NAME], capture_output=True)
        self._run_teardowns()

    def status(self) -> ClusterStatus:
        ok, version, why = server_version(self.kubeconfig)
        return ClusterStatus("kind", str(self.kubeconfig), version, self.ingress_url, ok, detail=why)

    def load_image(self, archive: Path, name: str) -> None:
        self._require()
        p = subprocess.run(self.load_command(archive), capture_output=True, text=True)
        if p.returncode != 0:
            raise ClusterError(f"kind load failed for {name}: {p.stderr.strip()[-300:]}")
