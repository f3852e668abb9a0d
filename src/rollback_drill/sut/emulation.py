"""A fidelity profile made real on the drill cluster (sut/profile.py says what; this says how).

- **Boot.** The harness writes the profile's boot times into the ConfigMap `rollback-drill-fidelity`;
  the stub reads it when a container starts and listens only after that long, so the Deployment's own
  readiness probe — the one the runbook's waits look at — turns ready when production's would.
- **Image pull, once per node.** Where the profile counts the old stack's image as absent on the node
  (`image_absent_on_node`), the node pulls it for real: the old stack names its image by the lane's
  registry of the harness (sut/pull_registry.py), the emulation removes that name from the node and
  serves it, the pull taking `image_pull`. The first old pod waits in ContainerCreating with the
  kubelet's `Pulling`/`Pulled` events; later pods on the node start from the pulled image. Where the node
  cannot pull from the harness (kind, a team's cluster) or the old stack was deployed without that name,
  the pull is a delay inside each old container before the process starts, and the change log says why.
- **Ingress propagation per Ingress class.** Production's Ingress has class `gce`: a change to it
  reaches users only when Google's load balancer is reprogrammed. Here the application's Ingress
  is moved to class `gce` (which Traefik does not serve) and a stand-in controller copies its rules,
  after the profile's delay, into a mirror Ingress that Traefik serves. The runbook's
  `kubectl apply -f backup/ingress-mastodon.yaml` therefore changes what users get only after the
  delay, exactly as on GKE. Each change seen and each reprogramming is an event on the drill's clock.
  With `ingress_502_window` the last part of that delay routes each changed path to a backend whose
  health check has not passed: a Service of the emulation's own whose only endpoint refuses
  connections, so Traefik answers 502 Bad Gateway as the GCE load balancer does — users' failures,
  counted like any other. (Not modelled: the time after it when old and new backends both answer.)
- **The NEG readiness gate** (`neg_ready`). Container-native load balancing gives the pods behind an
  Ingress the readiness gate `cloud.google.com/load-balancer-neg-ready`: Ready only once the load
  balancer's health check passed. The emulation adds the gate to the Deployments at 0 replicas whose
  pods a Service selects (the old stack the rollback brings back; recorded, put back) and sets the
  pod's condition `neg_ready` seconds after its containers are ready — so `kubectl wait
  --for=condition=ready` returns when it would on GKE. Pods already serving keep running ungated
  (on GKE their gate passed long ago); a Helm pod restarted during the drill is not gated (said).
- The Cloud SQL restore duration reaches the gcloud stand-in through the executor's environment
  (sut/cloudsql.py).

Everything this module changes is recorded, with how to undo it, in the drill's ChangeLog
(sut/changes.py: one log of every harness change) and put back by `stop()` (also on Ctrl-C and on
harness errors); `clear_leftovers` removes what a killed run left (deploy calls it).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import gevent
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.rest import ApiException

from rollback_drill.cluster import Cluster, ClusterError
from rollback_drill.sut.changes import Change, ChangeLog
from rollback_drill.sut.profile import Profile
from rollback_drill.sut.pull_registry import PullRegistry, pull_ref
from rollback_drill.settings import lane

NEG_GATE = "cloud.google.com/load-balancer-neg-ready"
GATED = "rollback-drill/readiness-gate"  # annotation on a Deployment the emulation gave the gate
FIDELITY_CONFIGMAP = "rollback-drill-fidelity"  # the stub reads this name (fixtures/images/mastodon-stub)
MANAGED = {"app.kubernetes.io/managed-by": "rollback-drill", "rollback-drill/role": "fidelity"}
SELECTOR = "rollback-drill/role=fidelity"
STANDIN_CONTROLLER = "rollback-drill.io/ingress-standin"


def rules_of(api: k8s.ApiClient, ing) -> list:
    return [api.sanitize_for_serialization(r) for r in (ing.spec.rules or [])]


def backends(rules: list) -> list[str]:
    return sorted({p["backend"]["service"]["name"] for r in rules for p in (r.get("http") or {}).get("paths", [])})


class Emulation:
    """Applies a profile to the drill namespace for one drill; `stop()` puts everything back."""

    def __init__(self, profile: Profile, state, tl, ingress: str = "mastodon", log: ChangeLog | None = None,
                 node: Cluster | None = None) -> None:
        self.profile, self.state, self.tl, self.ingress, self.node = profile, state, tl, ingress, node
        self.rbac = k8s.RbacAuthorizationV1Api(state.api)
        self.log = log if log is not None else ChangeLog()  # the drill's log of every harness change
        self._mine: list[Change] = []
        self.also_reverted: list[str] = []  # what clear_leftovers or the drill put back besides the log's undos
        self._greenlet: gevent.Greenlet | None = None
        self._pending: list[gevent.Greenlet] = []
        self._original_class: str | None = None
        self.stopped = False
        self.mirror = f"{ingress}-{profile.ingress_class}-lb"
        self.unhealthy = f"{self.mirror}-unhealthy"  # the backend whose health check has not passed: 502
        self._programmed: list = []  # the rules the load balancer serves now
        self._gating: set[str] = set()  # pods whose NEG health check is under way or passed
        self._unhealthy_ports: list[tuple[str, int]] = []
        self.registry: PullRegistry | None = None  # serving the old stack's image while the drill runs

    @property
    def changes(self) -> list[str]:
        """What the emulation changed, in order (the journal's `emulation.changes`)."""
        return [c.what for c in self._mine]

    @property
    def reverted(self) -> list[str]:
        return [c.reverted for c in self._mine if c.reverted] + self.also_reverted

    def _record(self, what: str, undo) -> None:
        self._mine.append(self.log.record(what, undo))

    def _delete(self, kind: str, name: str, deleter, *args) -> str:
        try:
            deleter(name, *args)
        except ApiException as e:
            if e.status != 404:
                raise
        return f"{kind}/{name} deleted"

    def event(self, what: str, detail: str, t: float | None = None) -> None:
        self.tl.emulation.append({"t": round(self.tl.now() if t is None else t, 3), "what": what, "detail": detail})

    # ---- start -----------------------------------------------------------------------------------
    def start(self) -> None:
        if not self.profile.emulates:
            return
        self._boot()
        if self.profile["neg_ready"] > 0:
            self._neg_gate()
        if self.profile["ingress_propagation"] > 0:
            self._ingress()

    def _boot(self) -> None:
        p, ns = self.profile, self.state.ns
        in_container = p.image_absent_on_node and p["image_pull"] > 0 and not self._real_pull()
        spec = {"profile": p.name, "boot_s": {"web": p["web_boot"], "streaming": p["streaming_boot"],
                                              "sidekiq": p["sidekiq_boot"]},
                "image_pull_s": p["image_pull"], "image_absent_for": ["kustomize"] if in_container else []}
        meta = k8s.V1ObjectMeta(name=FIDELITY_CONFIGMAP, labels=MANAGED)
        self.state.core.create_namespaced_config_map(ns, k8s.V1ConfigMap(metadata=meta,
                                                                         data={"fidelity.json": json.dumps(spec)}))
        self._record(f"configmap/{FIDELITY_CONFIGMAP} created (boot times for new pods"
                     + (", and the pull inside the old stack's containers)" if in_container else ")"),
                     lambda: self._delete("configmap", FIDELITY_CONFIGMAP, self.state.core.delete_namespaced_config_map,
                                          ns))
        self.rbac.create_namespaced_role(ns, k8s.V1Role(metadata=meta, rules=[k8s.V1PolicyRule(
            api_groups=[""], resources=["configmaps"], resource_names=[FIDELITY_CONFIGMAP], verbs=["get"])]))
        self.rbac.create_namespaced_role_binding(ns, k8s.V1RoleBinding(
            metadata=meta, role_ref=k8s.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                                  name=FIDELITY_CONFIGMAP),
            subjects=[k8s.RbacV1Subject(kind="Group", name=f"system:serviceaccounts:{ns}",
                                        api_group="rbac.authorization.k8s.io")]))
        self._record(f"role and rolebinding {FIDELITY_CONFIGMAP} created (the pods may read it)",
                     lambda: "; ".join((self._delete("rolebinding", FIDELITY_CONFIGMAP,
                                                     self.rbac.delete_namespaced_role_binding, ns),
                                        self._delete("role", FIDELITY_CONFIGMAP, self.rbac.delete_namespaced_role, ns))))

    def _real_pull(self) -> bool:
        """Make the node lack the old stack's image and serve it from the harness's registry; False (the
        pull is then a delay inside the container, recorded with why) where that cannot be done."""
        node, p = self.node, self.profile
        if node is None or not node.pulls_from_loopback:
            return self._in_container("the node cannot pull from a registry of the harness")
        images = {c.image for d in self.state.apps.list_namespaced_deployment(self.state.ns).items
                  for c in d.spec.template.spec.containers}
        loaded_of = {pull_ref(i, lane()): i for i in images}  # this lane's pull name -> the loaded image
        refs = sorted(i for i in images if i in loaded_of)
        if len(refs) != 1:
            return self._in_container("the old stack was deployed without the lane's pull name" if not refs
                                      else f"more than one pull name in the namespace ({', '.join(refs)})")
        ref, loaded = refs[0], loaded_of[refs[0]]
        try:
            image = node.node_image(ref)
        except ClusterError as e:
            return self._in_container(str(e))
        reg = PullRegistry(ref, image, node.read_blob, p["image_pull"], self._pull_event)
        try:
            reg.start()
        except OSError as e:
            return self._in_container(f"127.0.0.1:{reg.port} cannot be served ({e.strerror or e})")
        self.registry = reg
        self._record(f"image registry of the harness on 127.0.0.1:{reg.port} started: it serves {ref}, the pull "
                     f"taking {p['image_pull']:g} s (profile {p.name})",
                     lambda: (reg.stop(), f"registry on 127.0.0.1:{reg.port} stopped")[1])
        node.remove_image(ref)
        self._record(f"image {ref} removed from the node: the old stack's image is absent, its first pod pulls it",
                     lambda: (node.tag_image(loaded, ref), f"image {ref} on the node again")[1])
        return True

    def _in_container(self, why: str) -> bool:
        self._record(f"image pull emulated inside the old stack's containers ({self.profile['image_pull']:g} s before "
                     f"the process starts), not a kubelet pull: {why}", None)
        return False

    def _pull_event(self, what: str, seconds: float) -> None:
        if what == "started":
            self.event("image pull started", f"{self.registry.ref if self.registry else '?'}: the node asked the "
                                             f"harness's registry")
        else:
            self.event("image pull served", f"after {seconds:.1f} s")

    def _ingress(self) -> None:
        ns, klass = self.state.ns, self.profile.ingress_class
        try:
            self.state.net.read_ingress_class(klass)
        except ApiException as e:
            if e.status != 404:
                raise
            self.state.net.create_ingress_class(k8s.V1IngressClass(
                metadata=k8s.V1ObjectMeta(name=klass, labels=MANAGED),
                spec=k8s.V1IngressClassSpec(controller=STANDIN_CONTROLLER)))
            self._record(f"ingressclass/{klass} created (served by the stand-in controller)",
                         lambda: self._delete_class(klass))
        ing = self.state.net.read_namespaced_ingress(self.ingress, ns)
        self._original_class = ing.spec.ingress_class_name
        rules = rules_of(self.state.api, ing)
        self.state.net.create_namespaced_ingress(ns, k8s.V1Ingress(
            metadata=k8s.V1ObjectMeta(name=self.mirror, labels=MANAGED,
                                      annotations={"rollback-drill/mirrors": self.ingress}),
            spec=k8s.V1IngressSpec(ingress_class_name=self._original_class, rules=rules)))
        self._record(f"ingress/{self.mirror} created: what the load balancer serves (class {self._original_class})",
                     lambda: self._delete("ingress", self.mirror, self.state.net.delete_namespaced_ingress, ns))
        self.state.net.patch_namespaced_ingress(self.ingress, ns, {"spec": {"ingressClassName": klass}})
        self._record(f"ingress/{self.ingress} class {self._original_class} -> {klass} (production's class)",
                     self._class_back)
        self.event("load balancer programmed", f"{self.ingress} -> {', '.join(backends(rules))} (initial)")
        self._programmed = rules
        if self.profile["ingress_502_window"] > 0:
            self._unhealthy_backend(rules)
        self._greenlet = gevent.spawn(self._follow, json.dumps(rules, sort_keys=True),
                                      ing.metadata.resource_version)

    def _unhealthy_backend(self, rules: list) -> None:
        """A Service without selector and one endpoint that refuses connections (the node's address, port
        1), with the ports the Ingress's backends use: Traefik answers 502 for it, as the GCE load
        balancer does for a backend whose health check has not passed."""
        ns = self.state.ns
        ports = self._unhealthy_ports = _backend_ports(rules)
        svc = k8s.V1Service(metadata=k8s.V1ObjectMeta(name=self.unhealthy, labels=MANAGED),
                            spec=k8s.V1ServiceSpec(ports=[k8s.V1ServicePort(name=n, port=p, target_port=1)
                                                          for n, p in ports]))
        self.state.core.create_namespaced_service(ns, svc)
        self._record(f"service/{self.unhealthy} created: a backend that refuses connections (the load balancer's 502)",
                     lambda: self._delete("service", self.unhealthy, self.state.core.delete_namespaced_service, ns))
        node_ip = next((a.address for n in self.state.core.list_node().items for a in (n.status.addresses or [])
                        if a.type == "InternalIP"), None)
        if node_ip is None:  # said, not a StopIteration: the 502 backend needs an address that refuses
            raise RuntimeError("the profile's 502 window needs a node with an InternalIP address; none has one")
        disc = k8s.DiscoveryV1Api(self.state.api)
        disc.create_namespaced_endpoint_slice(ns, k8s.V1EndpointSlice(
            metadata=k8s.V1ObjectMeta(name=self.unhealthy, labels={**MANAGED, "kubernetes.io/service-name": self.unhealthy,
                                                                     "endpointslice.kubernetes.io/managed-by": "rollback-drill"}),
            address_type="IPv4", endpoints=[k8s.V1Endpoint(addresses=[node_ip],
                                                           conditions=k8s.V1EndpointConditions(ready=True))],
            ports=[k8s.DiscoveryV1EndpointPort(name=n, port=1, protocol="TCP") for n, _ in ports]))
        self._record(f"endpointslice/{self.unhealthy} created: its one endpoint, the node's address on port 1",
                     lambda: self._delete("endpointslice", self.unhealthy, disc.delete_namespaced_endpoint_slice, ns))

    def _neg_gate(self) -> None:
        """The readiness gate on the Deployments at 0 replicas whose pods a Service selects, and the watch
        that passes each gated pod's health check `neg_ready` seconds after its containers are ready."""
        ns = self.state.ns
        apps = self.state.apps
        selectors = [svc.spec.selector for svc in self.state.core.list_namespaced_service(ns).items
                     if svc.spec.selector]
        for dep in apps.list_namespaced_deployment(ns).items:
            labels = dep.spec.template.metadata.labels or {}
            if dep.spec.replicas or not any(sel.items() <= labels.items() for sel in selectors):
                continue
            name = dep.metadata.name
            apps.patch_namespaced_deployment(name, ns, {
                "metadata": {"annotations": {GATED: "added"}},
                "spec": {"template": {"spec": {"readinessGates": [{"conditionType": NEG_GATE}]}}}})
            self._record(f"deployment/{name}: readiness gate {NEG_GATE} (container-native load balancing)",
                         lambda name=name: _ungate(apps, ns, name))
        self._pending.append(gevent.spawn(self._gate_pods))

    def _gate_pods(self) -> None:
        delay = self.profile["neg_ready"]
        while True:
            try:
                for ev in k8s_watch.Watch().stream(self.state.core.list_namespaced_pod, self.state.ns,
                                                   timeout_seconds=30):
                    pod = ev["object"]
                    name = pod.metadata.name
                    gates = [g.condition_type for g in (pod.spec.readiness_gates or [])]
                    conds = {c.type: c.status for c in (pod.status.conditions or [])}
                    if ev["type"] == "DELETED" or NEG_GATE not in gates or name in self._gating \
                            or conds.get("ContainersReady") != "True":
                        continue
                    self._gating.add(name)
                    self.event("NEG health check started", f"pod/{name}: containers ready; in the load balancer "
                               f"after {delay:g} s (profile {self.profile.name})")
                    self._pending.append(gevent.spawn_later(delay, self._neg_ready, name))
            except Exception:  # noqa: BLE001 - a dropped watch is re-opened, never a dead stand-in
                gevent.sleep(0.5)

    def _neg_ready(self, name: str) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            self.state.core.patch_namespaced_pod_status(name, self.state.ns, {"status": {"conditions": [
                {"type": NEG_GATE, "status": "True", "lastTransitionTime": now}]}})
            self.event("NEG health check passed", f"pod/{name}: Ready for the load balancer")
        except ApiException as e:
            if e.status != 404:  # a pod gone meanwhile needs no gate
                self.event("NEG health check failed", f"pod/{name}: {str(e)[:160]}")

    def _delete_class(self, klass: str) -> str:
        """The class is cluster-wide: a drill in another lane (namespace) may be using it right now."""
        users = class_users(self.state, klass)
        if users:
            return f"ingressclass/{klass} kept: still the class of {', '.join(users)}"
        return self._delete("ingressclass", klass, self.state.net.delete_ingress_class)

    def _follow(self, last: str, rv: str) -> None:
        """Watch the application's Ingress; each change of its rules reaches the mirror after the delay."""
        delay = self.profile["ingress_propagation"]
        w = k8s_watch.Watch()
        while True:
            try:
                for ev in w.stream(self.state.net.list_namespaced_ingress, self.state.ns,
                                   field_selector=f"metadata.name={self.ingress}", resource_version=rv,
                                   timeout_seconds=30):
                    obj = ev["object"]
                    rv = obj.metadata.resource_version
                    rules = rules_of(self.state.api, obj)
                    key = json.dumps(rules, sort_keys=True)
                    if ev["type"] == "DELETED" or key == last:
                        continue
                    last = key
                    window = self.profile["ingress_502_window"]
                    self.event("Ingress change seen", f"{self.ingress} -> {', '.join(backends(rules))}; reaches "
                               f"users in {delay:g} s (profile {self.profile.name}, class {self.profile.ingress_class})"
                               + (f", the last {window:g} s of it as 502s" if window > 0 else ""))
                    if window > 0:
                        self._pending.append(gevent.spawn_later(delay - window, self._program_unhealthy, rules))
                    self._pending.append(gevent.spawn_later(delay, self._program, rules))
            except ApiException as e:
                if e.status == 410:  # resource version too old: read it again
                    rv = self.state.net.read_namespaced_ingress(self.ingress, self.state.ns).metadata.resource_version
                gevent.sleep(0.5)
            except Exception:  # noqa: BLE001 - a dropped watch is re-opened, never a dead stand-in
                gevent.sleep(0.5)

    def _program(self, rules: list) -> None:
        try:
            self.state.net.patch_namespaced_ingress(self.mirror, self.state.ns, {"spec": {"rules": rules}})
            self._programmed = rules
            self.event("load balancer programmed", f"{self.ingress} -> {', '.join(backends(rules))}")
        except Exception as e:  # noqa: BLE001 - said in the evidence
            self.event("load balancer reprogramming failed", str(e)[:200])

    def _program_unhealthy(self, rules: list) -> None:
        """The URL map already routes each changed path to its new backend, not yet healthy: 502s."""
        bad = unhealthy_rules(self._programmed, rules, self.unhealthy)
        if bad is None:
            return
        try:
            ports = sorted(set(self._unhealthy_ports) | set(_backend_ports(rules)))
            if ports != self._unhealthy_ports:  # the new rules name a port the unhealthy backend lacks
                self.state.core.patch_namespaced_service(self.unhealthy, self.state.ns, {"spec": {"ports": [
                    {"name": n, "port": p, "targetPort": 1} for n, p in ports]}})
                k8s.DiscoveryV1Api(self.state.api).patch_namespaced_endpoint_slice(
                    self.unhealthy, self.state.ns, {"ports": [{"name": n, "port": 1, "protocol": "TCP"} for n, _ in ports]})
                self._unhealthy_ports = ports
            self.state.net.patch_namespaced_ingress(self.mirror, self.state.ns, {"spec": {"rules": bad}})
            self.event("load balancer 502s", f"{self.ingress}: changed paths route to {', '.join(backends(rules))} "
                       f"before their health check passed: 502 for {self.profile['ingress_502_window']:g} s")
        except Exception as e:  # noqa: BLE001 - said in the evidence
            self.event("load balancer reprogramming failed", str(e)[:200])

    # ---- stop ------------------------------------------------------------------------------------
    def _class_back(self) -> str:
        try:
            self.state.net.patch_namespaced_ingress(self.ingress, self.state.ns,
                                                    {"spec": {"ingressClassName": self._original_class}})
        except ApiException as e:
            if e.status != 404:
                raise
        return f"ingress/{self.ingress} class back to {self._original_class}"

    def stop(self) -> None:
        """Put back everything `start` changed, newest first (its entries of the change log), then
        anything of ours still there; say what was put back."""
        self.stopped = True
        for g in [self._greenlet, *self._pending]:
            if g is not None:
                g.kill(block=False)
        self.log.revert(only=self._mine)
        self.also_reverted += clear_leftovers(self.state)


