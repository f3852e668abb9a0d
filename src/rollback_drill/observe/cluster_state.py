"""What the cluster says, read with the official kubernetes client: who served, what is restored.

Two questions of the recovery conditions are answered here, from the API rather than from
names or from the runbook's commands:
- which Deployment a serving pod belongs to (pod -> ReplicaSet -> Deployment owner references),
  so "every answer comes from the restored stack" checks identity, not a name prefix;
- whether what a level must bring back is there: the restored stack's Deployments Available,
  the Ingress pointing where it pointed before the migration and, for a level that restores
  the whole pre-migration state, the objects the migration removed back as they were and the
  Helm release gone. The expectations come from a snapshot taken before the migration, never
  from the level's own commands (deleting a command must not delete its check).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

import gevent
import gevent.event
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from rollback_drill.cluster.kube import Kube
from rollback_drill.observe.timeline import ComponentSample, Timeline

GKE_GROUPS = {"backendconfig": ("cloud.google.com", "v1", "backendconfigs"),
              "frontendconfig": ("networking.gke.io", "v1beta1", "frontendconfigs")}


@dataclass(frozen=True)
class RestoreTarget:
    """What a level brings back, as its commands decide it (runbook Level.full_state / .database)."""

    stack: tuple[str, ...]  # Deployments whose pods must answer every request
    full_state: bool = False  # the pre-migration objects back and the Helm release gone
    database: bool = False  # the schema back at the pre-migration version

    def describe(self) -> str:
        parts = [f"Deployments {', '.join(self.stack)} Available and serving every answer",
                 "Ingress backends as before the migration"]
        if self.full_state:
            parts.append("objects the migration removed restored as they were, Helm release gone")
        if self.database:
            parts.append("schema at the pre-migration version")
        return "; ".join(parts)


def ingress_backends(ingress: dict) -> list[str]:
    return sorted({p["backend"]["service"]["name"] for r in ingress["spec"].get("rules", [])
                   for p in r.get("http", {}).get("paths", [])})


class ClusterState:
    """The recovery conditions' reads of the drill namespace, through the drill's one Kubernetes
    access layer (`cluster.kube.Kube`: its client, its kubeconfig, its namespace). The reads the
    recovery watch repeats twice a second come back as plain JSON (`Kube.get_raw`): building the
    client's model objects for every Deployment was most of the harness's own CPU in a drill."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._pod_owner: dict[str, str] = {}  # pod -> Deployment ("" when it has none)

    @property
    def ns(self) -> str:
        return self.kube.namespace

    @property
    def api(self) -> k8s.ApiClient:
        return self.kube.api

    @property
    def core(self) -> k8s.CoreV1Api:
        return self.kube.core

    @property
    def apps(self) -> k8s.AppsV1Api:
        return self.kube.apps

    @property
    def net(self) -> k8s.NetworkingV1Api:
        return self.kube.net

    # ---- who served -------------------------------------------------------------------------
    def refresh_pods(self) -> None:
        rs_owner = {}
        for rs in self.kube.get_raw(f"/apis/apps/v1/namespaces/{self.ns}/replicasets")["items"]:
            owners = [o["name"] for o in rs["metadata"].get("ownerReferences") or [] if o["kind"] == "Deployment"]
            rs_owner[rs["metadata"]["name"]] = owners[0] if owners else ""
        for pod in self.kube.get_raw(f"/api/v1/namespaces/{self.ns}/pods")["items"]:
            owners = [o["name"] for o in pod["metadata"].get("ownerReferences") or [] if o["kind"] == "ReplicaSet"]
            self._pod_owner[pod["metadata"]["name"]] = rs_owner.get(owners[0], "") if owners else ""

    def deployment_of(self, pod: str) -> str | None:
        """The Deployment that owns the pod, remembered after the pod is gone; None if never seen."""
        if pod not in self._pod_owner:
            try:
                self.refresh_pods()
            except (ApiException, OSError):
                return None
        return self._pod_owner.get(pod)

    def serves_restored(self, stack: tuple[str, ...]) -> Callable[[str], tuple[bool, str]]:
        def judge(pod: str) -> tuple[bool, str]:
            dep = self.deployment_of(pod)
            if dep is None:
                return False, "a pod the API never listed in the drill namespace"
            if dep in stack:
                return True, f"owned by Deployment {dep}"
            return False, f"owned by Deployment {dep or '(none)'}, not by the restored stack"
        return judge

    # ---- what is restored -------------------------------------------------------------------
    def snapshot(self, gke_objects: tuple[tuple[str, str], ...], services: tuple[str, ...], ingress: str) -> dict:
        """The pre-migration state a full rollback must bring back (taken before the migration)."""
        snap: dict = {"objects": [], "annotations": {}, "ingress": {}}
        for kind, name in gke_objects:
            if self._get(kind, name) is not None:
                snap["objects"].append([kind, name])
        for svc in services:
            s = self.kube.get_raw(f"/api/v1/namespaces/{self.ns}/services/{svc}")
            snap["annotations"][svc] = dict(s["metadata"].get("annotations") or {})
        snap["ingress"][ingress] = ingress_backends(self._ingress(ingress))
        return snap

    def delete(self, kind: str, name: str) -> bool:
        """Delete an HPA or a GKE object if it is there; whether it was."""
        try:
            if kind == "hpa":
                self.kube.autoscaling.delete_namespaced_horizontal_pod_autoscaler(name, self.ns)
            else:
                group, version, plural = GKE_GROUPS[kind]
                self.kube.custom.delete_namespaced_custom_object(group, version, self.ns, plural, name)
            return True
        except ApiException as e:
            if e.status == 404:
                return False
            raise

    def _get(self, kind: str, name: str) -> dict | None:
        group, version, plural = GKE_GROUPS.get(kind, ("autoscaling", "v2", "horizontalpodautoscalers"))
        try:
            return self.kube.get_raw(f"/apis/{group}/{version}/namespaces/{self.ns}/{plural}/{name}")
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def _ingress(self, name: str) -> dict:
        return self.kube.get_raw(f"/apis/networking.k8s.io/v1/namespaces/{self.ns}/ingresses/{name}")

    def restored(self, target: RestoreTarget, snapshot: dict, release: str,
                 schema_ok: Callable[[], tuple[bool, str]] | None = None) -> tuple[bool, str]:
        """(everything the level must bring back is there, what is missing or what was seen)."""
        gaps, seen = self.restore_gaps(target, snapshot, release, schema_ok)
        return (not gaps, "; ".join(g.what for g in gaps) if gaps else "; ".join(seen))

    def settled_gaps(self, target: RestoreTarget, snapshot: dict, release: str) -> list[str]:
        """What is missing and cannot come back by itself: a Deployment absent or wanting 0 replicas, an
        Ingress pointing elsewhere, an object absent, an annotation changed, the Helm release deployed.
        Once the level's commands are done on a cluster nobody else acts on, none of these changes again
        (no controller scales a Deployment up from 0 or repoints an Ingress); a Deployment still starting
        pods or a restore still running is not settled."""
        gaps, _ = self.restore_gaps(target, snapshot, release)
        return [g.what for g in gaps if g.settled]

    def restore_gaps(self, target: RestoreTarget, snapshot: dict, release: str,
                     schema_ok: Callable[[], tuple[bool, str]] | None = None) -> tuple[list[Gap], list[str]]:
        """(what the level has not brought back yet, what was seen in place)."""
        gaps: list[Gap] = []
        seen: list[str] = []
        deps = {d["metadata"]["name"]: d for d in
                self.kube.get_raw(f"/apis/apps/v1/namespaces/{self.ns}/deployments")["items"]}
        for name in target.stack:
            d = deps.get(name)
            if d is None:
                gaps.append(Gap(f"Deployment {name} does not exist", True))
                continue
            status = d.get("status") or {}
            avail = any(c["type"] == "Available" and c["status"] == "True" for c in status.get("conditions") or [])
            n = status.get("availableReplicas") or 0
            wanted = (d.get("spec") or {}).get("replicas", 1)
            if not avail or n < 1:
                gaps.append(Gap(f"Deployment {name} not Available ({n} available"
                                + ("; it wants 0 replicas)" if wanted == 0 else ")"), wanted == 0))
            else:
                seen.append(f"{name} {n} available")
        for ing_name, before in snapshot.get("ingress", {}).items():
            read = True  # an answer, or the Ingress gone (404): not a failed read
            try:
                now = ingress_backends(self._ingress(ing_name))
            except ApiException as e:
                now, read = [f"(missing: {e.status})"], e.status == 404
            if now != before:
                gaps.append(Gap(f"Ingress {ing_name} backends {now}, before the migration {before}", read))
            else:
                seen.append(f"Ingress {ing_name} -> {now}")
        if target.full_state:
            for kind, name in snapshot.get("objects", []):
                if self._get(kind, name) is None:
                    gaps.append(Gap(f"{kind} {name} (present before the migration) is missing", True))
            for svc, before in snapshot.get("annotations", {}).items():
                read = True  # an answer, or the Service gone (404): not a failed read
                try:
                    now = dict(self.kube.get_raw(f"/api/v1/namespaces/{self.ns}/services/{svc}")["metadata"]
                               .get("annotations") or {})
                except ApiException as e:
                    now, read = {}, e.status == 404
                for k, v in before.items():
                    if k.startswith("kubectl.kubernetes.io/"):
                        continue
                    if _norm(now.get(k)) != _norm(v):
                        gaps.append(Gap(f"Service {svc} annotation {k}={now.get(k)!r}, before the migration {v!r}",
                                        read))
            if self.kube.helm_release_deployed(release):
                gaps.append(Gap(f"Helm release {release} still deployed", True))
            else:
                seen.append(f"Helm release {release} gone")
        if target.full_state and snapshot.get("not_checked"):
            seen.append(f"not checked: {snapshot['not_checked']}")
        if target.database and schema_ok is not None:
            ok, why = schema_ok()
            if ok:
                seen.append(why)
            else:  # a restore may still be running
                gaps.append(Gap(why, False))
        return gaps, seen


