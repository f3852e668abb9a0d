"""Deploy the stub Mastodon in the "just migrated" state the runbook assumes.

Order, as it happened in production: the old Kustomize stack runs and owns the Ingress; a
backup is taken just before the migration; the Helm release is installed (its db-prepare hook
moves the schema forward); the Ingress is re-pointed at the Helm services; the old Deployments
are scaled to 0 but kept, with their ConfigMap `mastodon-env` and Secret `mastodon`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from rollback_drill import FIXTURES
from rollback_drill.cluster import Cluster
from rollback_drill.sut.application import Application
from rollback_drill.sut.datastores import Credentials, Datastores
from rollback_drill.sut.images import stub_image
from rollback_drill.sut.incluster import InClusterDatastores
from rollback_drill.sut.pull_registry import pull_ref
from rollback_drill.cluster.kube import Kube, write_scoped_kubeconfig
from rollback_drill.settings import lane as current_lane, lane_dir
from rollback_drill.untrusted import write_private

LOCAL = Application()  # the drill cluster's own deployment: the names the fixtures use
PRE_MIGRATION_VERSION = "20240101000003"
LATEST_VERSION = "20241001000000"
WORKDIR_ITEMS = ("k8s", "backup", "helm", "crds", "migrated")
SNAPSHOT = "premigration.json"  # the pre-migration state a full rollback must bring back


class DeployError(RuntimeError):
    pass


@dataclass
class Environment:
    """Everything a drill needs to reach the deployed system."""

    kube: Kube
    workdir: Path
    ingress_url: str
    host: str
    creds: Credentials
    datastores: Datastores | InClusterDatastores | None  # None: a team's release (its data is not ours)
    image: str
    app: Application = LOCAL
    chart_dir: Path | None = None  # the release's chart for `helm upgrade` (default: the workdir's copy)
    probe_user: str = "alice@example.com"  # the account the probes sign in as (the stub seeds it)
    extra_secrets: list[str] = field(default_factory=list)  # a team's Secrets' values (redacted)
    snapshot_dir: Path | None = None  # where the pre-migration snapshot is (default: the workdir)
    probe_client: tuple[str, str] = ("", "")  # a registered OAuth app for a real Mastodon's password grant

    @property
    def chart(self) -> Path:
        return self.chart_dir or self.workdir / "helm" / "mastodon"

    @property
    def is_stub(self) -> bool:
        """The harness's stub (seeded data, fault switches), not a team's own release."""
        return self.datastores is not None

    def secret_values(self) -> list[str]:
        own = self.creds.values() + [media_storage_secret(self.creds)] if self.is_stub else []
        return [v for v in own + self.extra_secrets if v]

    def premigration(self) -> dict:
        """The snapshot of the pre-migration state taken by `deploy` before the Helm install."""
        return json.loads(((self.snapshot_dir or self.workdir) / SNAPSHOT).read_text())


def lane_app(lane: int) -> Application:
    """The stub's names in a lane: lane 0 is the fixtures' own (namespace `mastodon`, the runbook's
    host); lane n has a namespace and a host of its own, so drills side by side share no object,
    no Ingress rule and no datastore. The runbook names no namespace (its kubectl takes the
    kubeconfig's), so its commands act on the lane's namespace only."""
    if lane == 0:
        return LOCAL
    return replace(LOCAL, namespace=f"{LOCAL.namespace}-lane{lane}", host=f"lane{lane}.{LOCAL.host}")


def environment(cluster: Cluster, lane: int | None = None) -> Environment:
    """The drill environment of a lane (default: this process's, settings.lane()) on an already
    deployed cluster (no changes made)."""
    lane = current_lane() if lane is None else lane
    app = lane_app(lane)
    work = lane_dir("work", lane)
    kube = Kube(work / "kubeconfig", cluster.bin_dir, app.namespace)
    ds = Datastores(cluster.pod_host_address, lane)
    image_file = work / "image"
    return Environment(kube, work, cluster.ingress_url, app.host, ds.creds, ds,
                       image_file.read_text() if image_file.exists() else "", app=app)


#: The drill cluster's lab timings on top of the stub chart, whose defaults are the official chart's
#: (fixtures/chart-facts.yaml: the facts, and what these values change): the lab boots a pod in seconds
#: and a drill must not wait production's probe periods. Listed in every journal (environment.chart).
LAB_VALUES = {"lab": {"fastProbes": True, "terminationGracePeriodSeconds": 2}}


def chart_evidence() -> dict:
    """What the journal says of the stub chart: whose behaviour it mirrors, the lab values the drill
    cluster sets on top, and what is not mirrored yet (fixtures/chart-facts.yaml)."""
    table = yaml.safe_load((FIXTURES / "chart-facts.yaml").read_text(encoding="utf-8"))
    return {"mirrors": table["source"], "facts": "fixtures/chart-facts.yaml", "lab_values": LAB_VALUES["lab"],
            "not_mirrored": [f"{d['id']}: {d['official']} (stub: {d['stub']})" for d in table["differs"]]}


def write_workdir(env: Environment, image: str, datastores_at: str | None, old_stack_image: str | None = None) -> None:
    """Copy the fixtures the runbook's commands name, with this build's image, host and secrets;
    `datastores_at`: the address of PostgreSQL and Redis outside the cluster (None: in the namespace);
    `old_stack_image`: the name the old stack's pods use for the same image (default `image`): the lane's
    pull name where the node can pull from the harness's registry (old_stack_pull_name)."""
    work = env.workdir
    for item in WORKDIR_ITEMS:
        shutil.rmtree(work / item, ignore_errors=True)
        shutil.copytree(FIXTURES / item, work / item)
    if env.host != LOCAL.host:  # the fixtures name the project's host; a drill elsewhere has its own
        for f in work.rglob("*.yaml"):
            f.write_text(f.read_text().replace(LOCAL.host, env.host))
    repo, tag = image.rsplit(":", 1)
    old_repo, old_tag = (old_stack_image or image).rsplit(":", 1)
    kust = work / "k8s" / "overlays" / "production" / "kustomization.yaml"
    k = yaml.safe_load(kust.read_text())
    k["images"] = [{"name": "mastodon-stub", "newName": old_repo, "newTag": old_tag}]
    kust.write_text(yaml.safe_dump(k, sort_keys=False))
    c = env.creds
    secrets_env = work / "k8s" / "overlays" / "production" / "secrets.env"
    write_private(secrets_env, f"DB_PASS={c.db_password}\nREDIS_PASSWORD={c.redis_password}\n"
                               f"SECRET_KEY_BASE={c.secret_key_base}\nSEED_PASSWORD={c.seed_password}\n"
                               f"REDIS_HOST=redis\n")
    values = {"image": {"repository": repo, "tag": tag}, **LAB_VALUES,
              # the migrated state's Ingress is the team's own file (the runbook applies it), not the chart's
              "ingress": {"enabled": False},
              "mastodon": {"localDomain": env.host, "secrets": {"secret_key_base": c.secret_key_base},
                           "s3": {"enabled": True, "access_key": "drill-media", "bucket": "media",
                                  "access_secret": media_storage_secret(c)}},
              "postgresql": {"auth": {"password": c.db_password}},
              "redis": {"auth": {"password": c.redis_password}}}
    vf = work / "helm-values.secret.yaml"
    write_private(vf, yaml.safe_dump(values))
    (work / "image").write_text(image)
    if datastores_at is None:
        return
    host = datastores_at
    ds = env.datastores
    (work / "datastores.yaml").write_text(yaml.safe_dump_all([
        obj for name, port, target in (("postgres", 5432, ds.pg_port), ("redis", 6379, ds.redis_port))
        for obj in (
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
             "spec": {"ports": [{"name": name, "port": port, "targetPort": target}]}},
            {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name},
             "subsets": [{"addresses": [{"ip": host}], "ports": [{"name": name, "port": target}]}]},
        )]))


