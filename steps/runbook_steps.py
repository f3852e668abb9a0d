"""Given steps that choose the runbook a scenario drills (as written, or with one line changed)."""

from __future__ import annotations

from pytest_bdd import given, parsers

from rollback_drill import PROJECT_ROOT
from rollback_drill.runbook.model import load_runbook, parse_runbook_text


@given(parsers.parse('the runbook "{path}"'))
def the_runbook(state, path):
    state["runbook"] = load_runbook(PROJECT_ROOT / path)  # with its sidecar, as `run` reads it


@given(parsers.parse('the runbook "{path}" with the Level 1 target changed to "{target}"'))
def runbook_changed_target(state, path, target):
    p = PROJECT_ROOT / path
    text = p.read_text(encoding="utf-8").replace("**所要時間**: 1-2分", f"**所要時間**: {target}", 1)
    state["runbook"] = parse_runbook_text(text, f"{p} (Level 1 target {target})")


@given(parsers.parse('the runbook "{path}" with "{old}" changed to "{new}"'))
def runbook_changed_text(state, path, old, new):
    p = PROJECT_ROOT / path
    text = p.read_text(encoding="utf-8")
    assert old in text, f"'{old}' is not in {p}"
    state["runbook"] = parse_runbook_text(text.replace(old, new), f"{p} ('{old}' -> '{new}')")