@dataclass(frozen=True)
class Gap:
    """One thing a level has not brought back; `settled`: nothing but a new command would change it."""

    what: str
    settled: bool


def _norm(v: str | None):
    """Annotation values compared by meaning: JSON values parsed, so spacing does not matter."""
    if v is None:
        return None
    try:
        return json.loads(v)
    except ValueError:
        return v


@dataclass
class ComponentWatch:
    """Samples `check` into the timeline at a fixed rate until stopped (a greenlet)."""

    tl: Timeline
    check: Callable[[], tuple[bool, str]]
    interval_s: float = 0.5
    stop_event: gevent.event.Event = field(default_factory=gevent.event.Event)
    greenlet: gevent.Greenlet | None = None

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                ok, detail = self.check()
            except Exception as e:  # noqa: BLE001 - a failed read is a red sample, never a dead watch
                ok, detail = False, f"cannot read the state ({type(e).__name__}): {str(e)[:200]}"
            self.tl.add_component_sample(ComponentSample(self.tl.now(), ok, detail))
            self.stop_event.wait(self.interval_s)

    def start(self) -> None:
        if self.greenlet is None:
            self.greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        self.stop_event.set()
        if self.greenlet is not None:
            self.greenlet.join(timeout=5)
            self.greenlet.kill(block=False)
