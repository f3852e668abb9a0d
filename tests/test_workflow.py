"""The nightly workflow: linted with actionlint, and it does what the nightly drill needs."""

import subprocess

import yaml

from rollback_drill import PROJECT_ROOT
from rollback_drill.settings import cache_dir

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "nightly-drill.yml"


def test_actionlint_passes():
    actionlint = cache_dir() / "tools" / "actionlint"
    assert actionlint.exists(), f"{actionlint} is missing: run 'bash scripts/setup.sh'"
    p = subprocess.run([str(actionlint), str(WORKFLOW)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_scheduled_and_manual_with_kind_artifacts_and_summary():
    wf = yaml.safe_load(WORKFLOW.read_text())
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as true
    assert "schedule" in on and "workflow_dispatch" in on
    steps = wf["jobs"]["drill"]["steps"]
    text = WORKFLOW.read_text()
    assert any(s.get("uses", "").startswith("helm/kind-action") for s in steps)
    assert any(s.get("uses", "").startswith("actions/upload-artifact") and s["with"]["path"] == "reports/"
               for s in steps)
    assert "GITHUB_STEP_SUMMARY" in text and "--provider kind" in text
    drills = next(s for s in steps if s.get("name") == "Drills")
    assert "pytest" in drills["run"] and "if" not in drills  # a failed drill (missed target) fails the job
