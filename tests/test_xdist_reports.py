"""`pytest -n N` (drills side by side): the cucumber file still holds every scenario with its steps —
pytest-bdd keeps them beside the report in the worker, and evidence/pytest_plugin.py carries them to
the controller, which writes the file — and the JUnit file still goes through the redactor."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from rollback_drill import PROJECT_ROOT

FEATURE = """\
Feature: side by side
  Scenario: one
    Given a number 1
    Then it is 1

  Scenario: two
    Given a number 2
    Then it is 3
"""

STEPS = """\
from pytest_bdd import given, parsers, scenarios, then

scenarios(FEATURE_PATH)


@given(parsers.parse("a number {n:d}"), target_fixture="number")
def a_number(n):
    return n


@then(parsers.parse("it is {n:d}"))
def it_is(number, n):
    assert number == n
"""


def test_the_cucumber_file_of_an_xdist_run_has_every_scenario_and_its_steps(tmp_path):
    (tmp_path / "side.feature").write_text(FEATURE)
    steps = STEPS.replace("FEATURE_PATH", repr(str(tmp_path / "side.feature")))  # the project's base dir is features/
    (tmp_path / "test_side.py").write_text(textwrap.dedent(steps))
    cucumber, junit = tmp_path / "cucumber.json", tmp_path / "junit.xml"
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                        f"--rootdir={tmp_path}", "-c", "pyproject.toml", f"--cucumber-json={cucumber}",
                        f"--junitxml={junit}", str(tmp_path / "test_side.py")],
                       capture_output=True, text=True, cwd=str(PROJECT_ROOT), timeout=300)
    assert p.returncode == 1 and "1 failed, 1 passed" in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]  # "two" fails
    features = json.loads(cucumber.read_text())
    scenarios = {e["name"]: e for f in features for e in f["elements"]}
    assert set(scenarios) == {"one", "two"}, features
    status = {name: [s["result"]["status"] for s in e["steps"]] for name, e in scenarios.items()}
    assert status == {"one": ["passed", "passed"], "two": ["passed", "failed"]}, status
    assert "test_side" in junit.read_text()


def test_a_value_only_a_worker_redacted_is_redacted_in_the_controllers_junit(tmp_path):
    """The controller writes the JUnit file: it must know what every worker redacted (a team's Secret a
    drill read in a worker, here a test's own value), or a failure message carries it out."""
    (tmp_path / "test_worker_secret.py").write_text(textwrap.dedent("""\
        from rollback_drill.evidence.redaction import Redactor

        def test_a_worker_reads_a_secret():
            Redactor(["w0rker-only-s3cret-v4lue"])
            assert False, "the drill saw w0rker-only-s3cret-v4lue"
        """))
    junit = tmp_path / "junit.xml"
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                        f"--rootdir={tmp_path}", "-c", "pyproject.toml", f"--junitxml={junit}",
                        str(tmp_path / "test_worker_secret.py")],
                       capture_output=True, text=True, cwd=str(PROJECT_ROOT), timeout=300)
    assert p.returncode == 1 and "1 failed" in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]
    text = junit.read_text()
    assert "the drill saw [REDACTED]" in text and "w0rker-only-s3cret-v4lue" not in text