def media_storage_secret(creds: Credentials) -> str:
    """The object storage's secret key for the release (derived: no new credential to keep)."""
    return hashlib.sha256(f"{creds.secret_key_base}:media-storage".encode()).hexdigest()[:32]


def _media_storage(env: Environment) -> None:
    """The object storage accepts the release's media credentials (their digest, kept in Redis)."""
    env.datastores.redis("SET", "storage:media:secret_sha256",
                         hashlib.sha256(media_storage_secret(env.creds).encode()).hexdigest())


def _wait_http(url: str, host: str, want_server_prefix: str, timeout: float = 60) -> None:
    from rollback_drill.untrusted import no_redirect_opener, reachable_url
    opener = no_redirect_opener()
    reachable_url(url)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        req = urllib.request.Request(url, headers={"Host": host})
        try:
            with opener.open(req, timeout=2) as r:
                served = r.headers.get("X-Served-By", "")
                if r.status == 200 and served.startswith(want_server_prefix):
                    return
                last = f"{r.status} from {served}"
        except OSError as e:
            last = str(e)
        time.sleep(0.3)
    raise DeployError(f"{url} (Host: {host}) not served by {want_server_prefix}* within {timeout:.0f}s: {last}")


# Set by hand on the old Services in production (not in the Kustomize base): the migration removed
# them, and Level 2's `kubectl annotate` puts them back.
PRE_MIGRATION_ANNOTATIONS = {
    svc: {"beta.cloud.google.com/backend-config": json.dumps({"default": f"{svc}-backend-config"})}
    for svc in ("mastodon-web", "mastodon-streaming")}
