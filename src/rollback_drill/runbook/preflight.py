"""Preflight: can each level of the runbook be executed on this cluster right now? Read-only.

For every level it checks what the level's commands name: Deployments, Services, the Ingress,
Secrets, ConfigMaps, HPA, the Helm release, the files it applies (valid and, for kustomize,
buildable, checked with a server-side dry run that persists nothing), the old stack's images,
and a recent database backup; plus the runbook's 実施前 checklist. Nothing is created,
changed or deleted (tests compare resourceVersions before and after).

Preflight tells the truth: an item it did not check is `ok: None` ("not checked: <reason>"),
never OK. A level is ready when none of its items failed; `complete` says whether every item
was actually checked, and `not_checked` how many were not.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rollback_drill.cluster.kube import Kube
from rollback_drill.runbook.meaning import BACKUP_FILE_WORDS, norm, objects_touched
from rollback_drill.runbook.model import Runbook
from rollback_drill.sut.application import Application

#: Whether an image is present on the node; None: the node's images cannot be listed here.
ImagesPresent = Callable[[str], bool] | None

NOT_CHECKED = "not checked: "
PERSON_STEP = NOT_CHECKED + "a person's step"
IMAGES_NOT_LISTABLE = NOT_CHECKED + "the node's images cannot be listed read-only on this context"
BACKUPS_NOT_LISTABLE = NOT_CHECKED + "the database backups cannot be listed on this context"


@dataclass
class Check:
    what: str
    ok: bool | None  # None: not checked, and `why` says why ("not checked: ...")
    why: str = ""


def _not_checked(checks: list[Check]) -> int:
    return sum(1 for c in checks if c.ok is None)


def _none_failed(checks: list[Check]) -> bool:
    return not any(c.ok is False for c in checks)


@dataclass
class LevelReadiness:
    level: int
    title: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """No item failed. Items not checked do not make a level unready; `complete` reports them."""
        return _none_failed(self.checks)

    @property
    def not_checked(self) -> int:
        return _not_checked(self.checks)

    @property
    def complete(self) -> bool:
        return self.not_checked == 0

    def to_dict(self) -> dict:
        return {"level": self.level, "title": self.title, "ready": self.ready, "complete": self.complete,
                "not_checked": self.not_checked, "checks": [asdict(c) for c in self.checks]}


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


def _objects_named(cmd: str) -> list[tuple[str, str]]:
    """(kind, name) pairs a command acts on, read from the command itself."""
    out = []
    m = re.match(r"kubectl (?:scale|annotate)\s+(deployment|service)\s+([\w-]+)", cmd)
    if m:
        out.append((m.group(1), m.group(2)))
    m = re.match(r"kubectl (?:exec|logs)\s+(deployment)/([\w-]+)", cmd)
    if m:
        out.append((m.group(1), m.group(2)))
    return out


def check_level(kube: Kube, runbook: Runbook, number: int, workdir: Path, backups: list[dict] | None,
                images_present: ImagesPresent, app: Application = Application()) -> LevelReadiness:
    """One level's items. `backups` None: backups cannot be listed here (the item is not checked);
    `images_present` None: the node's images cannot be listed here (the image items are not checked)."""
    lv = runbook.level(number)
    r = LevelReadiness(number, lv.title)
    seen: set[tuple[str, str]] = set()
    release_checked = False
    for c in lv.commands:
        for kind, name in _objects_named(c.text):
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


def checklist_before(runbook: Runbook, workdir: Path) -> list[Check]:
    out = []
    for item in runbook.checklists.get("before", []):
        if any(w in norm(item) for w in BACKUP_FILE_WORDS):
            f = workdir / "backup" / "ingress-mastodon.yaml"
            out.append(Check(item, f.exists(), str(f) if f.exists() else f"{f} missing"))
        else:
            out.append(Check(item, None, PERSON_STEP))
    return out


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


def summarize(levels: list[LevelReadiness], before: list[Check]) -> dict:
    """The overall verdict: `ready` (no item failed), `complete` (every item checked), `not_checked`."""
    checks = [c for lv in levels for c in lv.checks] + list(before)
    n = _not_checked(checks)
    return {"ready": all(lv.ready for lv in levels) and _none_failed(before), "complete": n == 0, "not_checked": n}


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


def _mark(ok: bool | None) -> str:
    return "[--]" if ok is None else "[ok]" if ok else "[!!]"


def format_table(result: dict) -> str:
    lines = []
    items = [c for lv in result["levels"] for c in lv["checks"]] + list(result["実施前"])
    for lv in result["levels"]:
        n = sum(1 for c in lv["checks"] if c["ok"] is None)
        verdict = ("READY" if lv["ready"] else "NOT READY") + (f" ({n} not checked)" if n else "")
        lines.append(f"Level {lv['level']}: {lv['title']} — {verdict}")
        for c in lv["checks"]:
            lines.append(f"  {_mark(c['ok'])} {c['what']}: {c['why']}")
    lines.append("実施前:")
    for c in result["実施前"]:
        lines.append(f"  {_mark(c['ok'])} {c['what']}: {c['why']}")
    if result.get("findings") is not None:
        lines.append(f"findings visible without running anything ({len(result['findings'])}, most severe first):")
        for f in result["findings"]:
            lines.append(f"  [{f['severity']}] {f['step']} line {f['line']} ({f['kind']}): {f['problem']}")
    if "migrated_state_differences" in result:
        diffs = result["migrated_state_differences"]
        lines.append("just-migrated state (what `run --sut existing` needs): "
                     + ("as the runbook assumes" if not diffs else f"{len(diffs)} difference(s)"))
        lines += [f"  [!!] {d}" for d in diffs]
    reasons = Counter(c["why"].removeprefix(NOT_CHECKED) for c in items if c["ok"] is None)
    n = sum(reasons.values())
    why = "; ".join(f"{k}: {r}" for r, k in reasons.most_common()) if n else "every item was checked"
    lines.append(f"Not checked: {n} of {len(items)} items ({why})")
    return "\n".join(lines)
