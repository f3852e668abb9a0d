"""`rollback-drill calibrate`: a team's own numbers for a profile, measured on its cluster.

A profile's values (fixtures/profiles/gke.yaml) are published reports and assumptions. Calibrate
measures, on an allowed context (or the drill cluster), what the profile assumes — and writes a
profile whose every value says where, when, from how many samples and with what spread it was
measured; what it could not measure keeps the base profile's value and source, marked so:

- **boot** of the team's image (web, streaming): Deployments of its own with the release's image,
  command and readiness check (read from the release, read-only), a 1 s probe so the probe's
  period does not hide the boot; no env, no Secret is copied: an image that needs its configuration
  to start is reported as not measured, with the container's reason. Sidekiq has no readiness probe
  in the chart: its boot is not visible to Kubernetes and is not measured.
- **image pull**: the kubelet's own figure ("Successfully pulled image … in 12.3s") from the events of
  calibrate's pods; a node that already had the image gives no sample (said).
- **NEG readiness gate**: how long after its containers are ready a pod carrying a readiness gate
  turns Ready (GKE adds `cloud.google.com/load-balancer-neg-ready` to pods behind a load balancer).
- **Ingress backend switch**: a throwaway Ingress and two Services of its own (backends that name the
  pod that answered), switched back and forth while probing every 0.25 s: switch -> first answer
  from the new backend (ingress_propagation), the 502 span just before it (ingress_502_window), and
  how long the old one still answered (said, not a profile parameter).
- **Cloud SQL restores**, read-only: the instance's RESTORE_VOLUME operations (`gcloud sql
  operations list --format=json`, or that answer recorded in a file): pending and running times.

Everything lives in a namespace calibrate creates and deletes (also on Ctrl-C); on someone else's
cluster it needs an allowed context, prints the plan first and acts only with `--yes`. Probes go to
a loopback address (the drill cluster's Ingress, a port-forward) or a URL the user allowed.

`--emulate PROFILE` (the drill cluster only) closes the loop: the profile's emulation acts on
calibrate's own objects, and calibrate must find the emulated values again.
"""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401,I001 - locust patches gevent before anything else

import json
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import gevent
import yaml
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.rest import ApiException

from rollback_drill.cluster import Cluster
from rollback_drill.cluster.kube import Kube
from rollback_drill.observe.calibration import (Answer, Measured, NotMeasured, OperationsUnreadable, PodTimes,
                                                Restores, Switch, analyse_switch, calibrated_parameters,
                                                first_pulls, pulled_seconds, restores)
from rollback_drill.observe.cluster_state import ClusterState
from rollback_drill.observe.timeline import Timeline
from rollback_drill.settings import first_line, lane
from rollback_drill.sut.application import Application
from rollback_drill.sut.emulation import NEG_GATE, Emulation
from rollback_drill.sut.profile import Profile
from rollback_drill.sut.pull_registry import pull_ref
from rollback_drill.untrusted import no_redirect_opener

LABELS = {"app.kubernetes.io/managed-by": "rollback-drill", "rollback-drill/role": "calibrate"}
KEY = "rollback-drill/calibrate"  # the pod label naming what a pod is for: web, streaming, a, b
PROBE_INTERVAL_S = 0.25
ECHO_PORT = 3000


class CalibrateError(RuntimeError):
    """Calibrate could not do its work (exit 4): said in one line."""