GKE_OBJECTS = (("hpa", "mastodon-web"), ("backendconfig", "mastodon-web-backend-config"),
               ("backendconfig", "mastodon-streaming-backend-config"), ("frontendconfig", "mastodon-frontend-config"))


def _migration_cleanup(kube: Kube, app: Application = LOCAL) -> None:
    """What the migration removed and Level 2 restores: HPA, GKE objects, service annotations."""
    from rollback_drill.observe.cluster_state import ClusterState
    state = ClusterState(kube)
    for kind, name in GKE_OBJECTS:
        state.delete(kind, name)  # 404 (also: no such kind on a cluster without the GKE CRDs) is nothing to do
    for svc in ("mastodon-web", "mastodon-streaming"):
        kube.annotate_service(svc, {"beta.cloud.google.com/backend-config": None})


def _data_intact(env: Environment) -> bool:
    try:
        rows = env.datastores.psql("SELECT count(*) FROM statuses WHERE id <= 3 AND text LIKE 'Hello from %'")
        version = env.datastores.psql("SELECT max(version::bigint) FROM schema_migrations")
    except Exception:  # noqa: BLE001 - any doubt means: rebuild from scratch
        return False
    return rows.strip() == "3" and version.strip() == LATEST_VERSION


def restore_migrated_state(env: Environment, log=print) -> bool:
    """Return a drilled deployment to the just-migrated state without rebuilding it (fast reset).

    Returns False when the state cannot be trusted (then the caller rebuilds from scratch).
    """
    kube, w, app = env.kube, env.workdir, env.app
    if not kube.namespace_exists():
        return False
    if not any(b.get("description") == "pre-helm-migration" for b in env.datastores.list_backups()):
        return False
    if not (w / SNAPSHOT).exists():
        return False
    names = set(kube.deployments())
    if not set(app.old_stack) <= names:
        kube.kubectl("apply", "-k", str(w / "k8s" / "overlays" / "production"))
    for d in app.old_stack:
        kube.scale(d, 0)
    if kube.helm_release_deployed(app.release) and set(app.helm_stack) <= names:
        expected = yaml.safe_load((w / "helm-values.secret.yaml").read_text())
        if kube.helm_release_values(app.release) != expected:  # a configuration-mistake fault was applied
            kube.helm("upgrade", app.release, str(w / "helm" / "mastodon"), "-n", app.namespace, "-f",
                      str(w / "helm-values.secret.yaml"), "--reset-values", "--no-hooks", "--wait", "--timeout", "180s",
                      timeout=240)
        kube.patch_configmap(app.faults_configmap, {"faults.json": "{}"})
        for d in app.helm_stack:
            kube.scale(d, 1)
    else:
        kube.helm("uninstall", app.release, "-n", app.namespace, "--wait", check=False)
        kube.helm("install", app.release, str(w / "helm" / "mastodon"), "-n", app.namespace, "-f",
                  str(w / "helm-values.secret.yaml"), "--wait", "--timeout", "180s", timeout=240)
    if not _data_intact(env):
        return False
    _media_storage(env)
    kube.kubectl("apply", "-f", str(w / "migrated" / "ingress-mastodon.yaml"))
    _migration_cleanup(kube, app)
    for d in app.helm_stack:
        kube.wait_rollout(d)
    kube.wait_gone("pods", app.old_selector)
    _wait_http(f"{env.ingress_url}/health", app.host, "mastodon-helm-web-")
    log("just-migrated state restored")
    return True


