"""The system under test on a cluster the harness did not create (an allow-listed context).

Two ways, chosen with `--sut`:
- `stub`: the harness builds the just-migrated state of its stub Mastodon in a namespace it
  creates there (PostgreSQL and Redis as StatefulSets in it, the image from `--image`), and deletes
  the namespace afterwards;
- `existing`: the team's own release, already migrated. The harness checks first that the state is
  what the runbook assumes and refuses with the differences otherwise; it changes only the
  release's values (a configuration mistake, `helm upgrade --reuse-values`) and puts them back
  with `helm rollback` to the revision it found.

Either way nothing changes before the plan (`plan_lines`) was printed and `--yes` given, every
change is in the drill's ChangeLog (sut/changes.py), and the runbook's commands act through a
private kubeconfig whose context is the allowed one and whose namespace is the application's.

The runbook's part — which Ingress file a level applies, its preflight items, its commands in the
plan — is read by the drill (drill/staging.py) and handed in here as data: the system under test
knows no runbook text.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


from rollback_drill.cluster.kube import Kube, KubeconfigUnusable, write_scoped_kubeconfig
from rollback_drill.settings import first_line, state_dir
from rollback_drill.sut.application import Application
from rollback_drill.sut.changes import ChangeLog
from rollback_drill.sut.datastores import Credentials
from rollback_drill import untrusted
from rollback_drill.untrusted import record_key, write_private

PROBE_USER_ENV, PROBE_PASSWORD_ENV = "ROLLBACK_DRILL_PROBE_USER", "ROLLBACK_DRILL_PROBE_PASSWORD"
PROBE_CLIENT_ENV = ("ROLLBACK_DRILL_PROBE_CLIENT_ID", "ROLLBACK_DRILL_PROBE_CLIENT_SECRET")  # a registered app


class NotAsAssumed(ValueError):
    """The cluster is not in the state the drill needs (exit 2, with every difference)."""

    def __init__(self, what: str, differences: list[str]) -> None:
        self.differences = differences
        super().__init__(f"{what}: " + "; ".join(f"({i}) {d}" for i, d in enumerate(differences, 1)))


@dataclass
class Staging:
    """What the user asked for on an existing context."""

    context: str
    source_kubeconfig: Path
    sut: str  # stub | existing
    app: Application
    target_url: str
    workdir: Path  # existing: the team's folder with backup/ and k8s/ (the runbook's paths); stub: ours
    chart: Path | None = None  # existing: the chart `helm upgrade` of a configuration mistake uses
    image: str = ""  # stub: the stub image the cluster pulls
    postgres_image: str = ""
    redis_image: str = ""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # marks the files this run created

    @property
    def key(self) -> str:
        """The file name of this context+namespace's records: exact, never a path (untrusted.record_key)."""
        return record_key(self.context, self.app.namespace)

    @property
    def pending(self) -> Path:
        """The undos a killed drill could not do (sut/changes.py), kept until they are done."""
        return pending_dir() / f"{self.key}.json"

    @property
    def run_dir(self) -> Path:
        """The harness's private files for this drill (kubeconfig copy, credentials): removed after."""
        return runs_dir() / self.key

    def kube(self, bin_dir: Path | None) -> Kube:
        claim_run_dir(self.run_dir, self.token)
        cfg = self.run_dir / "kubeconfig"
        scoped_kubeconfig(self.source_kubeconfig, self.context, self.app.namespace, cfg)
        return Kube(cfg, bin_dir, self.app.namespace)


def pending_dir() -> Path:
    return state_dir() / "existing" / "pending"


def runs_dir() -> Path:
    return state_dir() / "existing" / "runs"


RUN_MARK = ".rollback-drill-run"
OURS = ("app.kubernetes.io/managed-by", "rollback-drill")  # the label of a namespace the harness created


def claim_run_dir(run_dir: Path, token: str) -> None:
    """Create the run's private folder and mark it as this run's: only a folder carrying this run's
    mark is ever removed (`forget`)."""
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (run_dir / RUN_MARK).write_text(token)