def clear_leftovers(state) -> list[str]:
    """Delete every object the emulation creates (labelled), in any state a run left them."""
    ns, gone = state.ns, []
    rbac = k8s.RbacAuthorizationV1Api(state.api)
    disc = k8s.DiscoveryV1Api(state.api)
    apps = state.apps
    for dep in apps.list_namespaced_deployment(ns).items:  # a gate nobody passes keeps every new pod unready
        if GATED in (dep.metadata.annotations or {}):
            gone.append(_ungate(apps, ns, dep.metadata.name))
    for kind, lister, deleter in (
            ("ingress", state.net.list_namespaced_ingress, state.net.delete_namespaced_ingress),
            ("endpointslice", disc.list_namespaced_endpoint_slice, disc.delete_namespaced_endpoint_slice),
            ("service", state.core.list_namespaced_service, state.core.delete_namespaced_service),
            ("configmap", state.core.list_namespaced_config_map, state.core.delete_namespaced_config_map),
            ("rolebinding", rbac.list_namespaced_role_binding, rbac.delete_namespaced_role_binding),
            ("role", rbac.list_namespaced_role, rbac.delete_namespaced_role)):
        for obj in lister(ns, label_selector=SELECTOR).items:
            try:
                deleter(obj.metadata.name, ns)
                gone.append(f"{kind}/{obj.metadata.name} deleted")
            except ApiException as e:
                if e.status != 404:
                    raise
    ours = state.net.list_ingress_class(label_selector=SELECTOR).items
    if ours:  # an Ingress a killed run left on production's class goes back to the cluster's default class
        default = next((ic.metadata.name for ic in state.net.list_ingress_class().items
                        if (ic.metadata.annotations or {}).get("ingressclass.kubernetes.io/is-default-class") == "true"),
                       None)
        for ing in state.net.list_namespaced_ingress(ns).items:
            if default and ing.spec.ingress_class_name in {ic.metadata.name for ic in ours}:
                state.net.patch_namespaced_ingress(ing.metadata.name, ns, {"spec": {"ingressClassName": default}})
                gone.append(f"ingress/{ing.metadata.name} class back to {default}")
    for ic in ours:
        if class_users(state, ic.metadata.name):  # a drill side by side, in another namespace, uses it
            continue
        try:
            state.net.delete_ingress_class(ic.metadata.name)
            gone.append(f"ingressclass/{ic.metadata.name} deleted")
        except ApiException as e:
            if e.status != 404:
                raise
    return gone