def old_stack_pull_name(cluster: Cluster, image: str) -> str:
    """The name the old stack's pods give the stub image: on a node that pulls from the harness's registry
    the lane's pull name (tagged here from the loaded image, so nothing pulls unless a drill under a
    profile with `image_absent_on_node` removes it: sut/pull_registry.py), elsewhere the image's own."""
    if not cluster.pulls_from_loopback:
        return image
    ref = pull_ref(image, current_lane())
    cluster.tag_image(image, ref)
    return ref


def deploy(cluster: Cluster, reset: bool = False, log=print) -> Environment:
    """Bring the cluster to the just-migrated state (idempotent; `reset` returns it there)."""
    env = environment(cluster)
    kube, app = env.kube, env.app
    write_scoped_kubeconfig(cluster.kubeconfig, kube.kubeconfig, app.namespace)
    if reset:  # what a killed drill's fidelity emulation left (mirror Ingress, class, ConfigMap)
        from rollback_drill.observe.cluster_state import ClusterState
        from rollback_drill.sut.emulation import clear_leftovers
        clear_leftovers(ClusterState(kube))
    if reset and env.image and env.image == stub_image().name and env.datastores.running():
        old_stack_pull_name(cluster, env.image)  # a killed drill under a pulling profile left it removed
        env.datastores.up()
        try:
            if restore_migrated_state(env, log):
                return env
        except Exception as e:  # noqa: BLE001 - fall back to a full rebuild, which reports its own errors
            log(f"fast reset failed ({e}); rebuilding")
    if reset:
        teardown(cluster, env)
    env.datastores.up()
    env.creds = env.datastores.creds
    _media_storage(env)
    image = stub_image()
    cluster.load_image(image.archive, image.name)
    env.image = image.name
    write_workdir(env, image.name, cluster.pod_host_address, old_stack_pull_name(cluster, image.name))
    w = env.workdir

    if kube.namespace_exists() and kube.helm_release_deployed(app.release) and not reset:
        log("already deployed: checking it serves through the Ingress")
        _wait_http(f"{env.ingress_url}/health", app.host, "mastodon-", timeout=30)
        return env

    kube.kubectl("apply", "-f", str(w / "crds"))
    kube.wait_crds_established(["backendconfigs.cloud.google.com", "frontendconfigs.networking.gke.io"])
    kube.create_namespace()
    kube.kubectl("apply", "-f", str(w / "datastores.yaml"))
    build_migrated_state(env, log)
    log("just-migrated state ready")
    return env