def scoped_kubeconfig(source: Path, context: str, namespace: str, target: Path) -> Path:
    """The drill's private kubeconfig for the allowed context (cluster/kube.write_scoped_kubeconfig);
    one that cannot be written is the cluster not being as assumed (exit 2, said why)."""
    try:
        return write_scoped_kubeconfig(source, target, namespace, context)
    except KubeconfigUnusable as e:
        raise NotAsAssumed(e.subject, e.reasons) from None


def differences(kube: Kube, app: Application, as_the_level_assumes: Callable[[], list[str]] = list) -> list[str]:
    """How the team's release differs from the just-migrated state the runbook assumes (read-only).
    `as_the_level_assumes`: the differences from what the drilled level itself assumes (its Ingress
    file, its preflight items), asked for last and only once the namespace exists (drill/staging.py)."""
    from kubernetes.client.rest import ApiException

    from rollback_drill.observe.cluster_state import ingress_backends
    out: list[str] = []
    if not kube.namespace_exists():
        return [f"namespace {app.namespace} does not exist"]
    if not kube.helm_release_deployed(app.release):
        out.append(f"Helm release {app.release} is not deployed in {app.namespace}")
    deps = kube.deployments()
    for d in app.helm_stack:
        if d not in deps:
            out.append(f"Deployment {d} (the release's) does not exist")
        elif deps[d] < 1:
            out.append(f"Deployment {d} has {deps[d]} replicas: the migrated state serves from the release")
    for d in app.old_stack:
        if d not in deps:
            out.append(f"Deployment {d} (the old stack the rollback scales up) does not exist")
        elif deps[d] != 0:
            out.append(f"Deployment {d} has {deps[d]} replicas: after the migration the old stack is scaled to 0")
    try:
        found = kube.read("ingress", app.ingress)
        ing = kube.as_dict(found) if found is not None else None
        if ing is None:
            out.append(f"Ingress {app.ingress} does not exist")
    except ApiException as e:
        ing = None
        out.append(f"Ingress {app.ingress} cannot be read ({e.status})")
    if ing is not None:
        now = ingress_backends(ing)
        if not now or not set(now) <= set(app.helm_stack):  # the chart names its Services as its Deployments
            out.append(f"Ingress {app.ingress} routes to {now}, not to the release's Services")
    return out + as_the_level_assumes()


def app_services(kube: Kube, app: Application) -> list[str]:
    """The old stack's Services (named as its Deployments; the worker has none)."""
    return [d for d in app.old_stack if kube.read("service", d) is not None]


def plan_lines(st: Staging, level: int, commands: list[tuple[int, str]], fault, load, revision: int | None,
               restarts: str = "") -> list[str]:
    """What the drill will do on the team's cluster, before anything is done. `commands`: the level's
    commands as (line, text), run as written."""
    a = st.app
    lines = [f"plan: Level {level} drill on context '{st.context}', namespace {a.namespace} (--sut {st.sut})"]
    lines.append("  the harness will change, and put back at the end, on Ctrl-C or on an error:")
    if st.sut == "stub":
        lines += [f"    - create namespace {a.namespace} (must not exist) and in it: PostgreSQL and Redis StatefulSets "
                  f"({st.postgres_image}, {st.redis_image}), the stub Mastodon ({st.image}) as the Kustomize stack "
                  f"and Helm release {a.release}, Ingress {a.ingress} for host {a.host}",
                  f"    - put back by deleting namespace {a.namespace} and everything in it"]
    if fault is not None and fault.values:
        sets = ", ".join(f"{p}=<{'a wrong value' if isinstance(v, str) else json.dumps(v)}>"
                         for p, v in fault.values.items())
        back = (f"helm rollback {a.release} {revision}" if revision else "deleting the namespace")
        lines += [f"    - helm upgrade {a.release} --reuse-values --no-hooks: {sets} ({fault.description})",
                  f"    - put back with {back}: the values as found (Helm restores the release's replicas too"
                  f"{'; ' + restarts if restarts else ''})"]
    elif fault is not None and fault.switches:
        lines.append(f"    - the stub's fault switch {json.dumps(fault.switches)} in ConfigMap {a.faults_configmap}")
    lines.append(f"  the runbook's Level {level} runs as written (its changes are the drill; the harness does not "
                 f"undo them):")
    lines += [f"    line {line}: {text}" for line, text in commands]
    lines.append(f"  load: {load.users} users x {load.rps_per_user:g} req/s for at most {load.max_seconds:.0f} s, "
                 f"probes every 0.5 s, to {st.target_url} (Host: {a.host})")
    lines.append("  nothing else is created, changed, scaled or restored.")
    return lines


