"""Running kubectl and helm against the drill cluster, the way the runbook's operator would.

Why subprocesses rather than the Python client: the runbook is written in kubectl and helm, and
the drill must prove *those* commands work; the harness's own calls use the same tools and
the same environment (PATH with the cluster's kubectl/helm first, KUBECONFIG of the drill).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class KubeError(RuntimeError):
    pass


@dataclass
class Kube:
    kubeconfig: Path
    bin_dir: Path | None = None
    namespace: str = "mastodon"
    context: str | None = None  # an explicitly allowed context of an existing cluster

    def env(self) -> dict[str, str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        if self.bin_dir:
            env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("HELM_CACHE_HOME", str(self.kubeconfig.parent / ".helm" / "cache"))
        env.setdefault("HELM_CONFIG_HOME", str(self.kubeconfig.parent / ".helm" / "config"))
        env.setdefault("HELM_DATA_HOME", str(self.kubeconfig.parent / ".helm" / "data"))
        return env

    def run(self, tool: str, *args: str, check: bool = True, timeout: float = 300, cwd: Path | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
        if self.context:
            args = (f"--context={self.context}" if tool == "kubectl" else f"--kube-context={self.context}", *args)
        proc = subprocess.run([tool, *args], capture_output=True, text=True, env=self.env(), timeout=timeout,
                              cwd=cwd, input=input)
        if check and proc.returncode != 0:
            raise KubeError(f"{tool} {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
        return proc

    def kubectl(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run("kubectl", *args, **kw)

    def helm(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run("helm", *args, **kw)

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def scale(self, deployment: str, replicas: int) -> None:
        self.kubectl("scale", "deployment", deployment, f"--replicas={replicas}")

    def wait_rollout(self, deployment: str, timeout: int = 120) -> None:
        self.kubectl("rollout", "status", f"deployment/{deployment}", f"--timeout={timeout}s", timeout=timeout + 10)

    def wait_gone(self, kind: str, selector: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.get_json(kind, "-l", selector)["items"]:
                return
            time.sleep(0.3)
        raise KubeError(f"{kind} with {selector} still present after {timeout:.0f}s")


def write_drill_kubeconfig(source: Path, target: Path, namespace: str) -> Path:
    """A copy of the cluster's kubeconfig whose current context defaults to the drill namespace.

    The runbook's commands name no namespace; they act on the context's default, as on the
    operator's laptop. Giving the drill its own namespace keeps them away from kube-system.
    """
    cfg = json.loads(source.read_text()) if source.read_text().lstrip().startswith("{") else None
    if cfg is None:
        import yaml
        cfg = yaml.safe_load(source.read_text())
    current = cfg["current-context"]
    for ctx in cfg["contexts"]:
        if ctx["name"] == current:
            ctx["context"]["namespace"] = namespace
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(cfg, indent=2))
    target.chmod(0o600)
    return target
