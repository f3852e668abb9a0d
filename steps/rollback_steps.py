"""When steps in which the operator (the harness) runs a level of the runbook, as written or neutered."""

from __future__ import annotations

import re

from pytest_bdd import parsers, when
import yaml

from rollback_drill.drill.engine import Drill
from rollback_drill.drill.mutate import neutered


@when(parsers.parse("the operator runs the commands of Level {n:d}"))
def run_level(state, n):
    drill: Drill = state["drill"]
    if "decide" not in drill.tl.marks:
        drill.decide()  # the decider's think time; the decision is measured at the first command
    drill.rollback(n)


def _switches_traffic_or_scales_down_helm(drill: Drill):
    """By meaning: a command that applies an Ingress, or scales a Helm Deployment to 0."""
    def which(cmd) -> bool:
        m = re.match(r"^\s*kubectl\s+apply\s+-f\s+(\S+)", cmd.text)
        if m:
            f = drill.env.workdir / m.group(1)
            return f.exists() and any(d and d.get("kind") == "Ingress" for d in yaml.safe_load_all(f.read_text()))
        m = re.match(r"^\s*kubectl\s+scale\s+deployment\s+(\S+)\s+--replicas=0\b", cmd.text)
        return bool(m and m.group(1) in drill.app.helm_stack)
    return which


@when(parsers.parse("the operator runs Level {n:d} with its Ingress switch-back and Helm scale-downs neutered"))
def run_level_neutered(state, n):
    drill: Drill = state["drill"]
    commands, changed = neutered(drill.runbook.level(n).commands, _switches_traffic_or_scales_down_helm(drill))
    assert len(changed) >= 2, f"nothing to neuter in Level {n}: {changed}"
    state["neutered"] = changed
    drill.decide()
    drill.rollback(n, commands)
