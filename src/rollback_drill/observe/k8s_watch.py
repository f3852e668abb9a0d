"""What the cluster did during a drill, on the drill's clock: pods created / ready / not ready /
deleted (reasons PodCreated, PodReady, PodNotReady, PodDeleted), Ingress backend changes
(BackendsChanged), and the namespace's Events as Kubernetes wrote them (kubelet, controllers).

Watches of the kubernetes client (not polling), one greenlet each; a dropped watch is re-opened.
The journal keeps them as `k8s_events[]` and the report marks pod readiness and Ingress changes
on the chart; drill/phases.py reads boot times from them.
"""

from __future__ import annotations

import gevent
from kubernetes import watch as k8s_watch

from rollback_drill.observe.timeline import Timeline


def _ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _backends(ing) -> list[str]:
    return sorted({p.backend.service.name for r in (ing.spec.rules or []) for p in (r.http.paths if r.http else [])
                   if p.backend and p.backend.service})


class K8sWatch:
    """Records into `tl.k8s_events` until `stop()`."""

    def __init__(self, state, tl: Timeline) -> None:
        self.state, self.tl = state, tl
        self.greenlets: list[gevent.Greenlet] = []
        self._ready: dict[str, bool] = {}
        self._backends: dict[str, list[str]] = {}
        self._events_seen: set[str] = set()  # a re-opened watch replays what it already saw

    def add(self, obj: str, reason: str, message: str) -> None:
        self.tl.k8s_events.append({"t": round(self.tl.now(), 3), "object": obj, "reason": reason,
                                   "message": message[:300]})

    def start(self) -> None:
        ns = self.state.ns
        events = self.state.core.list_namespaced_event(ns)
        since = events.metadata.resource_version
        self._events_seen = {e.metadata.uid for e in events.items}
        for pod in self.state.core.list_namespaced_pod(ns).items:
            self._ready[pod.metadata.name] = _ready(pod)
        for ing in self.state.net.list_namespaced_ingress(ns).items:
            self._backends[ing.metadata.name] = _backends(ing)
        self.greenlets = [gevent.spawn(self._loop, self.state.core.list_namespaced_pod, self._pod, None),
                          gevent.spawn(self._loop, self.state.net.list_namespaced_ingress, self._ingress, None),
                          gevent.spawn(self._loop, self.state.core.list_namespaced_event, self._event, since)]

    def stop(self) -> None:
        for g in self.greenlets:
            g.kill(block=False)

    def _loop(self, lister, handle, rv) -> None:
        while True:
            w = k8s_watch.Watch()
            try:
                kw = {"resource_version": rv} if rv else {}
                for ev in w.stream(lister, self.state.ns, timeout_seconds=60, **kw):
                    rv = ev["object"].metadata.resource_version
                    handle(ev["type"], ev["object"])
            except Exception:  # noqa: BLE001 - expired or dropped: re-open from now
                rv = None
                gevent.sleep(0.5)

    def _pod(self, kind: str, pod) -> None:
        name = pod.metadata.name
        if kind == "ADDED" and name not in self._ready:
            self._ready[name] = False
            self.add(f"pod/{name}", "PodCreated", "pod created")
        elif kind == "DELETED":
            self._ready.pop(name, None)
            self.add(f"pod/{name}", "PodDeleted", "pod deleted")
            return
        ready = _ready(pod)
        if ready != self._ready.get(name):
            self._ready[name] = ready
            self.add(f"pod/{name}", "PodReady" if ready else "PodNotReady",
                     "Ready condition true" if ready else "Ready condition false")

    def _ingress(self, kind: str, ing) -> None:
        if kind == "DELETED":
            return
        b = _backends(ing)
        if b != self._backends.get(ing.metadata.name):
            self._backends[ing.metadata.name] = b
            self.add(f"ingress/{ing.metadata.name}", "BackendsChanged", f"backends {', '.join(b) or 'none'}")

    def _event(self, kind: str, ev) -> None:
        if kind != "ADDED" or ev.metadata.uid in self._events_seen:
            return
        self._events_seen.add(ev.metadata.uid)
        o = ev.involved_object
        self.add(f"{(o.kind or '').lower()}/{o.name}", ev.reason or "", ev.message or "")
