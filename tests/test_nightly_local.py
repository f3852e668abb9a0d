"""scripts/nightly_local.py's emulation of the runner: expressions, conditions and the cache rules
(pure parts; the whole script is run by hand, its nights recorded in the issue notes)."""

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("nightly_local", ROOT / "scripts" / "nightly_local.py")
NL = importlib.util.module_from_spec(spec)
sys.modules["nightly_local"] = NL  # dataclasses look the module up by name
spec.loader.exec_module(NL)

CTX = {"matrix.provider": "local", "matrix.part": "drills", "github.run_id": "42", "github.run_attempt": "1", "github.workspace": "/w",
       "inputs.runbook": "", "inputs.pytest-args": ""}


def test_every_expression_and_condition_of_the_workflow_is_understood():
    """The emulation refuses what it does not know: every ${{ }} and if: of the real workflow evaluates."""
    text = NL.WORKFLOW.read_text(encoding="utf-8")
    job = yaml.safe_load(text)["jobs"]["drill"]
    for expr in re.findall(r"\$\{\{(.*?)\}\}", text):
        NL.evaluate(expr, CTX)  # hashFiles reads the workspace: empty there, still understood
    for step in job["steps"]:
        NL.condition(step.get("if"), CTX, failed=False)
    assert NL.evaluate("inputs.runbook || 'fixtures/x.md'", CTX) == "fixtures/x.md"
    assert NL.evaluate("inputs.runbook || 'fixtures/x.md'", {**CTX, "inputs.runbook": "team.md"}) == "team.md"
    assert NL.substitute("history-${{ matrix.provider }}-${{ matrix.part }}-${{ github.run_id }}", CTX) == \
        "history-local-drills-42"
    with pytest.raises(SystemExit, match="does not know"):
        NL.evaluate("secrets.TOKEN", CTX)


def test_conditions_follow_success_and_always():
    assert NL.condition(None, CTX, failed=False) and not NL.condition(None, CTX, failed=True)
    assert NL.condition("always()", CTX, failed=True)
    assert NL.condition("matrix.part == 'drills'", CTX, failed=False)
    assert not NL.condition("matrix.part == 'fidelity'", CTX, failed=False)
    assert not NL.condition("matrix.part == 'drills'", CTX, failed=True)
    assert NL.condition("always() && matrix.provider == 'local'", CTX, failed=True)  # saved after a red night
    assert not NL.condition("always() && matrix.provider == 'kind'", CTX, failed=False)
    assert not NL.condition("matrix.provider == 'kind'", CTX, failed=False)  # kind's steps do not run here


def test_cache_restores_the_exact_key_else_the_newest_by_prefix_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.setattr(NL, "STORE", tmp_path / "store")
    monkeypatch.setattr(NL, "WORKSPACE", tmp_path / "ws")
    monkeypatch.setattr(NL, "sh", lambda *a, **k: None)  # no chown to a user the test machine lacks
    (tmp_path / "ws" / "reports").mkdir(parents=True)
    paths = ["reports/history.jsonl"]
    assert NL.cache_restore(paths, "history-drills-1-1", ["history-drills-"]).startswith("cache not found")
    for night, when in (("1", 100), ("2", 200)):
        (tmp_path / "ws" / "reports" / "history.jsonl").write_text(f"night {night}\n")
        assert NL.cache_save(paths, f"history-drills-{night}-1").startswith("saved")
        os.utime(NL._key_dir(f"history-drills-{night}-1"), (when, when))
    assert "exists: not saved again" in NL.cache_save(paths, "history-drills-2-1")
    (tmp_path / "ws" / "reports" / "history.jsonl").unlink()
    assert NL.cache_restore(paths, "history-drills-3-1", ["history-drills-"]) == "restored history-drills-2-1"
    assert (tmp_path / "ws" / "reports" / "history.jsonl").read_text() == "night 2\n"
    assert NL.cache_restore(paths, "history-drills-1-1", ["history-drills-"]) == "restored history-drills-1-1"


def test_quick_rewrites_and_plants_name_lines_that_exist():
    """--quick and --plant refuse at run time when their text is gone; here: they are all present now."""
    wf = NL.WORKFLOW.read_text(encoding="utf-8")
    job = yaml.safe_load(wf)["jobs"]["drill"]
    steps = {s.get("name"): s for s in job["steps"]}
    for name, (old, _) in NL.QUICK_RUN.items():
        assert old in steps[name]["run"], name
    rb = (ROOT / "fixtures" / "runbook" / "rollback-runbook.ja.md").read_text(encoding="utf-8")
    for old, _ in NL.PLANTS.values():
        assert rb.count(old) == 1
