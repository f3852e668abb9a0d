"""Preflight on a live cluster: can each level of the runbook be executed there right now? Read-only.

For every level it checks what the level's commands name (runbook/preflight.py reads them):
Deployments, Services, the Ingress, Secrets, ConfigMaps, HPA, the Helm release, the files it applies
(valid and, for kustomize, buildable, checked with a server-side dry run that persists nothing), the
old stack's images, and a recent database backup; plus the runbook's 実施前 checklist. Nothing is
created, changed or deleted (tests compare resourceVersions before and after).

It lives in drill/ because it joins the runbook with the cluster and the application's names;
reading a runbook needs neither.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from pathlib import Path

from rollback_drill.cluster.kube import Kube
from rollback_drill.runbook.meaning import objects_touched
from rollback_drill.runbook.model import Runbook
from rollback_drill.runbook.preflight import (IMAGES_NOT_LISTABLE, NOT_CHECKED, BACKUPS_NOT_LISTABLE, Check,
                                              ImagesPresent, LevelReadiness, checklist_before, objects_named,
                                              summarize)
from rollback_drill.sut.application import Application


def _exists(kube: Kube, kind: str, name: str) -> Check:
    found = kube.read(kind, name) is not None
    return Check(f"{kind} {name}", found, "" if found else f'{kind} "{name}" not found in namespace {kube.namespace}')


def _file(kube: Kube, workdir: Path, path: str, kustomize: bool = False) -> Check:
    target = workdir / path
    if not target.exists():
        return Check(f"file {path}", False, f"{target} does not exist")
    args = ["apply", "--dry-run=server", "-o", "name"] + (["-k", str(target)] if kustomize else ["-f", str(target)])
    p = kube.kubectl(*args, check=False)
    return Check(f"{'kustomization' if kustomize else 'file'} {path}", p.returncode == 0,
                 "valid (server dry run)" if p.returncode == 0 else p.stderr.strip()[:200])


def check_level(kube: Kube, runbook: Runbook, number: int, workdir: Path, backups: list[dict] | None,
                images_present: ImagesPresent, app: Application = Application()) -> LevelReadiness:
    """One level's items. `backups` None: backups cannot be listed here (the item is not checked);
    `images_present` None: the node's images cannot be listed here (the image items are not checked)."""
    lv = runbook.level(number)
    r = LevelReadiness(number, lv.title)
    seen: set[tuple[str, str]] = set()
    release_checked = False
    for c in lv.commands:
        for kind, name in objects_named(c.text):
            if (kind, name) not in seen and name not in ("--all",):
                seen.add((kind, name))
                r.checks.append(_exists(kube, kind, name))
        m = re.match(r"kubectl apply -f (\S+)", c.text)
        if m:
            r.checks.append(_file(kube, workdir, m.group(1)))
        m = re.match(r"kubectl apply -k (\S+)", c.text)
        if m:
            r.checks.append(_file(kube, workdir, m.group(1), kustomize=True))
        if c.text.startswith("helm uninstall") and not release_checked:
            names = [x.text.split()[2] for x in lv.commands if x.text.startswith("helm uninstall")]
            found = [n for n in names if kube.helm_release_deployed(n)]
            r.checks.append(Check(f"Helm release {' or '.join(names)}", bool(found),
                                  f"found {found[0]}" if found else "no such release"))
            release_checked = True
        if c.text.startswith("gcloud sql backups list") and backups is None:
            r.checks.append(Check("a successful database backup", None, BACKUPS_NOT_LISTABLE))
        elif c.text.startswith("gcloud sql backups list"):
            recent = [b for b in backups if b.get("status") == "SUCCESSFUL"]
            r.checks.append(Check("a successful database backup", bool(recent),
                                  f"newest {recent[0]['id']} ({recent[0]['windowStartTime']})" if recent
                                  else "no backup listed"))
    if number in (1, 2):
        r.checks.append(_exists(kube, "ingress", app.ingress))
    if any(n in app.old_stack for _, n in seen) or number == 3:
        r.checks.append(_exists(kube, "configmap", "mastodon-env"))
        r.checks.append(_exists(kube, "secret", "mastodon"))
    for dep in sorted({n for k, n in seen if k == "deployment" and n not in app.helm_stack}):
        if images_present is None:
            r.checks.append(Check(f"images of {dep}", None, IMAGES_NOT_LISTABLE))
            continue
        d = kube.read("deployment", dep)
        images = [c.image for c in d.spec.template.spec.containers] if d is not None else []
        if not images:
            r.checks.append(Check(f"images of {dep}", None, NOT_CHECKED + "the deployment's images could not be read"))
            continue
        missing = [img for img in images if not images_present(img)]
        r.checks.append(Check(f"images of {dep}", not missing,
                              "present on the node" if not missing else f"missing: {missing}"))
    return r