def stub_namespace_free(kube: Kube, st: Staging) -> None:
    if kube.namespace_exists():
        raise NotAsAssumed(f"refusing --sut stub on context '{st.context}'", [
            f"namespace {st.app.namespace} already exists: the stub goes into a namespace the harness creates "
            f"(and deletes); pass --namespace NAME of one that does not exist"])


def provision_stub(st: Staging, kube: Kube, changes: ChangeLog, log):
    """The just-migrated stub in a namespace of ours on the team's cluster (removed by `changes`)."""
    from rollback_drill.sut.deploy import Environment, build_migrated_state, write_workdir
    from rollback_drill.sut.incluster import InClusterDatastores
    stub_namespace_free(kube, st)  # again, just before: never deploy into (and then delete) someone's namespace
    spec = {"kind": "delete_namespace", "namespace": st.app.namespace}
    changes.record(f"namespace {st.app.namespace} created (stub Mastodon, PostgreSQL, Redis)",
                   lambda: carry_out(kube, spec), spec)  # recorded before it is made: a kill leaves the record
    kube.create_namespace(labels=dict([OURS]))
    creds = Credentials.load_or_create(st.run_dir / "credentials.json")
    ds = InClusterDatastores(kube, creds)
    log(f"datastores: PostgreSQL and Redis StatefulSets in {st.app.namespace}")
    ds.create(st.postgres_image, st.redis_image)
    env = Environment(kube, st.workdir, st.target_url, st.app.host, creds, ds, st.image, app=st.app)
    write_workdir(env, st.image, None)
    build_migrated_state(env, log)
    return env


def attach_existing(st: Staging, kube: Kube, ingress_before: list[str]):
    """The team's release as it is (after `differences` found none): nothing is changed here.
    `ingress_before`: the Services the level's Ingress file routes to (drill/staging.py reads it)."""
    from rollback_drill.sut.deploy import SNAPSHOT, Environment
    user, password = os.environ.get(PROBE_USER_ENV, ""), os.environ.get(PROBE_PASSWORD_ENV, "")
    creds = Credentials("", "", "", password)
    client = tuple(os.environ.get(k, "") for k in PROBE_CLIENT_ENV)
    env = Environment(kube, st.workdir, st.target_url, st.app.host, creds, None, "", app=st.app,
                      chart_dir=st.chart, probe_user=user, extra_secrets=kube.secret_values() + [password, client[1]],
                      snapshot_dir=st.run_dir, probe_client=client)
    before = list(ingress_before)
    if not before:  # the level switches nothing back: users must still end up on the old stack's Services
        before = sorted(s for s in app_services(kube, st.app))
    (st.run_dir / SNAPSHOT).write_text(json.dumps({
        "objects": [], "annotations": {}, "ingress": {st.app.ingress: before},
        "not_checked": "the objects and Service annotations of the team's pre-migration state (no snapshot of "
                       "it exists: only the Ingress backends of the runbook's backup file are expected)"}))
    return env


def forget(st: Staging) -> None:
    """The private kubeconfig copy and credentials go when the drill ends — only if the folder is the
    one this run created (it carries this run's mark), never anything else."""
    remove_run_dir(st.run_dir, st.token)


def remove_run_dir(run_dir: Path, token: str | None) -> bool:
    """Remove a run folder under runs_dir() that carries the mark `token` (None: any run's mark)."""
    mark = run_dir / RUN_MARK
    if run_dir.parent.resolve() != runs_dir().resolve() or run_dir.is_symlink() or not mark.is_file():
        return False
    if token is not None and mark.read_text() != token:
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