@dataclass
class Calibration:
    """What calibrate will do, as data: the plan printed before anything changes."""

    where: str  # "context NAME" or "the drill cluster"
    kube: Kube  # calibrate's own namespace
    release: Kube  # the release's namespace (read only)
    app: Application
    base: Profile
    out: Path
    probe_url: str | None  # where the throwaway Ingress answers (loopback or allowed); None: not measured
    probe_image: str  # the backends that name the pod that answered (the stub image)
    ingress_class: str | None
    why_no_probe: str = ""
    pods: int = 3  # boot samples per component
    switches: int = 2
    emulate: Profile | None = None
    operations_file: Path | None = None
    gcloud_instance: str | None = None  # --real-gcloud: read the instance's operations (read only)
    timeout_s: float = 600.0
    node: Cluster | None = None  # --emulate: the drill cluster, whose node pulls from the harness's registry

    @property
    def pulls(self) -> bool:
        """--emulate under a profile whose image is absent from the node, on a node that can pull from the
        harness: calibrate's boot pods name the image by the lane's pull name, so the node pulls it for real."""
        return bool(self.emulate and self.emulate.image_absent_on_node and self.emulate["image_pull"] > 0
                    and self.node is not None and self.node.pulls_from_loopback)

    @property
    def namespace(self) -> str:
        return self.kube.namespace

    @property
    def host(self) -> str:
        return f"{self.namespace}.rollback-drill.test"

    def plan_lines(self) -> list[str]:
        web, streaming = self.app.helm_stack[0], self.app.helm_stack[1]
        lines = [f"calibrate on {self.where}: the profile {self.base.name}'s assumptions measured, written to {self.out}",
                 f"  read only: Deployments {web}, {streaming} in namespace {self.app.namespace} (image, command, "
                 f"readiness check); Ingress {self.app.ingress} (its class)",
                 f"  create namespace {self.namespace} (labels {', '.join(f'{k}={v}' for k, v in LABELS.items())}); "
                 f"in it:",
                 f"    Deployments calibrate-web, calibrate-streaming: the release's image and command, no env, no "
                 f"Secret, {self.pods} pod(s) each (boot, image pull)",
                 f"    Deployments calibrate-a, calibrate-b ({self.probe_image}, role echo), Services calibrate-a, "
                 f"calibrate-b, Ingress calibrate (class {self.ingress_class or 'the default'}, host {self.host})"]
        if self.probe_url:
            lines.append(f"    switch the Ingress between calibrate-a and calibrate-b {self.switches} time(s), probing "
                         f"{self.probe_url} every {PROBE_INTERVAL_S:g} s (at most {self.timeout_s:.0f} s per switch)")
        else:
            lines.append(f"    no Ingress switch: {self.why_no_probe}")
        if self.emulate:
            lines.append(f"  emulate profile {self.emulate.name} on these objects (the closed loop: boot, NEG gate, "
                         f"Ingress propagation and 502s" + (", and the image pulled by the node from the harness's "
                                                            "registry: the boot pods name it by the lane's pull name"
                                                            if self.pulls else "") + ")")
        if self.gcloud_instance:
            lines.append(f"  read only: gcloud sql operations list --instance={self.gcloud_instance} --format=json")
        elif self.operations_file:
            lines.append(f"  read: {self.operations_file} (a recorded gcloud sql operations list --format=json)")
        lines.append(f"  afterwards: namespace {self.namespace} deleted (also on Ctrl-C or an error)")
        return lines


@dataclass
class Findings:
    """Everything calibrate saw (the profile's `calibration` section)."""

    pods: list[PodTimes] = field(default_factory=list)
    pulls: list[dict] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    restores: Restores | None = None
    notes: list[str] = field(default_factory=list)
    measured: dict[str, Measured | NotMeasured] = field(default_factory=dict)


# ---- the objects --------------------------------------------------------------------------------
def _deployment(name: str, role: str, container: dict, replicas: int = 0) -> dict:
    labels = {**LABELS, KEY: role}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": LABELS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {KEY: role}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}}}


def _fast(probe: dict) -> dict:
    """A readiness check every second: the boot is measured, not the probe's period."""
    handler = {k: v for k, v in probe.items() if k in ("httpGet", "tcpSocket", "exec", "grpc")}
    return {**handler, "periodSeconds": 1, "failureThreshold": 1, "successThreshold": 1, "timeoutSeconds": 1}


def boot_container(dep: dict, image: str | None = None) -> dict:
    """The release's container as calibrate runs it: image (or `image`, the same under another name),
    command, ports, readiness check; no env, no Secret, no liveness (a slow boot is measured, not killed)."""
    c = dep["spec"]["template"]["spec"]["containers"][0]
    out = {"name": "app", "image": image or c["image"], "imagePullPolicy": c.get("imagePullPolicy", "IfNotPresent")}
    for key in ("command", "args", "ports"):
        if c.get(key):
            out[key] = c[key]
    if c.get("readinessProbe"):
        out["readinessProbe"] = _fast(c["readinessProbe"])
    return out


