"""A drill on a cluster the harness did not create: what the runbook's level says of the team's release.

sut/existing.py and sut/system.py check, plan and attach the release without reading the runbook;
this module reads the level for them — the Ingress file the level applies to put traffic back, the
level's preflight items, its commands as written — and hands that in as data.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from rollback_drill.cluster.kube import Kube
from rollback_drill.drill.preflight import check_level
from rollback_drill.runbook.model import Runbook
from rollback_drill.sut import existing as E
from rollback_drill.sut.application import Application
from rollback_drill.sut.system import StubInNamespace, SystemUnderTest, TeamRelease


def backup_ingress_backends(workdir: Path, runbook: Runbook, level: int) -> tuple[Path | None, list[str]]:
    """The Ingress file the level applies to put traffic back, and the Services it routes to."""
    from rollback_drill.observe.cluster_state import ingress_backends  # gevent: imported only when used
    from rollback_drill.runbook.analysis import switches_traffic
    for c in runbook.level(level).commands:
        if switches_traffic(c, workdir):
            path = workdir / c.text.split()[-1]
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "Ingress"]
            return path, sorted({b for d in docs for b in ingress_backends(d)})
    return None, []


def level_assumes(kube: Kube, app: Application, runbook: Runbook, level: int, workdir: Path):
    """What this level of the runbook assumes of the team's release, as a read-only check: a callable
    giving every difference (the Ingress file routes to the old stack; the level's preflight items)."""
    def as_the_level_assumes() -> list[str]:
        out: list[str] = []
        path, before = backup_ingress_backends(workdir, runbook, level)
        # a level that applies no Ingress file is the runbook's problem, which the drill shows: not refused
        if path is not None and not set(before) & set(app.old_stack):
            out.append(f"{path} routes to {before}, not to the old stack {list(app.old_stack)}")
        for c in check_level(kube, runbook, level, workdir, [], None, app).checks:
            if c.ok is False:
                out.append(f"{c.what}: {c.why}")
        return out
    return as_the_level_assumes


def differences(kube: Kube, app: Application, runbook: Runbook, level: int, workdir: Path) -> list[str]:
    """How the team's release differs from the just-migrated state the runbook assumes (read-only):
    the release's state (sut/existing.py), then what this level assumes of it."""
    return E.differences(kube, app, level_assumes(kube, app, runbook, level, workdir))


def plan_lines(st: E.Staging, runbook: Runbook, level: int, fault, load, revision: int | None,
               restarts: str = "") -> list[str]:
    """What the drill will do on the team's cluster, before anything is done (sut/existing.py
    `plan_lines`, with the level's commands as written)."""
    commands = [(c.line, c.text) for c in runbook.level(level).commands]
    return E.plan_lines(st, level, commands, fault, load, revision, restarts)


def system_under_test(st: E.Staging, kube: Kube, runbook: Runbook, level: int, log) -> SystemUnderTest:
    """The system `--sut` names on the allowed context, with what the runbook's level says of it
    handed in as data (the Services its Ingress file routes users back to, its own assumptions)."""
    if st.sut == "stub":
        return StubInNamespace(st, kube, log)
    _, before = backup_ingress_backends(st.workdir, runbook, level)
    return TeamRelease(st, kube, before, level_assumes(kube, st.app, runbook, level, st.workdir))