def carry_out(kube: Kube, spec: dict) -> str:
    """One undo written as data (sut/changes.py): by the drill at its end, or by `put-back` after a kill."""
    if spec["kind"] == "helm_rollback":
        release, revision = untrusted.release(spec["release"], "an undo record"), int(spec["revision"])
        if kube.helm_release_revision(release) is None:
            return f"release {release} no longer deployed (the runbook removed it): its values went with it"
        kube.helm("rollback", release, str(revision), "--wait", "--timeout", "300s", timeout=360)
        return f"helm rollback {release} {revision}: the values as found"
    if spec["kind"] == "delete_namespace":
        labels = kube.namespace_labels()
        if labels is None:
            return f"namespace {kube.namespace} already gone"
        if spec["namespace"] != kube.namespace or labels.get(OURS[0]) != OURS[1]:
            raise ValueError(f"namespace {kube.namespace} not deleted: it does not carry the label "
                             f"{OURS[0]}={OURS[1]} of a namespace rollback-drill created")
        kube.delete_namespace(timeout=300)
        return f"namespace {spec['namespace']} deleted"
    raise ValueError(f"unknown undo {spec['kind']!r}")


def read_record(f: Path) -> dict:
    """A pending record as written (an unreadable one: {}, so it counts as a killed drill's)."""
    try:
        rec = json.loads(f.read_text())
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def pending_records(context: str) -> list[tuple[Path, dict]]:
    """The pending records of exactly this context (never a pattern match on file names)."""
    out = []
    for f in sorted(pending_dir().glob("*.json")) if pending_dir().is_dir() else []:
        rec = read_record(f)
        if rec.get("context") == context and f.name == f"{record_key(context, rec.get('namespace', ''))}.json":
            out.append((f, rec))
    return out


def owner_key() -> dict:
    """Who writes a pending record: this process on this machine. `put-back` leaves the record of a drill
    that is still running alone (it puts back itself when it ends); only a killed drill's is carried out."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def running_owner(rec: dict) -> int | None:
    """The pid of the drill that wrote `rec` when that drill still runs on this machine, else None.
    A pid is read as a drill's only while its command line is the harness's (a reused pid is not)."""
    pid = rec.get("pid")
    if rec.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return None
    return pid if b"rollback_drill" in cmdline or b"rollback-drill" in cmdline else None


def put_back_pending(context: str, source_kubeconfig: Path, bin_dir: Path | None, echo) -> int:
    """`rollback-drill put-back`: carry out what killed drills on `context` left in their pending
    records (newest first), and remove each record once everything in it is done. Exit 0 / 4."""
    records = pending_records(context)
    if not records:
        echo(f"nothing to put back on context '{context}'")
        return 0
    code = 0
    for f, rec in records:
        ns = untrusted.namespace(rec["namespace"], f"pending record {f.name}")
        pid = running_owner(rec)
        if pid is not None:
            echo(f"  not touched: namespace {ns} — its drill is still running (pid {pid}) and puts back itself "
                 f"when it ends (Ctrl-C ends it)")
            continue
        key = record_key(context, ns)
        cfg = pending_dir() / f".{key}.kubeconfig"
        kube = Kube(scoped_kubeconfig(source_kubeconfig, context, ns, cfg), bin_dir, ns)
        left = []
        for item in reversed(rec.get("undos") or []):
            try:
                echo(f"  put back: {carry_out(kube, item)} ({item['what']})")
            except Exception as e:  # noqa: BLE001 - said, kept for the next attempt
                left.append(item)
                code = 4
                echo(f"  NOT put back: {item['what']}: {first_line(e)[:300]}")
        cfg.unlink(missing_ok=True)
        remove_run_dir(runs_dir() / key, None)  # the killed run's kubeconfig copy (its folder, marked as a run's)
        if left:
            write_private(f, json.dumps({**rec, "undos": list(reversed(left))}, indent=2))
        else:
            f.unlink()
    return code
