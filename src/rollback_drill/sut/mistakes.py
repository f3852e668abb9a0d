"""A configuration mistake is proven to change what the pods read before it is called a fault.

Why: on a real release a `--set` can render nothing. With the official chart's
`postgresql.auth.existingSecret`, `mastodon.secrets.existingSecret` or `mastodon.s3.existingSecret`
the pods read the team's own Secret, and with `mastodon.s3.enabled=false` there are no object
storage keys at all; the chart's own Ingress follows `mastodon.streaming.port`, so a port change
moves both ends. A drill of such a "mistake" would rehearse nothing and still report. So the
release is rendered twice with `helm upgrade --dry-run` (the values as they are; the same plus the
mistake) and the two are compared as the pods see them — Deployments' pod specs, the ConfigMaps
and Secrets they read, Services and Ingresses. No difference for the pods, or an Ingress that
moves with the change: refused, naming the value that makes it so (exit 2).

The mistake also edits the team's values in place instead of replacing them: the sidekiq mistake
changes only the queues of the workers the release has (their names, concurrency, resources and
affinity stay), so nothing else of the team's is lost until the put-back.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from rollback_drill.cluster.kube import Kube
from rollback_drill.sut.application import Application
from rollback_drill.sut.faults import Fault

LOST_QUEUE = "migration-typo-no-such-queue"  # a queue nobody enqueues on


class NoOpMistake(ValueError):
    """The mistake would change nothing the pods read (or moves both ends): refused, exit 2."""


def merged_values(kube: Kube, release: str) -> dict:
    """The release's values as the chart renders them: its defaults overlaid with the team's."""
    raw = kube.helm_release_record(release) or {}
    return _overlay(copy.deepcopy((raw.get("chart") or {}).get("values") or {}), raw.get("config") or {})


def _overlay(base: dict, top: dict) -> dict:
    for k, v in top.items():
        base[k] = _overlay(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


def _get(values: dict, path: str):
    cur = values
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def tailored(fault: Fault, values: dict) -> Fault:
    """The mistake as an edit of the team's own values (the sidekiq workers keep everything but
    their queues: a worker with `scheduler` keeps only that one, the others a queue nobody uses)."""
    path = "mastodon.sidekiq.workers"
    if not fault.values or path not in fault.values or not isinstance(_get(values, path), list):
        return fault
    workers = []
    for w in _get(values, path):
        w = dict(w)
        w["queues"] = ["scheduler"] if "scheduler" in (w.get("queues") or []) else [LOST_QUEUE]
        workers.append(w)
    names = ", ".join(str(w.get("name")) for w in workers)
    return Fault(fault.name, fault.switches, f"the release's sidekiq workers ({names}) lost the queues Mastodon's "
                 f"jobs use (mastodon.sidekiq.workers[*].queues; names, concurrency, resources and affinity "
                 f"kept)", {**fault.values, path: workers})


def render(kube: Kube, release: str, chart: Path, values: dict) -> list[dict]:
    """The release's manifests as `helm upgrade --reuse-values` would make them (a dry run)."""
    sets = [a for path, v in values.items() for a in ("--set-json", f"{path}={json.dumps(v)}")]
    out = kube.helm("upgrade", release, str(chart), "--reuse-values", "--no-hooks", "--dry-run", "-o", "json", *sets,
                    timeout=120)
    manifest = json.loads(out.stdout).get("manifest") or ""
    return [d for d in yaml.safe_load_all(manifest) if isinstance(d, dict)]


def what_pods_read(docs: list[dict]) -> dict[str, object]:
    """Per object, the part that changes what a pod runs or reads, or where traffic goes (a pod
    template's annotations are left out: the chart's `rollme` changes with every revision)."""
    out: dict[str, object] = {}
    for d in docs:
        kind, name = d.get("kind"), (d.get("metadata") or {}).get("name")
        spec = d.get("spec") or {}
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            tmpl = spec.get("template") or {}
            out[f"{kind}/{name}"] = {"spec": tmpl.get("spec"), "replicas": spec.get("replicas")}
        elif kind in ("ConfigMap", "Secret"):
            out[f"{kind}/{name}"] = {"data": d.get("data"), "stringData": d.get("stringData")}
        elif kind in ("Service", "Ingress"):
            out[f"{kind}/{name}"] = spec
    return out


# What makes a value path render nothing on the official chart (and the stub chart), checked in order.
_NO_OP_REASONS = (
    ("postgresql.auth.", "postgresql.auth.existingSecret", "the pods read DB_PASS from that Secret"),
    ("mastodon.secrets.", "mastodon.secrets.existingSecret", "the pods read SECRET_KEY_BASE from that Secret"),
    ("redis.auth.", "redis.auth.existingSecret", "the pods read REDIS_PASSWORD from that Secret"),
    ("mastodon.s3.", "mastodon.s3.existingSecret", "the pods read the AWS_* keys from that Secret"),
)


def no_op_reason(values: dict, paths: list[str]) -> str:
    for path in paths:
        if path.startswith("mastodon.s3.") and _get(values, "mastodon.s3.enabled") is False:
            return "mastodon.s3.enabled=false: the release keeps media on volumes and reads no object-storage key"
        for prefix, key, why in _NO_OP_REASONS:
            if path.startswith(prefix) and _get(values, key):
                return f"{key}={_get(values, key)} is set: {why}, not from {path}"
    return "the chart renders the same manifests with and without it"


def prove(kube: Kube, app: Application, chart: Path, fault: Fault, values: dict) -> list[str]:
    """The objects the mistake changes for the pods; NoOpMistake when there are none, or when an
    Ingress moves with it (then nothing breaks for users either)."""
    before = what_pods_read(render(kube, app.release, chart, {}))
    after = what_pods_read(render(kube, app.release, chart, fault.values or {}))
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    paths = list(fault.values or {})
    moved = [k for k in changed if k.startswith("Ingress/")]
    if moved:
        raise NoOpMistake(f"the configuration mistake {', '.join(paths)} is not a fault on release {app.release}: "
                          f"{', '.join(moved)} (the chart's own Ingress) follows it, so users are still routed "
                          f"right; drill another trigger, or declare the release's mistake in the sidecar's "
                          f"config_faults")
    if not [k for k in changed if not k.startswith("Service/")]:
        raise NoOpMistake(f"the configuration mistake {', '.join(paths)} would change nothing the pods of release "
                          f"{app.release} read: {no_op_reason(values, paths)}; declare a mistake that reaches them "
                          f"in the sidecar's config_faults (e.g. the key in that Secret is not the harness's to "
                          f"change)")
    return changed


def proven_mistake(kube: Kube, app: Application, chart: Path, fault: Fault) -> Fault:
    """The mistake tailored to the release's values and proven to reach its pods (NoOpMistake if not);
    the description says which objects it changes."""
    values = merged_values(kube, app.release)
    fault = tailored(fault, values)
    changed = prove(kube, app, chart, fault, values)
    return Fault(fault.name, fault.switches, f"{fault.description}; changes {', '.join(changed)}", fault.values)


def restarts_on_rollback(values: dict) -> str:
    """What `helm rollback` does to the release's pods (the plan says it before anything is done)."""
    if _get(values, "revisionPodAnnotation"):
        return ("every pod of the release restarts (the chart's `rollme: <revision>` pod annotation, "
                "revisionPodAnnotation)")
    return "the pods whose configuration the put-back changes restart"
