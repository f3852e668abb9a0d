"""The system under test behind one interface, as cluster/ puts its providers behind one.

A drill asks three things of what it drills on, whichever it is:
- `check()` — read-only, before the plan is printed: is it in a state the drill may start from?
  (refuses with every difference, `NotAsAssumed`, exit 2);
- `provision(changes)` — build it, or attach to it, in the just-migrated state the runbook assumes,
  recording in `changes` every change before it is made (so a drill put back or killed undoes it);
- `describe()` — one line for the operator and the evidence: which system, where.

The three systems:
- `StubOnDrillCluster` — the stub Mastodon on the harness's own cluster, reset to the just-migrated
  state in the drill's lane (sut/deploy.py); the harness owns that cluster: nothing to refuse;
- `StubInNamespace` — the stub in a namespace the harness creates on an allowed context, deleted
  after (sut/existing.py `provision_stub`); refused when that namespace already exists;
- `TeamRelease` — a team's own release, attached as it is (sut/existing.py `attach_existing`);
  refused when it is not in the state the runbook assumes. What the runbook's level says of it (the
  Services its Ingress file routes to, its own differences) is handed in as data by the drill.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

from rollback_drill.cluster import Cluster
from rollback_drill.cluster.kube import Kube
from rollback_drill.sut import existing as E
from rollback_drill.sut.changes import ChangeLog
from rollback_drill.sut.deploy import Environment, deploy


class SystemUnderTest(abc.ABC):
    """What a drill drills on (see the module's docstring)."""

    def check(self) -> None:
        """Read-only: raise `existing.NotAsAssumed` with every difference when the drill must not start."""

    @abc.abstractmethod
    def provision(self, changes: ChangeLog) -> Environment:
        """The system in the just-migrated state; every change recorded in `changes` before it is made."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line: which system, where."""


@dataclass
class StubOnDrillCluster(SystemUnderTest):
    """The stub on the harness's own cluster, in this process's lane (settings.lane())."""

    cluster: Cluster
    log: Callable[[str], None] = lambda m: None

    def provision(self, changes: ChangeLog) -> Environment:
        # the cluster is the harness's: a reset to the just-migrated state is the whole provisioning
        return deploy(self.cluster, reset=True, log=self.log)

    def describe(self) -> str:
        return f"the stub Mastodon on the drill cluster ({self.cluster.name})"


@dataclass
class StubInNamespace(SystemUnderTest):
    """The stub in a namespace the harness creates on an allowed context (deleted by `changes`)."""

    staging: E.Staging
    kube: Kube
    log: Callable[[str], None] = lambda m: None

    def check(self) -> None:
        E.stub_namespace_free(self.kube, self.staging)

    def provision(self, changes: ChangeLog) -> Environment:
        return E.provision_stub(self.staging, self.kube, changes, self.log)

    def describe(self) -> str:
        return (f"the stub Mastodon in a new namespace {self.staging.app.namespace} on context "
                f"'{self.staging.context}'")


@dataclass
class TeamRelease(SystemUnderTest):
    """A team's own release on an allowed context, as it is.

    `ingress_before`: the Services the level's Ingress file routes users back to; `level_assumes`:
    the differences from what the drilled level itself assumes — both read from the runbook by the
    drill (drill/staging.py), so this class knows no runbook text."""

    staging: E.Staging
    kube: Kube
    ingress_before: list[str] = field(default_factory=list)
    level_assumes: Callable[[], list[str]] = list

    def check(self) -> None:
        diffs = E.differences(self.kube, self.staging.app, self.level_assumes)
        if diffs:
            raise E.NotAsAssumed(f"refusing --sut existing on context '{self.staging.context}': the state is not "
                                 f"what the runbook assumes", diffs)

    def provision(self, changes: ChangeLog) -> Environment:
        return E.attach_existing(self.staging, self.kube, self.ingress_before)

    def describe(self) -> str:
        return (f"the team's release {self.staging.app.release} in namespace {self.staging.app.namespace} on "
                f"context '{self.staging.context}'")
