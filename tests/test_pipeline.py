"""The drill as data plus named phases (drill/pipeline.py): the order decided in one place."""

import re
from pathlib import Path

import pytest

from rollback_drill import DEFAULT_RUNBOOK, PROJECT_ROOT
from rollback_drill.drill import pipeline as P
from rollback_drill.drill.pipeline import DrillPlan
from rollback_drill.runbook.model import load_runbook

RB = load_runbook(DEFAULT_RUNBOOK)


def names(plan: DrillPlan) -> list[str]:
    return [ph.name for ph in P.phases(plan, RB)]


def test_a_measured_trigger_is_injected_then_detected():
    assert names(DrillPlan(1, "C1")) == ["steady_state", "injection", "detection", "decision", "rollback",
                                         "recovery", "verification", "end"]


def test_a_persons_trigger_is_declared_not_injected():
    assert RB.trigger("C4").criterion.person_decides
    assert names(DrillPlan(1, "C4"))[:3] == ["steady_state", "declaration", "decision"]


def test_level_3_is_an_escalation_after_level_2():
    assert names(DrillPlan(3, ""))[:3] == ["steady_state", "escalation", "detection"]


def test_the_plan_is_data_saved_as_written():
    cmds = RB.level(1).commands[:2]
    d = DrillPlan(1, "c1", "mutant drop-wait", cmds, 30.0, "if_recovered").to_dict()
    assert d == {"level": 1, "trigger": "C1", "name": "mutant drop-wait",
                 "commands": [{"line": c.line, "text": c.text} for c in cmds], "recovery_limit_s": 30.0,
                 "verify": "if_recovered"}
    assert DrillPlan(3, "C1").to_dict()["trigger"] is None and DrillPlan(1, "C1").to_dict()["commands"] is None
    with pytest.raises(ValueError, match="verify"):
        DrillPlan(1, "C1", verify="sometimes")


def test_the_phase_order_is_written_once():
    """No entry point (run, staging, mutate, benches) calls the phases in an order of its own: only the
    engine (which defines them) and the pipeline (which orders them) name them. The Gherkin steps are
    exempt: a scenario's sentences are its order. The game day opens with the pipeline's phases, then
    waits for a person's recovery (its own `wait_recovery(since=alert)`), so only its start is checked."""
    phase_calls = re.compile(r"\.(start_traffic|wait_detection|inject|decide|rollback)\(")
    writers = sorted(str(p.relative_to(PROJECT_ROOT)) for d in ("src", "bench") for p in (PROJECT_ROOT / d).rglob("*.py")
                     if phase_calls.search(p.read_text(encoding="utf-8")))
    assert writers == ["src/rollback_drill/drill/pipeline.py"], writers
