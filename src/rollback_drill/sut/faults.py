"""The faults that make each trigger true, injected into the Helm release only.

A fault is a real misbehaviour of the new release: the pods of `mastodon-helm` read their fault
switches from the ConfigMap `mastodon-helm-faults` (a value of the Helm chart) every 0.5 s and then
really fail — wrong DB password, refused connections, stalled workers, 5xx answers, added
latency. The old Kustomize stack has no such switches, so what removes the fault is the
runbook's rollback, never the harness flipping it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rollback_drill.cluster.kube import Kube

FAULTS_CONFIGMAP = "mastodon-helm-faults"


@dataclass(frozen=True)
class Fault:
    name: str
    switches: dict  # written as faults.json; empty = none
    description: str


# Default fault per trigger id (DESIGN.md's catalogue). Values are chosen to cross the runbook's
# threshold of that trigger clearly (e.g. 90 % errors for "> 50 %"). The latencies are absolute:
# under drill load the stub's median is ~150-300 ms on 2 cores, so 1.5 s is >= 3x and 0.7 s >= 2x.
CATALOGUE: dict[str, Fault] = {
    "C1": Fault("web-5xx", {"error_ratio": 0.9}, "Helm web pods answer 90 % of requests with 500"),
    "C2": Fault("db-wrong-credentials", {"db": "wrong-credentials"}, "Helm release uses a wrong DB password"),
    "C3": Fault("sessions-broken", {"sessions": "broken"}, "sign-in sessions never verify (secret key mismatch)"),
    "C4": Fault("none", {}, "no fault: a person declares a serious security problem"),
    "H1": Fault("partial-5xx", {"error_ratio": 0.25}, "Helm web pods answer 25 % of requests with 500"),
    "H2": Fault("latency", {"latency_ms": 1500}, "Helm web pods add 1.5 s to every answer"),
    "H3": Fault("sidekiq-stalled", {"worker": "stalled"}, "Helm sidekiq stops taking jobs"),
    "H4": Fault("media-storage-broken", {"media": "broken"}, "Helm web cannot write media to storage"),
    "M1": Fault("small-5xx", {"error_ratio": 0.08}, "Helm web pods answer 8 % of requests with 500"),
    "M2": Fault("streaming-down", {"streaming": "down"}, "Helm streaming refuses connections (503)"),
    "M3": Fault("mild-latency", {"latency_ms": 700}, "Helm web pods add 0.7 s to every answer"),
}


def fault_for(trigger_id: str) -> Fault:
    try:
        return CATALOGUE[trigger_id.upper()]
    except KeyError:
        raise KeyError(f"no fault for trigger {trigger_id!r}; known: {', '.join(CATALOGUE)}") from None


def inject(kube: Kube, fault: Fault) -> None:
    """Set the Helm release's fault switches (takes effect in the pods within ~0.5 s)."""
    patch = {"data": {"faults.json": json.dumps(fault.switches)}}
    kube.kubectl("patch", "configmap", FAULTS_CONFIGMAP, "--type", "merge", "-p", json.dumps(patch))