def build_migrated_state(env: Environment, log=print) -> None:
    """From a namespace whose datastores answer as `postgres` and `redis` to the just-migrated state,
    the way it happened in production (see the module's docstring). Used on the drill cluster and
    in a namespace the harness created on an existing context."""
    kube, w, app = env.kube, env.workdir, env.app
    log("pre-migration: old Kustomize stack with its Ingress")
    kube.kubectl("apply", "-k", str(w / "k8s" / "overlays" / "production"))
    for d in app.old_stack:
        kube.wait_rollout(d)
    kube.kubectl("exec", f"deployment/{app.old_stack[0]}", "--", "mastodon-stub", "migrate", PRE_MIGRATION_VERSION)
    kube.kubectl("apply", "-f", str(w / "backup" / "ingress-mastodon.yaml"))
    gke = gke_crds_present(kube)
    for f in ("hpa.yaml",) + (("backendconfig.yaml", "frontendconfig.yaml") if gke else ()):
        kube.kubectl("apply", "-f", str(w / "k8s" / "overlays" / "production" / f))
    for svc, ann in PRE_MIGRATION_ANNOTATIONS.items():
        kube.annotate_service(svc, ann)
    _wait_http(f"{env.ingress_url}/health", app.host, f"{app.old_stack[0]}-")
    from rollback_drill.observe.cluster_state import ClusterState
    snap = ClusterState(kube).snapshot(GKE_OBJECTS, ("mastodon-web", "mastodon-streaming"), app.ingress)
    (w / SNAPSHOT).write_text(json.dumps(snap, indent=2))
    log("backup just before the migration")
    env.datastores.create_backup("pre-helm-migration")

    log("migration: Helm release, Ingress to the Helm services, old stack scaled to 0")
    kube.helm("install", app.release, str(w / "helm" / "mastodon"), "-n", app.namespace, "-f",
              str(w / "helm-values.secret.yaml"), "--wait", "--timeout", "180s", timeout=240)
    kube.kubectl("apply", "-f", str(w / "migrated" / "ingress-mastodon.yaml"))
    _migration_cleanup(kube, app)
    for d in app.old_stack:
        kube.scale(d, 0)
    kube.wait_gone("pods", app.old_selector)
    _wait_http(f"{env.ingress_url}/health", app.host, f"{app.helm_stack[0]}-")


def gke_crds_present(kube: Kube) -> bool:
    """BackendConfig and FrontendConfig exist as kinds here (GKE has them; the drill cluster installs
    them; elsewhere the harness does not install cluster-wide definitions)."""
    from kubernetes import client as k8s
    from kubernetes.client.rest import ApiException
    ext = k8s.ApiextensionsV1Api(kube.api)
    try:
        for n in ("backendconfigs.cloud.google.com", "frontendconfigs.networking.gke.io"):
            ext.read_custom_resource_definition(n)
        return True
    except ApiException as e:
        if e.status in (403, 404):
            return False
        raise


def teardown(cluster: Cluster, env: Environment | None = None) -> None:
    """Remove the deployment and empty the database (used by --reset and after drills)."""
    env = env or environment(cluster)
    kube = env.kube
    if not kube.kubeconfig.exists():
        return
    kube.helm("uninstall", env.app.release, "-n", env.app.namespace, "--wait", check=False)
    kube.delete_namespace(timeout=150)
    if env.datastores.running():
        env.datastores.reset_database()


def summary(env: Environment) -> dict:
    """What runs now: deployments with replicas, the Ingress backends, the schema version."""
    from kubernetes import client as k8s

    from rollback_drill.observe.cluster_state import ingress_backends
    ing = env.kube.as_dict(k8s.NetworkingV1Api(env.kube.api).read_namespaced_ingress(env.app.ingress, env.app.namespace))
    return {"deployments": env.kube.deployments(), "ingress_backends": ingress_backends(ing)}


def as_json(env: Environment) -> str:
    return json.dumps(summary(env), indent=2)
