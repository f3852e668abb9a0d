"""Where the drilled Mastodon lives and what its parts are called: one object, not module constants.

The runbook's commands name no namespace and the project's runbook names `mastodon-helm`,
`mastodon-web`, …; a team's staging has its own namespace, release and host. The harness reads
these from the runbook's sidecar (`namespace`, `helm_release`, `production_host`, `old_deployments`,
`ingress`) or from flags, and everything that looks at the cluster asks this object.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rollback_drill import untrusted

OLD_STACK = ("mastodon-web", "mastodon-streaming", "mastodon-worker")


@dataclass(frozen=True)
class Application:
    namespace: str = "mastodon"
    release: str = "mastodon-helm"
    host: str = "ykzts.technology"
    old_stack: tuple[str, ...] = OLD_STACK  # the Kustomize Deployments the rollback brings back
    ingress: str = "mastodon"  # the Ingress the migration re-pointed and the rollback puts back
    helm_names: tuple[str, ...] = field(default=())  # the release's Deployments (default: the chart's names)

    def __post_init__(self) -> None:
        """Every name here becomes a kubectl/helm argument or part of a path: checked when it enters."""
        check_names(self.namespace, self.release, self.host, self.ingress, self.old_stack, self.helm_names)

    @property
    def helm_prefix(self) -> str:
        """The chart's fullname: the release name if it contains the chart's name, else both."""
        return self.release if "mastodon" in self.release else f"{self.release}-mastodon"

    @property
    def helm_stack(self) -> tuple[str, ...]:
        if self.helm_names:
            return self.helm_names
        p = self.helm_prefix
        return (f"{p}-web", f"{p}-streaming", f"{p}-sidekiq-all-queues")

    @property
    def deployments(self) -> set[str]:
        """What `--all` may touch without a finding flagging it: the application, both stacks."""
        return set(self.old_stack) | set(self.helm_stack)

    @property
    def faults_configmap(self) -> str:
        """The stub chart's fault switches (a value of the fixture chart, not of the official one)."""
        return f"{self.helm_prefix}-faults"

    @property
    def old_selector(self) -> str:
        """The old stack's pods (the Kustomize base labels each Deployment's pods app=<name>)."""
        return f"app in ({','.join(self.old_stack)})"

    def counterparts(self) -> dict[str, str]:
        """Old Deployment <-> its Helm counterpart (web, streaming, worker), both ways."""
        pairs = dict(zip(self.old_stack, self.helm_stack))
        return {**pairs, **{v: k for k, v in pairs.items()}}

    def with_overrides(self, **kw) -> "Application":
        return replace(self, **{k: v for k, v in kw.items() if v})


def check_names(namespace: str, release: str, host: str, ingress: str, old_stack=(), helm_names=(),
                where: dict[str, str] | None = None) -> None:
    """Refuse (untrusted.Untrusted, one line) any name Kubernetes or Helm would not take."""
    w = where or {}
    untrusted.namespace(namespace, w.get("namespace", ""))
    untrusted.release(release, w.get("release", ""))
    untrusted.hostname(host, w.get("host", ""))
    untrusted.object_name(ingress, w.get("ingress", ""), "Ingress")
    for d in (*old_stack, *helm_names):
        untrusted.object_name(d, w.get("deployments", ""), "Deployment")


def from_sidecar(sidecar: dict, **overrides) -> Application:
    """The application as the runbook's sidecar names it; flags (`overrides`) win. A bad name is
    refused naming the flag or the sidecar key it came from."""
    side = sidecar.get("path", "the sidecar")
    def source(name: str, flag: str, sidecar_key: str) -> str:
        return flag if overrides.get(name) else f"{sidecar_key} in {side}"
    where = {"namespace": source("namespace", "--namespace", "namespace"),
             "release": source("release", "--release", "helm_release"),
             "host": source("host", "--host", "production_host"), "ingress": f"ingress in {side}",
             "deployments": f"old_deployments/helm_deployments in {side}"}
    a = Application()
    check_names(overrides.get("namespace") or sidecar.get("namespace") or a.namespace,
                overrides.get("release") or sidecar.get("helm_release") or a.release,
                overrides.get("host") or sidecar.get("production_host") or a.host,
                sidecar.get("ingress") or a.ingress, tuple(sidecar.get("old_deployments") or ()),
                tuple(sidecar.get("helm_deployments") or ()), where)
    kw = {"namespace": sidecar.get("namespace"), "release": sidecar.get("helm_release"),
          "host": sidecar.get("production_host"), "ingress": sidecar.get("ingress"),
          "old_stack": tuple(sidecar["old_deployments"]) if sidecar.get("old_deployments") else None,
          "helm_names": tuple(sidecar["helm_deployments"]) if sidecar.get("helm_deployments") else None}
    return Application().with_overrides(**kw).with_overrides(**overrides)
