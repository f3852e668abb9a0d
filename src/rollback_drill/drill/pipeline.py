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

import gevent

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
    """One named step of a drill: what it does, and what the operator's terminal says before and after
    it (the lines `rollback-drill run` has always printed; "" says nothing)."""

    name: str
    run: Callable[[Drill, DrillPlan], None]
    before: str = ""  # formatted with the plan's level
    after: Callable[[Drill], str] | None = None


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


def _detected(drill: Drill) -> str:
    return f"detection: {drill.detection.reason if drill.detection else 'none'}"


STEADY = Phase("steady_state", lambda d, p: d.start_traffic(), "load and probes on, waiting for steady state")
ESCALATE = Phase("escalation", _escalate,
                 "Level 3 is an escalation: running Level 2 first, then damaging pre-migration rows")
DECLARE = Phase("declaration", lambda d, p: d.declare(p.trigger, "on-call SRE (declared in the drill)"))
INJECT = Phase("injection", lambda d, p: d.inject(p.trigger),
               after=lambda d: f"injected {d.fault.name} for {d.trigger.id}: {d.fault.description}")
DETECT = Phase("detection", lambda d, p: d.wait_detection() and None, after=_detected)
DECIDE = Phase("decision", lambda d, p: d.decide())
ROLLBACK = Phase("rollback", lambda d, p: d.rollback(p.level, p.commands), "running Level {level} commands")
RECOVER = Phase("recovery", lambda d, p: d.wait_recovery(p.recovery_limit_s) and None, "waiting for recovery")
VERIFY_PHASE = Phase("verification", _verify)
END = Phase("end", _end)


def opening(plan: DrillPlan, runbook: Runbook) -> tuple[Phase, ...]:
    """From the migrated state under load to the trigger seen: shared by every drill and the game day."""
    if plan.level == 3:
        return (STEADY, ESCALATE, DETECT)
    if runbook.trigger(plan.trigger).criterion.person_decides:
        return (STEADY, DECLARE)
    return (STEADY, INJECT, DETECT)


def phases(plan: DrillPlan, runbook: Runbook) -> tuple[Phase, ...]:
    """The order of a drill's phases — written here and nowhere else."""
    return (*opening(plan, runbook), DECIDE, ROLLBACK, RECOVER, VERIFY_PHASE, END)


def _run(drill: Drill, plan: DrillPlan, todo: tuple[Phase, ...], echo: Callable[[str], None],
         pause_s: float = 0.0) -> bool:
    """The phases in order; False when a fault nobody detected ends the drill after detection (the
    verdict says not_detected; nothing is rolled back). `pause_s`: a wait after the steady state (an
    unannounced game day's failure comes at a moment nobody knows)."""
    for ph in todo:
        if ph.before:
            echo(f"drill: {ph.before.format(level=plan.level)}")
        ph.run(drill, plan)
        if ph is STEADY and pause_s > 0:
            gevent.sleep(pause_s)
        if ph.after is not None:
            echo(f"drill: {ph.after(drill)}")
        if ph in (DETECT, DECLARE) and not (drill.detection and drill.detection.fired):
            return False
    return True


def start(drill: Drill, plan: DrillPlan, echo: Callable[[str], None] = lambda m: None, pause_s: float = 0.0) -> bool:
    """The opening phases only (a game day: then a person takes over); True when the trigger was seen."""
    drill.plan = plan
    return _run(drill, plan, opening(plan, drill.runbook), echo, pause_s)


def run(drill: Drill, plan: DrillPlan, echo: Callable[[str], None] = lambda m: None) -> None:
    """Every phase of the plan in order. An exception goes on to the caller, whose guard stops the drill
    at once (`Drill.abort`) and closes it (`Drill.close`)."""
    drill.plan = plan
    _run(drill, plan, phases(plan, drill.runbook), echo)