def echo_container(image: str) -> dict:
    return {"name": "echo", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["mastodon-stub", "echo"],
            "ports": [{"name": "http", "containerPort": ECHO_PORT}],
            "readinessProbe": _fast({"httpGet": {"path": "/health", "port": ECHO_PORT}})}


def _service(name: str) -> dict:
    # on GKE a Service an Ingress uses gets a NEG (and its pods the readiness gate) with this annotation
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": LABELS, "annotations": {"cloud.google.com/neg": '{"ingress": true}'}},
            "spec": {"selector": {KEY: name.rsplit("-", 1)[1]}, "ports": [{"name": "http", "port": 80,
                                                                           "targetPort": ECHO_PORT}]}}


def _ingress(cal: Calibration, backend: str) -> dict:
    spec: dict = {"rules": [{"host": cal.host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": backend, "port": {"number": 80}}}}]}}]}
    if cal.ingress_class:
        spec["ingressClassName"] = cal.ingress_class
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "calibrate", "labels": LABELS}, "spec": spec}


# ---- the phases -----------------------------------------------------------------------------------
def read_release(cal: Calibration) -> dict[str, dict | str]:
    """The release's web and streaming Deployments (read only), or why each cannot be used."""
    out: dict[str, dict | str] = {}
    for component, name in (("web", cal.app.helm_stack[0]), ("streaming", cal.app.helm_stack[1])):
        try:
            dep = cal.release.api.sanitize_for_serialization(
                cal.release.apps.read_namespaced_deployment(name, cal.app.namespace))
            out[component] = dep
        except ApiException as e:
            out[component] = (f"the release's Deployment {name} is not readable in namespace {cal.app.namespace} "
                              f"(HTTP {e.status})")
    return out


def create_namespace(cal: Calibration) -> None:
    labels = cal.kube.namespace_labels()
    if labels is not None:
        if labels.get("rollback-drill/role") != "calibrate":
            raise CalibrateError(f"namespace {cal.namespace} exists and is not calibrate's: nothing was changed")
        cal.kube.delete_namespace()  # a killed run's leftovers
    cal.kube.create_namespace(LABELS)


def _pull_name(cal: Calibration, dep: dict) -> str | None:
    """With `cal.pulls`, the lane's pull name of the release's image, named on the node (the emulation
    removes it and serves it: sut/pull_registry.py); else None (the image as the release names it)."""
    if not cal.pulls:
        return None
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
    ref = pull_ref(image, lane())
    cal.node.tag_image(image, ref)  # type: ignore[union-attr] - cal.pulls says there is a node
    return ref


def create_objects(cal: Calibration, release: dict[str, dict | str]) -> list[str]:
    ns, apps, core = cal.namespace, cal.kube.apps, cal.kube.core
    made = []
    for component, dep in release.items():
        if isinstance(dep, dict):
            apps.create_namespaced_deployment(ns, _deployment(f"calibrate-{component}", component,
                                                              boot_container(dep, _pull_name(cal, dep))))
            made.append(component)
    for b in ("a", "b"):
        apps.create_namespaced_deployment(ns, _deployment(f"calibrate-{b}", b, echo_container(cal.probe_image)))
        core.create_namespaced_service(ns, _service(f"calibrate-{b}"))
    cal.kube.net.create_namespaced_ingress(ns, _ingress(cal, "calibrate-a"))
    return made


def scale_all(cal: Calibration, components: list[str]) -> None:
    for c in components:
        cal.kube.scale(f"calibrate-{c}", cal.pods)
    for b in ("a", "b"):
        cal.kube.scale(f"calibrate-{b}", 1)


def watch_pods(cal: Calibration, tl: Timeline, want: int) -> list[PodTimes]:
    """Each pod's running / containers-ready / Ready moments on the harness's clock, until `want`
    pods are Ready or one cannot start, or the time limit."""
    seen: dict[str, PodTimes] = {}
    deadline = time.monotonic() + cal.timeout_s
    w = k8s_watch.Watch()
    while time.monotonic() < deadline:
        for ev in w.stream(cal.kube.core.list_namespaced_pod, cal.namespace, timeout_seconds=10):
            pod = ev["object"]
            role = (pod.metadata.labels or {}).get(KEY, "")
            p = seen.setdefault(pod.metadata.name, PodTimes(pod.metadata.name, role))
            now = tl.now()
            p.gated = NEG_GATE in [g.condition_type for g in (pod.spec.readiness_gates or [])]
            conds = {c.type: c.status for c in (pod.status.conditions or [])}
            for cs in pod.status.container_statuses or []:
                if cs.state and cs.state.running and p.running is None:
                    p.running = now
                waiting = cs.state.waiting if cs.state else None
                if waiting and waiting.reason in ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff",
                                                  "CreateContainerConfigError", "InvalidImageName"):
                    p.failure = f"{waiting.reason}: {(waiting.message or '')[:160]}"
                if cs.last_state and cs.last_state.terminated and not p.failure:
                    t = cs.last_state.terminated
                    p.failure = f"exited {t.exit_code} ({t.reason})"
            if conds.get("ContainersReady") == "True" and p.containers_ready is None:
                p.containers_ready = now
            if conds.get("Ready") == "True" and p.ready is None:
                p.ready = now
            if sum(1 for q in seen.values() if q.ready is not None or q.failure) >= want:
                w.stop()
                return list(seen.values())
            if time.monotonic() >= deadline:
                w.stop()
                break
    return list(seen.values())