def class_users(state, klass: str) -> list[str]:
    """Ingresses of other namespaces that have `klass` (namespace/name): while there are any, the
    cluster-wide IngressClass the emulation created stays."""
    try:
        items = state.net.list_ingress_for_all_namespaces().items
    except ApiException as e:
        if e.status != 403:
            raise
        return []  # may not list other namespaces: nothing of ours runs there (lanes are on the drill cluster)
    return sorted(f"{i.metadata.namespace}/{i.metadata.name}" for i in items
                  if i.spec.ingress_class_name == klass and i.metadata.namespace != state.ns)


def _backend_ports(rules: list) -> list[tuple[str, int]]:
    """(name, port) of every backend port the rules use: a number N is port N named pN; a name keeps its
    name (on a port number of its own)."""
    out: dict[str, int] = {}
    for r in rules:
        for p in (r.get("http") or {}).get("paths", []):
            port = p["backend"]["service"].get("port") or {}
            if port.get("number"):
                out.setdefault(f"p{port['number']}", int(port["number"]))
            elif port.get("name"):
                out.setdefault(str(port["name"]), 20000 + len(out))
    return sorted(out.items())


def unhealthy_rules(programmed: list, rules: list, unhealthy: str) -> list | None:
    """`rules` with every path whose backend differs from what the load balancer serves now routed to
    the `unhealthy` Service (same port); None when no path's backend changes."""
    now = {(r.get("host"), p.get("path")): p["backend"] for r in programmed
           for p in (r.get("http") or {}).get("paths", [])}
    out, changed = json.loads(json.dumps(rules)), False
    for r in out:
        for p in (r.get("http") or {}).get("paths", []):
            if now.get((r.get("host"), p.get("path"))) != p["backend"]:
                p["backend"] = {"service": {**p["backend"]["service"], "name": unhealthy}}
                changed = True
    return out if changed else None


def _ungate(apps: k8s.AppsV1Api, ns: str, name: str) -> str:
    try:
        apps.patch_namespaced_deployment(name, ns, {"metadata": {"annotations": {GATED: None}},
                                                    "spec": {"template": {"spec": {"readinessGates": None}}}})
    except ApiException as e:
        if e.status != 404:
            raise
    return f"deployment/{name}: readiness gate removed"
