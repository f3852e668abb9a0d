"""Game-day hints (`gameday --hints`): the runbook step that matches the cluster's state, when asked.

Why from the cluster and not from what was typed: a hint must be right also after the operator did a
step differently (another command, another terminal) or undid one. Each command of the level is
judged by what it would leave in the cluster — a scale by the replicas the Deployments ask for, a pod wait by
a ready pod behind its selector, an Ingress file by the Services the live Ingress routes to, a
kustomization by its Deployments existing, a `helm uninstall` by the release being gone. The first
command whose effect is not there is the hint; a command whose effect the cluster cannot show
(an annotation, a `gcloud` call) is never claimed done: it is named as "cannot be seen from the
cluster" and the hint moves past it. The hint never runs anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import yaml

from rollback_drill.drill.gameday import meaning
from rollback_drill.observe.cluster_state import ingress_backends
from rollback_drill.runbook.analysis import LiveState
from rollback_drill.runbook.model import Command


@dataclass(frozen=True)
class Judged:
    done: bool | None  # None: the cluster cannot show it
    why: str


def judge(cmd: Command, live: LiveState, workdir: Path, namespace: str) -> Judged:
    """Whether the effect of one command of the level is in the cluster now, and what was seen."""
    units = meaning(cmd.text, namespace).units
    if len(units) != 1:
        return Judged(None, "not one command the cluster can show")
    u = units[0]
    if u.tool == "kubectl" and u.verb == "scale":
        want = u.value("--replicas")
        names = [t.split("/", 1)[1] for t in u.target if t.startswith("deployment/")]
        if want is None or not want.isdigit() or not names:
            return Judged(None, "a scale of no named Deployment")
        # what the Deployment asks for (a pod that is not ready is still there: a Helm web pod failing its
        # readiness under the fault has not been scaled away); its ready pods are the wait's to judge
        asked = {n: live.replicas.get(n, live.deployments.get(n)) for n in names}
        missing = [n for n, r in asked.items() if r is None]
        if missing:
            return Judged(False, f"{', '.join(missing)} does not exist")
        off = {n: r for n, r in asked.items() if r != int(want)}
        return Judged(not off, "; ".join(f"{n} asks for {r} replica(s), {live.deployments.get(n, 0)} ready"
                                         for n, r in (off or asked).items()))
    if u.tool == "kubectl" and u.verb == "wait":
        sel = next((t.split(" ", 1)[1] for t in u.target if t.startswith("selector ")), "")
        if not sel or "pod" not in " ".join(u.target):
            return Judged(None, "a wait on something other than pods")
        deps = live.matching(sel)
        ready = [d for d in deps if live.deployments.get(d, 0) > 0]
        return Judged(bool(ready), f"{'a ready pod' if ready else 'no ready pod'} matches {sel}")
    if u.tool == "kubectl" and u.verb == "apply":
        f = next((t.split(" ", 1)[1] for t in u.target if t.startswith("file ")), None)
        if f is not None:
            return _applied_file(workdir / f, live)
        k = next((t.split(" ", 1)[1] for t in u.target if t.startswith("kustomization ")), None)
        if k is not None:
            return _applied_kustomization(workdir / k, live)
    if u.tool == "helm" and u.verb == "uninstall":
        rel = next((t.split(" ", 2)[2] for t in u.target if t.startswith("helm release ")), "")
        if rel:
            return Judged(rel not in live.releases, f"release {rel} {'still' if rel in live.releases else 'no longer'}"
                                                     f" installed")
    return Judged(None, "its effect cannot be seen from the cluster")


def _applied_file(path: Path, live: LiveState) -> Judged:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError):
        return Judged(None, f"{path.name} cannot be read here")
    ingresses = [d for d in docs if d.get("kind") == "Ingress"]
    if not ingresses:
        return Judged(None, f"{path.name} holds no Ingress (its other objects are not judged)")
    want = {b for d in ingresses for b in ingress_backends(d)}
    return Judged(want == live.ingress_backends,
                  f"the Ingress routes to {', '.join(sorted(live.ingress_backends)) or 'nothing'}"
                  f"{'' if want == live.ingress_backends else '; the file routes to ' + ', '.join(sorted(want))}")


def _deployments_of(folder: Path, depth: int = 0) -> list[str]:
    """The Deployments a kustomization makes (its resources, bases followed; no kustomize run)."""
    kfile = folder / "kustomization.yaml"
    if depth > 5 or not kfile.is_file():
        return []
    try:
        k = yaml.safe_load(kfile.read_text()) or {}
    except yaml.YAMLError:
        return []
    names: list[str] = []
    for r in (k.get("resources") or []) + (k.get("bases") or []):
        p = (folder / str(r)).resolve()
        if p.is_dir():
            names += _deployments_of(p, depth + 1)
        elif p.is_file():
            try:
                names += [d["metadata"]["name"] for d in yaml.safe_load_all(p.read_text())
                          if isinstance(d, dict) and d.get("kind") == "Deployment"]
            except (OSError, yaml.YAMLError, KeyError, TypeError):
                continue
    prefix, suffix = str(k.get("namePrefix") or ""), str(k.get("nameSuffix") or "")
    return [f"{prefix}{n}{suffix}" for n in names]


def _applied_kustomization(folder: Path, live: LiveState) -> Judged:
    names = _deployments_of(folder)
    if not names:
        return Judged(None, f"{folder.name}: no Deployment found in its resources")
    missing = [n for n in names if n not in live.deployments]
    return Judged(not missing, f"{'missing: ' + ', '.join(missing) if missing else 'its Deployments exist'}")


def next_step(commands: Sequence[Command], live: LiveState, workdir: Path, namespace: str, level_no: int) -> str:
    """The hint: the first command of the level whose effect is not in the cluster, with what was seen."""
    unseen: list[str] = []
    done_alt: set[int] = set()
    for i, c in enumerate(commands):
        if c.alternative_to is not None and c.alternative_to in done_alt:
            continue
        j = judge(c, live, workdir, namespace)
        if j.done is True:
            done_alt.add(i)
            continue
        if j.done is None:
            unseen.append(f"line {c.line}")
            continue
        if i + 1 < len(commands) and commands[i + 1].alternative_to == i:
            j2 = judge(commands[i + 1], live, workdir, namespace)
            if j2.done is True:
                done_alt.add(i + 1)
                continue
        also = f" (not judged, the cluster cannot show them: {', '.join(unseen)})" if unseen else ""
        return f"Level {level_no}, line {c.line}: {c.text}\n  seen now: {j.why}{also}"
    also = f" ({', '.join(unseen)}: the cluster cannot show them — check them yourself)" if unseen else ""
    return (f"Level {level_no}: every step the cluster can show is done{also}; watch the recovery, then 手順4 "
            f"(verification)")