def pull_samples(cal: Calibration, f: Findings) -> None:
    """The kubelet's pull times of calibrate's pods (event `Pulled`), with the node that pulled."""
    for ev in cal.kube.core.list_namespaced_event(cal.namespace).items:
        got = pulled_seconds(ev.message or "") if ev.reason == "Pulled" else None
        if got:
            node = (ev.source.host if ev.source else None) or ev.reporting_instance or "?"
            f.pulls.append({"pod": ev.involved_object.name, "image": got[0], "seconds": got[1], "node": node})


class Prober:
    """GET / through the Ingress every PROBE_INTERVAL_S with the throwaway host; which backend
    answered comes from the pod name the echo backend puts in X-Served-By."""

    def __init__(self, cal: Calibration, tl: Timeline) -> None:
        self.cal, self.tl = cal, tl
        self.answers: list[Answer] = []
        self.opener = no_redirect_opener()
        self._g: gevent.Greenlet | None = None

    def one(self) -> Answer:
        req = urllib.request.Request(self.cal.probe_url.rstrip("/") + "/", headers={"Host": self.cal.host})
        t = self.tl.now()
        try:
            with self.opener.open(req, timeout=2) as r:
                status, served = r.status, r.headers.get("X-Served-By", "")
        except urllib.error.HTTPError as e:
            status, served = e.code, e.headers.get("X-Served-By", "") if e.headers else ""
        except OSError:
            status, served = 0, ""
        backend = next((b for b in ("a", "b") if served.startswith(f"calibrate-{b}-")), "")
        return Answer(t, status, backend)

    def _loop(self) -> None:
        while True:
            self.answers.append(self.one())
            gevent.sleep(PROBE_INTERVAL_S)

    def start(self) -> None:
        self._g = gevent.spawn(self._loop)

    def stop(self) -> None:
        if self._g:
            self._g.kill()

    def steady(self, backend: str, since: float, n: int = 8) -> bool:
        recent = [a for a in self.answers if a.t >= since][-n:]
        return len(recent) == n and all(a.backend == backend for a in recent)


