"""A drill as data plus named phases, and the one place that puts the phases in order.

`DrillPlan` is what is drilled (level, trigger, the commands — the level as written or a mutant's
edit —, the recovery limit, whether 手順4 runs): immutable, printable, saved in the journal's
scenario (`plan`). `phases(plan, runbook)` is the order, decided from the plan and what the runbook
says of its trigger (a person declares a security problem; Level 3 is an escalation after Level 2).
`run(drill, plan, echo)` executes them (each Drill phase method names itself on `drill.phase`); an
exception goes on to the caller, whose guard stops the drill at once (`Drill.abort`) and closes it
(`Drill.close`, the teardown that always runs: what the harness changed is put back).

`rollback-drill run`, the staging drill, `mutate` and the benches compose this; none of them writes
the order of the phases. The Gherkin scenarios write their order in their sentences, each step one
of the same Drill phase methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rollback_drill.drill.engine import Drill
from rollback_drill.runbook.model import Command, Runbook

VERIFY = ("always", "if_recovered", "never")


@dataclass(frozen=True)
class DrillPlan:
    """What one drill rehearses. `commands` None: the level as the runbook writes it."""

    level: int
    trigger: str  # a criterion id (C1 …); ignored for Level 3, whose trigger is the damage to data
    name: str = ""
    commands: tuple[Command, ...] | None = None
    recovery_limit_s: float | None = None  # None: the configured recovery timeout
    verify: str = "always"  # always | if_recovered (a mutant that did not recover is killed already) | never

    def __post_init__(self) -> None:
        if self.verify not in VERIFY:
            raise ValueError(f"verify must be one of {VERIFY}, got {self.verify!r}")

    def to_dict(self) -> dict:
        return {"level": self.level, "trigger": None if self.level == 3 else self.trigger.upper(),
                "name": self.name or None,
                "commands": None if self.commands is None else [{"line": c.line, "text": c.text}
                                                                for c in self.commands],
                "recovery_limit_s": self.recovery_limit_s, "verify": self.verify}


@dataclass(frozen=True)
class Phase:
    """One named step of a drill: what it says before it runs, and what it does."""

    name: str
    say: str
    run: Callable[[Drill, DrillPlan], None]


def _escalate(drill: Drill, plan: DrillPlan) -> None:
    drill.run_level_first(2)
    drill.corrupt_data()


def _verify(drill: Drill, plan: DrillPlan) -> None:
    if plan.verify == "always" or (plan.verify == "if_recovered" and drill.recovered is not None):
        drill.verify()


def _end(drill: Drill, plan: DrillPlan) -> None:
    drill.phase = "done"
    drill.stop_traffic()
    drill.end_emulation()


STEADY = Phase("steady_state", "load and probes on, waiting for steady state", lambda d, p: d.start_traffic())
ESCALATE = Phase("escalation", "Level 3 is an escalation: running Level 2 first, then damaging pre-migration rows",
                 _escalate)
DECLARE = Phase("declaration", "the trigger is declared by a person",
                lambda d, p: d.declare(p.trigger, "on-call SRE (declared in the drill)"))
INJECT = Phase("injection", "injecting the fault for the trigger", lambda d, p: d.inject(p.trigger))
DETECT = Phase("detection", "waiting for detection", lambda d, p: d.wait_detection() and None)
DECIDE = Phase("decision", "deciding", lambda d, p: d.decide())
ROLLBACK = Phase("rollback", "running the level's commands", lambda d, p: d.rollback(p.level, p.commands))
RECOVER = Phase("recovery", "waiting for recovery", lambda d, p: d.wait_recovery(p.recovery_limit_s) and None)
VERIFY_PHASE = Phase("verification", "手順4 and the 実施後 checklist", _verify)
END = Phase("end", "load and probes off, emulation put back", _end)


def phases(plan: DrillPlan, runbook: Runbook) -> tuple[Phase, ...]:
    """The order of a drill's phases — written here and nowhere else."""
    if plan.level == 3:
        start: tuple[Phase, ...] = (ESCALATE, DETECT)
    elif runbook.trigger(plan.trigger).criterion.person_decides:
        start = (DECLARE,)
    else:
        start = (INJECT, DETECT)
    return (STEADY, *start, DECIDE, ROLLBACK, RECOVER, VERIFY_PHASE, END)


def run(drill: Drill, plan: DrillPlan, echo: Callable[[str], None] = lambda m: None) -> None:
    """Every phase of the plan in order. A fault nobody detected ends the drill after detection (the
    verdict says not_detected; nothing is rolled back). An exception goes on to the caller, whose guard
    stops the drill at once (`Drill.abort`) and closes it (`Drill.close`)."""
    drill.plan = plan
    for ph in phases(plan, drill.runbook):
        echo(f"drill: {ph.name}: {ph.say}")
        ph.run(drill, plan)
        if ph is INJECT and drill.fault is not None:
            echo(f"drill: injected {drill.fault.name} for {drill.trigger.id}: {drill.fault.description}")
        if ph is DETECT or ph is DECLARE:
            echo(f"drill: detection: {drill.detection.reason if drill.detection else 'none'}")
            if not drill.detection or not drill.detection.fired:
                return