def resource_versions(kube: Kube) -> dict[str, str]:
    """Every object's resourceVersion in the namespace (the read-only proof)."""
    from kubernetes import client as k8s
    ns, out = kube.namespace, {}
    for kind, api, method in (("Deployment", "AppsV1Api", "list_namespaced_deployment"),
                              ("ReplicaSet", "AppsV1Api", "list_namespaced_replica_set"),
                              ("Service", "CoreV1Api", "list_namespaced_service"),
                              ("ConfigMap", "CoreV1Api", "list_namespaced_config_map"),
                              ("Secret", "CoreV1Api", "list_namespaced_secret"),
                              ("Pod", "CoreV1Api", "list_namespaced_pod"),
                              ("Ingress", "NetworkingV1Api", "list_namespaced_ingress"),
                              ("HorizontalPodAutoscaler", "AutoscalingV2Api", "list_namespaced_horizontal_pod_autoscaler")):
        for o in getattr(getattr(k8s, api)(kube.api), method)(ns).items:
            out[f"{kind}/{o.metadata.name}"] = o.metadata.resource_version
    return out


def run_preflight(kube: Kube, runbook: Runbook, workdir: Path, backups: list[dict] | None,
                  images_present: ImagesPresent, state=None, app: Application = Application()) -> dict:
    """`state` (observe.cluster_state.ClusterState) adds the runbook analysis of the live state,
    read-only: what each level would touch and the findings already visible without running it."""
    levels = [check_level(kube, runbook, lv.number, workdir, backups, images_present, app) for lv in runbook.levels]
    before = checklist_before(runbook, workdir)
    result = {"checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "namespace": kube.namespace,
              "levels": [lv.to_dict() for lv in levels], "実施前": [asdict(c) for c in before],
              **summarize(levels, before)}
    if state is not None:
        result["findings"] = [f.to_dict() for f in analyse(runbook, workdir, state, app)]
        for lv in result["levels"]:
            lv["touches"] = [{"line": c.line, "command": c.text, "touches": objects_touched(c.text)}
                             for c in runbook.level(lv["level"]).commands]
    return result


def analyse(runbook: Runbook, workdir: Path, state, app: Application) -> list:
    """The runbook analysis against the state found now (read-only), every level and step."""
    from rollback_drill.runbook import analysis as A
    live = A.LiveState.read(state, app.ingress)
    found = []
    for lv in runbook.levels:
        step = f"Level {lv.number}"
        found += A.applicable_findings(lv, workdir, step, runbook.text)
        found += A.no_namespace(lv.commands, state.ns, step)
        found += A.alternatives(lv.commands, live, step, {app.release})
        for c in lv.commands[:1]:  # the first command runs in the state found now
            found += A.check_objects(c, live, step, looks_only=False)
        for c in lv.commands:
            found += A.scope_listing(c, live, app.deployments, step)
    status = runbook.step_meaning("status")
    if status is not None:
        label = f"手順{status.number} (status)"
        found += A.no_namespace(status.commands, state.ns, label)
        for c in status.commands:
            found += A.check_objects(c, live, label, looks_only=True)
    return A.ordered(found)