def switch_samples(cal: Calibration, tl: Timeline, f: Findings, echo) -> None:
    prober = Prober(cal, tl)
    prober.start()
    try:
        t = tl.now()
        while not prober.steady("a", t):
            if tl.now() - t > cal.timeout_s:
                f.notes.append(f"the Ingress never answered steadily from calibrate-a within {cal.timeout_s:.0f} s "
                               f"(last answers: {[a.status for a in prober.answers[-5:]]})")
                return
            gevent.sleep(0.5)
        current = "a"
        for i in range(cal.switches):
            new = "b" if current == "a" else "a"
            at = tl.now()
            cal.kube.net.patch_namespaced_ingress("calibrate", cal.namespace, {"spec": {"rules": _ingress(
                cal, f"calibrate-{new}")["spec"]["rules"]}})
            while not prober.steady(new, at) and tl.now() - at < cal.timeout_s:
                gevent.sleep(0.5)
            sw = analyse_switch(prober.answers, at, new)
            f.switches.append(sw)
            echo(f"calibrate: switch {i + 1}/{cal.switches} to calibrate-{new}: "
                 + (f"new backend after {sw.propagation_s:.1f} s, 502s for {sw.window_502_s:.1f} s before it"
                    if sw.propagation_s is not None else f"no answer from it within {cal.timeout_s:.0f} s"))
            if sw.propagation_s is None:
                return
            current = new
    finally:
        prober.stop()


