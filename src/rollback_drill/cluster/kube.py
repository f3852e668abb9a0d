"""The drill cluster's API for the harness, and kubectl/helm where the CLI is the convention.

The harness's own reads, patches, scales and waits go through the official `kubernetes` client
(watches, not polling subprocesses), with the kubeconfig and context made explicit. kubectl and
helm remain for what is theirs: applying the fixtures' manifests and kustomizations the runbook
also applies, `helm install` of the fixture chart, and the runbook's own commands (executor.py),
all in the same environment (PATH with the cluster's kubectl/helm first, KUBECONFIG of the drill).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: gevent must patch the standard library before urllib3 is loaded
    from kubernetes import client as k8s


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
        """`kubectl get … -o json`: what an operator would see (tests use it to check the cluster as a
        person would; the harness itself reads through the client — tests/test_api_work.py)."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    # ---- the kubernetes client ---------------------------------------------------------------
    @cached_property
    def api(self) -> k8s.ApiClient:
        from kubernetes import config as k8s_config
        return k8s_config.new_client_from_config(config_file=str(self.kubeconfig), context=self.context)

    @cached_property
    def core(self) -> k8s.CoreV1Api:
        from kubernetes import client as k8s
        return k8s.CoreV1Api(self.api)

    @cached_property
    def apps(self) -> k8s.AppsV1Api:
        from kubernetes import client as k8s
        return k8s.AppsV1Api(self.api)

    @cached_property
    def net(self) -> k8s.NetworkingV1Api:
        from kubernetes import client as k8s
        return k8s.NetworkingV1Api(self.api)

    @cached_property
    def autoscaling(self) -> k8s.AutoscalingV2Api:
        from kubernetes import client as k8s
        return k8s.AutoscalingV2Api(self.api)

    @cached_property
    def custom(self) -> k8s.CustomObjectsApi:
        from kubernetes import client as k8s
        return k8s.CustomObjectsApi(self.api)

    def get_raw(self, path: str, **query: str) -> dict:
        """GET an API path (e.g. `/apis/apps/v1/namespaces/x/deployments`) as plain JSON. For reads
        repeated many times a second: the client's model objects cost far more CPU to build than the
        request itself. Raises the client's ApiException on an error answer, like the typed calls."""
        from kubernetes.client.rest import ApiException
        req = self.api.param_serialize("GET", path, query_params=list(query.items()) or None,
                                       header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        resp = self.api.call_api(*req, _request_timeout=30)
        resp.read()
        if not 200 <= resp.status <= 299:
            raise ApiException.from_response(http_resp=resp, body=resp.data.decode(errors="replace"), data=None)
        return json.loads(resp.data)

    def as_dict(self, obj) -> dict:
        return self.api.sanitize_for_serialization(obj)

    READERS = {"deployment": ("AppsV1Api", "read_namespaced_deployment"),
               "service": ("CoreV1Api", "read_namespaced_service"),
               "configmap": ("CoreV1Api", "read_namespaced_config_map"),
               "secret": ("CoreV1Api", "read_namespaced_secret"),
               "ingress": ("NetworkingV1Api", "read_namespaced_ingress")}

    def read(self, kind: str, name: str):
        """The object of `kind` (deployment, service, configmap, secret, ingress), or None when absent."""
        from kubernetes import client as k8s
        from kubernetes.client.rest import ApiException
        api, method = self.READERS[kind]
        try:
            return getattr(getattr(k8s, api)(self.api), method)(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def secret_values(self) -> list[str]:
        """Every value of the namespace's Secrets, decoded (to redact from the evidence; never printed).
        Helm's release records are skipped: their values are gzip'd and never appear as text."""
        import base64

        from kubernetes.client.rest import ApiException
        try:
            items = self.core.list_namespaced_secret(self.namespace).items
        except ApiException as e:
            if e.status == 404:
                return []
            raise
        out = []
        for s in items:
            if (s.type or "").startswith("helm.sh/release"):
                continue
            for v in (s.data or {}).values():
                try:
                    out.append(base64.b64decode(v).decode())
                except (ValueError, UnicodeDecodeError):
                    continue
        return out

    def namespace_exists(self) -> bool:
        return self.namespace_labels() is not None

    def namespace_labels(self) -> dict[str, str] | None:
        """The namespace's labels (None when it does not exist)."""
        from kubernetes.client.rest import ApiException
        try:
            return dict(self.core.read_namespace(self.namespace).metadata.labels or {})
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def deployments(self) -> dict[str, int]:
        """Deployment name -> desired replicas in the namespace."""
        return {d.metadata.name: d.spec.replicas or 0 for d in self.apps.list_namespaced_deployment(self.namespace).items}

    def helm_release_deployed(self, release: str) -> bool:
        """Helm 3 keeps each release revision in a Secret labelled owner=helm, name, status (read as
        metadata only: the recovery watch asks twice a second and the records are large)."""
        return bool(self.get_raw(f"/api/v1/namespaces/{self.namespace}/secrets",
                                 labelSelector=f"owner=helm,name={release},status=deployed")["items"])

    def helm_release_revision(self, release: str) -> int | None:
        """The deployed revision's number (the Secret's `version` label); None when not deployed."""
        items = self.core.list_namespaced_secret(
            self.namespace, label_selector=f"owner=helm,name={release},status=deployed").items
        return max((int((x.metadata.labels or {}).get("version", "0")) for x in items), default=None)

    def helm_release_values(self, release: str) -> dict | None:
        """The user-supplied values of the deployed revision; None when not deployed."""
        record = self.helm_release_record(release)
        return None if record is None else (record.get("config") or {})

    def helm_release_record(self, release: str) -> dict | None:
        """The deployed revision's release record (chart with its default values, the user's values,
        manifest): Helm 3 keeps it gzip'd JSON, base64 twice, in the Secret
        sh.helm.release.v1.<release>.v<N>; None when not deployed."""
        import base64
        import gzip
        items = self.core.list_namespaced_secret(
            self.namespace, label_selector=f"owner=helm,name={release},status=deployed").items
        if not items:
            return None
        latest = max(items, key=lambda x: int((x.metadata.labels or {}).get("version", "0")))
        raw = base64.b64decode(base64.b64decode(latest.data["release"]))
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw)

    def create_namespace(self, labels: dict[str, str] | None = None) -> None:
        from kubernetes import client as k8s
        from kubernetes.client.rest import ApiException
        try:
            self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=self.namespace, labels=labels)))
        except ApiException as e:
            if e.status != 409:  # already there
                raise

    def delete_namespace(self, timeout: float = 120) -> None:
        """Delete the namespace and wait until it is gone (a watch)."""
        from kubernetes import watch as k8s_watch
        from kubernetes.client.rest import ApiException
        try:
            self.core.delete_namespace(self.namespace)
        except ApiException as e:
            if e.status == 404:
                return
            raise
        w = k8s_watch.Watch()
        for ev in w.stream(self.core.list_namespace, field_selector=f"metadata.name={self.namespace}",
                           timeout_seconds=int(timeout)):
            if ev["type"] == "DELETED":
                w.stop()
                return
        if self.namespace_exists():
            raise KubeError(f"namespace {self.namespace} still present after {timeout:.0f}s")

    def wait_crds_established(self, names: list[str], timeout: float = 30) -> None:
        from kubernetes import client as k8s
        from kubernetes import watch as k8s_watch
        ext = k8s.ApiextensionsV1Api(self.api)
        left = set(names)
        w = k8s_watch.Watch()
        for ev in w.stream(ext.list_custom_resource_definition, timeout_seconds=int(timeout)):
            crd = ev["object"]
            if any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
                left.discard(crd.metadata.name)
            if not left:
                w.stop()
                return
        raise KubeError(f"CRDs not established within {timeout:.0f}s: {', '.join(sorted(left))}")

    def exec_in_pod(self, pod: str, command: list[str], timeout: float = 120) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of a command in a pod, through the API's exec (like `kubectl exec`)."""
        import yaml
        from kubernetes.stream import stream
        resp = stream(self.core.connect_get_namespaced_pod_exec, pod, self.namespace, command=command,
                      stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        out, err = [], []
        resp.run_forever(timeout=timeout)
        while resp.peek_stdout() or resp.peek_stderr():
            out.append(resp.read_stdout())
            err.append(resp.read_stderr())
        status = resp.read_channel(3)  # the error channel: the exit status as a v1.Status
        resp.close()
        code = 0
        if status:
            st = yaml.safe_load(status)
            if st.get("status") != "Success":
                causes = (st.get("details") or {}).get("causes") or []
                code = next((int(c["message"]) for c in causes if c.get("reason") == "ExitCode"), 1)
        elif resp.is_open():
            code = 124  # still running at the timeout
        return code, "".join(out), "".join(err)

    def scale(self, deployment: str, replicas: int) -> None:
        self.apps.patch_namespaced_deployment_scale(deployment, self.namespace, {"spec": {"replicas": replicas}})

    def patch_configmap(self, name: str, data: dict[str, str]) -> None:
        self.core.patch_namespaced_config_map(name, self.namespace, {"data": data})

    def annotate_service(self, name: str, annotations: dict[str, str | None]) -> None:
        """Set (or, with None, remove) annotations of a Service."""
        self.core.patch_namespaced_service(name, self.namespace, {"metadata": {"annotations": annotations}})

    def wait_rollout(self, deployment: str, timeout: int = 120) -> None:
        """Like `kubectl rollout status`: every replica updated and available, no old ones left (a watch)."""
        from kubernetes import watch as k8s_watch
        last = "no status yet"
        w = k8s_watch.Watch()
        for ev in w.stream(self.apps.list_namespaced_deployment, self.namespace,
                           field_selector=f"metadata.name={deployment}", timeout_seconds=int(timeout)):
            d = ev["object"]
            st, want = d.status, d.spec.replicas or 0
            done = ((st.observed_generation or 0) >= (d.metadata.generation or 0)
                    and (st.updated_replicas or 0) == want and (st.replicas or 0) == want
                    and (st.available_replicas or 0) == want)
            last = (f"{st.updated_replicas or 0} updated, {st.available_replicas or 0} available, "
                    f"{st.replicas or 0} in all of {want}")
            if done:
                w.stop()
                return
        raise KubeError(f"deployment {deployment} not rolled out within {timeout}s ({last})")

    def wait_gone(self, kind: str, selector: str, timeout: float = 60) -> None:
        """Until no pod matches `selector` (a watch; `kind` must be pods)."""
        from kubernetes import watch as k8s_watch
        if kind not in ("pod", "pods"):
            raise ValueError(f"wait_gone watches pods, not {kind}")
        listing = self.core.list_namespaced_pod(self.namespace, label_selector=selector)
        left = {p.metadata.name for p in listing.items}
        if not left:
            return
        w = k8s_watch.Watch()
        for ev in w.stream(self.core.list_namespaced_pod, self.namespace, label_selector=selector,
                           resource_version=listing.metadata.resource_version, timeout_seconds=int(timeout)):
            name = ev["object"].metadata.name
            if ev["type"] == "DELETED":
                left.discard(name)
            else:
                left.add(name)
            if not left:
                w.stop()
                return
        raise KubeError(f"pods with {selector} still present after {timeout:.0f}s: {', '.join(sorted(left))}")


def server_version(kubeconfig: Path, context: str | None = None, timeout: float = 10) -> tuple[bool, str, str]:
    """(answers, gitVersion, why not) of the API server behind a kubeconfig context — read, never assumed."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    if not kubeconfig.exists():
        return False, "", f"{kubeconfig} does not exist"
    try:
        api = k8s_config.new_client_from_config(config_file=str(kubeconfig), context=context)
        info = k8s.VersionApi(api).get_code(_request_timeout=timeout)
        return True, info.git_version, ""
    except Exception as e:  # noqa: BLE001 - any failure means: not reachable, said in one line
        return False, "", f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}"


def user_kubeconfig() -> Path:
    """The kubeconfig an operator's kubectl reads: the first of $KUBECONFIG, else ~/.kube/config."""
    return Path(os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")).split(os.pathsep)[0])


def current_context(kubeconfig: Path) -> str:
    """The kubeconfig's current context ("" when none). Read as YAML: importing the kubernetes client
    here would load urllib3 before gevent patches the standard library."""
    import yaml
    try:
        return str((yaml.safe_load(kubeconfig.read_text()) or {}).get("current-context") or "")
    except (OSError, yaml.YAMLError, AttributeError):
        return ""


class KubeconfigUnusable(ValueError):
    """A kubeconfig (or the context asked for) that cannot give the drill its own copy (exit 2)."""

    def __init__(self, subject: str, reasons: list[str]) -> None:
        self.subject, self.reasons = subject, reasons
        super().__init__(f"{subject}: " + "; ".join(reasons))


def write_scoped_kubeconfig(source: Path, target: Path, namespace: str, context: str | None = None) -> Path:
    """The one kubeconfig the drill's commands and the harness use: exactly one context (`context`,
    or the source's current one), its cluster and its user, flattened (certificate, key and token
    files read in) — so nothing run through it can reach another cluster — with the drill's
    namespace as the default (the runbook's commands name no namespace; they act on the context's
    default, as on the operator's laptop). Written 0600 (it holds credentials).

    The same writer serves the drill cluster and an allow-listed context of a team's cluster."""
    import yaml

    from rollback_drill.settings import first_line
    from rollback_drill.untrusted import write_private
    try:
        cfg = yaml.safe_load(source.read_text()) or {}  # JSON is YAML too
    except (OSError, yaml.YAMLError) as e:
        raise KubeconfigUnusable(f"kubeconfig {source}", [f"not readable ({first_line(e)})"]) from None
    context = context or str(cfg.get("current-context") or "")
    names = [c.get("name") for c in cfg.get("contexts") or []]
    if context not in names:
        raise KubeconfigUnusable(f"context {context!r}", [
            f"not in {source} (contexts: {', '.join(map(str, names)) or 'none'})"])
    inner = dict(next(c for c in cfg["contexts"] if c.get("name") == context).get("context") or {})
    cluster = next((c for c in cfg.get("clusters") or [] if c.get("name") == inner.get("cluster")), None)
    if cluster is None:
        raise KubeconfigUnusable(f"context {context!r}", [f"its cluster {inner.get('cluster')!r} is not in {source}"])
    user = next((u for u in cfg.get("users") or [] if u.get("name") == inner.get("user")), None)
    base = source.resolve().parent
    try:
        cluster = {"name": cluster["name"], "cluster": _flatten(cluster.get("cluster") or {}, base, (
            ("certificate-authority", "certificate-authority-data"),))}
        users = [] if user is None else [{"name": user["name"], "user": _flatten(user.get("user") or {}, base, (
            ("client-certificate", "client-certificate-data"), ("client-key", "client-key-data")))}]
    except OSError as e:
        raise KubeconfigUnusable(f"context {context!r}", [f"a file it names cannot be read ({first_line(e)})"]) from None
    out = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
           "contexts": [{"name": context, "context": {**inner, "namespace": namespace}}],
           "clusters": [cluster], "users": users}
    return write_private(target, json.dumps(out, indent=2))


def _flatten(entry: dict, base: Path, pairs: tuple[tuple[str, str], ...]) -> dict:
    """A kubeconfig cluster/user entry with file references read in as data (a copy that stands alone;
    relative names are relative to the kubeconfig, as kubectl reads them)."""
    import base64
    out = dict(entry)
    for ref, data in pairs:
        if out.get(ref):
            path = Path(out.pop(ref)).expanduser()
            path = path if path.is_absolute() else base / path
            out[data] = base64.b64encode(path.read_bytes()).decode()
    if out.get("tokenFile"):
        path = Path(out.pop("tokenFile")).expanduser()
        out["token"] = (path if path.is_absolute() else base / path).read_text().strip()
    return out