def read_restores(cal: Calibration, f: Findings) -> None:
    if cal.gcloud_instance:
        proc = subprocess.run(["gcloud", "sql", "operations", "list", f"--instance={cal.gcloud_instance}",
                               # no --limit: gcloud counts it before its own filter (fixtures/gcloud/operations)
                               "--filter=operationType=RESTORE_VOLUME", "--format=json"],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            f.notes.append(f"gcloud sql operations list failed ({proc.returncode}): "
                           f"{first_line(proc.stderr)[:200]}")
            return
        text = proc.stdout
    elif cal.operations_file:
        text = cal.operations_file.read_text(encoding="utf-8")
    else:
        return
    f.restores = restores(json.loads(text))


# ---- from what was seen to the profile's parameters ----------------------------------------------
def measure(cal: Calibration, f: Findings, release: dict[str, dict | str]) -> dict[str, Measured | NotMeasured]:
    m: dict[str, Measured | NotMeasured] = {}
    for component in ("web", "streaming"):
        name = f"{component}_boot"
        dep = release.get(component)
        if not isinstance(dep, dict):
            m[name] = NotMeasured(str(dep))
            continue
        pods = [p for p in f.pods if p.component == component]
        boots = [p.boot_s for p in pods if p.boot_s is not None]
        if not boots:
            why = next((p.failure for p in pods if p.failure), "no pod became ready")
            m[name] = NotMeasured(f"calibrate-{component} did not become ready without the release's configuration: "
                                  f"{why}")
        elif not dep["spec"]["template"]["spec"]["containers"][0].get("readinessProbe"):
            m[name] = NotMeasured(f"the release's {component} container has no readiness check to tell when it booted")
        else:
            m[name] = Measured(boots, f"the release's image and command in calibrate's own Deployment, container "
                                      f"running -> ready (a readiness check every second)", 1.0)
    m["sidekiq_boot"] = NotMeasured("the chart's sidekiq has no readiness probe: Kubernetes cannot see when it booted")
    if f.pulls:
        m["image_pull"] = Measured(first_pulls(f.pulls), "the kubelet's own pull time (event Pulled) of calibrate's "
                                                         "pods, the longest per node and image (a node pulls once: a "
                                                         "second pod's pull waits for the first, then takes "
                                                         "milliseconds)", 0.0)
    else:
        m["image_pull"] = NotMeasured("every node already had the image: no pull happened"
                                      + (" (this node cannot pull from the harness's registry: the emulation's pull "
                                         "is a delay inside the container, not a kubelet pull)"
                                         if cal.emulate and not cal.pulls else ""))
    gates = [p.gate_s for p in f.pods if p.gate_s is not None]
    if gates:
        m["neg_ready"] = Measured(gates, f"pods with the readiness gate {NEG_GATE}: containers ready -> pod Ready", 0.5)
    else:
        m["neg_ready"] = NotMeasured("no pod of calibrate's had a readiness gate (no container-native load "
                                     "balancing here)")
    props = [s.propagation_s for s in f.switches if s.propagation_s is not None]
    if props:
        how = (f"a throwaway Ingress switched between two Services, probed every {PROBE_INTERVAL_S:g} s: switch -> "
               f"first answer from the new backend")
        m["ingress_propagation"] = Measured(props, how, PROBE_INTERVAL_S)
        m["ingress_502_window"] = Measured([s.window_502_s for s in f.switches if s.propagation_s is not None],
                                           how.replace("switch -> first answer from the new backend",
                                                       "the 5xx answers no pod gave, up to the new backend's first"),
                                           PROBE_INTERVAL_S)
    else:
        why = cal.why_no_probe or "; ".join(f.notes) or "no switch reached the new backend"
        m["ingress_propagation"] = m["ingress_502_window"] = NotMeasured(why)
    r = f.restores
    if r is None:
        for name in ("cloudsql_pending", "cloudsql_restore_fixed", "cloudsql_restore_per_gb"):
            m[name] = NotMeasured("no operation history read (--real-gcloud INSTANCE or --operations FILE)")
    elif not r.done:
        for name in ("cloudsql_pending", "cloudsql_restore_fixed", "cloudsql_restore_per_gb"):
            m[name] = NotMeasured(f"the history holds no finished restore ({len(r.failed)} failed, "
                                  f"{len(r.unfinished)} unfinished)")
    else:
        m["cloudsql_pending"] = Measured([d["pending_s"] for d in r.done], "past RESTORE_VOLUME operations: "
                                         "insertTime -> startTime", 1.0)
        size = cal.base.database_size_gb
        fixed = cal.base["cloudsql_restore_fixed"]
        m["cloudsql_restore_fixed"] = NotMeasured("the history gives whole restores of one database: the fixed part "
                                                  "cannot be told from the per-GB part")
        if size:
            per_gb = [max(0.0, (d["running_s"] - fixed) / size) for d in r.done]
            m["cloudsql_restore_per_gb"] = Measured(per_gb, f"past RESTORE_VOLUME operations (startTime -> endTime, "
                                                    f"median {statistics.median([d['running_s'] for d in r.done]):.0f} s)"
                                                    f" minus cloudsql_restore_fixed {fixed:g} s (kept), over the "
                                                    f"profile's database_size_gb {size:g}", 0.0, "s/GB")
        else:
            m["cloudsql_restore_per_gb"] = NotMeasured("the profile has no database_size_gb to divide by")
    return m


def profile_document(cal: Calibration, f: Findings, when: str) -> dict:
    base = yaml.safe_load(Path(cal.base.path).read_text(encoding="utf-8"))
    params = calibrated_parameters(base["parameters"], f.measured, cal.where, when, cal.base.name)
    return {"profile": f"{cal.base.name}-calibrated",
            "version": cal.base.version,
            "description": f"{cal.base.description} Calibrated on {cal.where} at {when}: measured values say so; "
                           f"the others are {cal.base.name}'s, marked 'not measured'.",
            "ingress_class": cal.base.ingress_class, "image_absent_on_node": cal.base.image_absent_on_node,
            "database_size_gb": cal.base.database_size_gb, "parameters": params,
            "calibration": {"where": cal.where, "at": when, "base": cal.base.path,
                            "emulated": cal.emulate.name if cal.emulate else None,
                            "boot_pods": [{"pod": p.name, "component": p.component, "boot_s": _r(p.boot_s),
                                           "gate_s": _r(p.gate_s), "failure": p.failure or None} for p in f.pods],
                            "pulls": f.pulls, "switches": [s.to_dict() for s in f.switches],
                            "restores": ({"done": f.restores.done, "failed": f.restores.failed,
                                          "unfinished": f.restores.unfinished} if f.restores else None),
                            "notes": f.notes}}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


# ---- the whole ------------------------------------------------------------------------------------
def calibrate(cal: Calibration, echo=print) -> dict:
    """Measure, put everything back, and return the profile document (written by the caller)."""
    tl = Timeline()
    f = Findings()
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    release = read_release(cal)
    emulation: Emulation | None = None
    if cal.operations_file or cal.gcloud_instance:
        try:
            read_restores(cal, f)
        except (OSError, ValueError, OperationsUnreadable) as e:
            raise CalibrateError(f"Cloud SQL operations: {first_line(e)[:300]}") from None
    create_namespace(cal)
    try:
        components = create_objects(cal, release)
        if cal.emulate:
            # calibrate's boot pods pull for real where the node can (cal.pulls); never a delay inside them
            emulation = Emulation(replace(cal.emulate, image_absent_on_node=cal.pulls), ClusterState(cal.kube), tl,
                                  ingress="calibrate", node=cal.node)
            emulation.start()
        scale_all(cal, components)
        echo(f"calibrate: {cal.pods} pod(s) each of {', '.join(f'calibrate-{c}' for c in components) or 'nothing'}"
             f" and the two backends starting")
        f.pods = watch_pods(cal, tl, cal.pods * len(components) + 2)
        pull_samples(cal, f)
        if cal.probe_url:
            switch_samples(cal, tl, f, echo)
    finally:
        if emulation:
            emulation.stop()
        cal.kube.delete_namespace()
        echo(f"calibrate: namespace {cal.namespace} deleted")
    f.measured = measure(cal, f, release)
    return profile_document(cal, f, when)


def write_profile(doc: dict, out: Path) -> None:
    head = ("# Written by `rollback-drill calibrate`. Every value says whether it was measured (where, when, how\n"
            "# many samples, spread) or kept from the base profile and why. `rollback-drill run --profile THIS`.\n")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    tmp.replace(out)


def summary_lines(doc: dict, base: Profile) -> list[str]:
    lines = []
    for name, spec in doc["parameters"].items():
        measured = spec["source"].startswith("measured")
        was = base.params[name].value
        lines.append(f"  {name:24} {spec['value']:>8g} {spec['unit']:4} "
                     + (f"measured (range {spec['range'][0]:g}-{spec['range'][1]:g}; {base.name}: {was:g})" if measured
                        else "not measured: " + spec["source"][len("not measured ("):].split(")")[0][:90]))
    return lines


# ---- the command --------------------------------------------------------------------------------
EXIT_OK, EXIT_USAGE, EXIT_HARNESS = 0, 2, 4


def run_calibrate(cal: Calibration, yes: bool, own_cluster: bool, echo=print) -> int:
    """Plan, then (on the drill cluster, or with --yes) measure and write the profile."""
    from rollback_drill.drill.runner import Interrupted, interruptible
    from rollback_drill.sut.profile import ProfileError, load_profile
    for line in cal.plan_lines():
        echo(line)
    if not own_cluster and not yes:
        echo("calibrate: plan only; nothing was changed (add --yes to carry it out)")
        return EXIT_OK
    try:
        with interruptible():
            doc = calibrate(cal, echo)
    except Interrupted as e:
        echo(f"rollback-drill: calibrate interrupted ({e.signal}); namespace {cal.namespace} deleted, no profile "
             f"written")
        return EXIT_HARNESS
    except CalibrateError as e:
        echo(f"rollback-drill: calibrate: {e}")
        return EXIT_HARNESS
    except Exception as e:  # noqa: BLE001 - the harness failed: one line, exit 4
        echo(f"rollback-drill: calibrate failed ({type(e).__name__}): {first_line(e)[:300]}")
        return EXIT_HARNESS
    write_profile(doc, cal.out)
    try:
        load_profile(str(cal.out))  # what it wrote, `run --profile` must take
    except ProfileError as e:
        echo(f"rollback-drill: calibrate wrote a profile run cannot take: {e}")
        return EXIT_HARNESS
    echo(f"calibrate: profile {doc['profile']} written to {cal.out}:")
    for line in summary_lines(doc, cal.base):
        echo(line)
    echo(f"use it: rollback-drill run --profile {cal.out}")
    return EXIT_OK
