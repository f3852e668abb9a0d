"""The nightly workflow, walked step by step: actionlint passes, every action is pinned by commit,
every script and path a `run:` step names exists in the repository, every tool it calls is on a
GitHub runner or installed by an earlier step, and it does what the nightly drill needs."""

import re
import shlex
import subprocess

import yaml

from rollback_drill import PROJECT_ROOT
from rollback_drill.settings import cache_dir

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "nightly-drill.yml"
# on every ubuntu-24.04 runner image (documented software), or shell builtins
RUNNER = {"sudo", "python", "go", "docker", "bash", "grep", "cat", "echo", "mkdir", "exit", "for", "do", "done", "if",
          "then", "fi", "[", "code=0", "apt-get", "true", "chown", "id", "||"}
# what an earlier step provides: the action or the command that installs it
PROVIDED_BY = {"helm": "azure/setup-helm", "kind": "helm/kind-action", ".venv/bin/pip": "python -m venv .venv",
               ".venv/bin/rollback-drill": ".venv/bin/pip install", ".venv/bin/pytest": ".venv/bin/pip install",
               ".venv/bin/python": "python -m venv .venv", "actionlint": "go install github.com/rhysd/actionlint",
               "debootstrap": "apt-get install", "psql": "postgresql-client"}


def _steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["drill"]["steps"]


def _commands(run: str) -> list[list[str]]:
    """Each shell command of a run block, as words (`sudo -E env PATH=…` dropped)."""
    out = []
    for line in run.replace("\\\n", " ").splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"\|\||&&|;|\|", line):
            try:
                words = shlex.split(part.replace("${{", "").replace("}}", ""))
            except ValueError:
                words = part.split()
            while words and (words[0] in ("sudo", "-E", "env", "then", "do", "if", "!")
                             or re.fullmatch(r"[A-Z_]+=.*", words[0])):
                words = words[1:]
            if words:
                out.append(words)
    return out


def test_actionlint_passes():
    actionlint = cache_dir() / "tools" / "actionlint"
    assert actionlint.exists(), f"{actionlint} is missing: run 'bash scripts/setup.sh'"
    p = subprocess.run([str(actionlint), str(WORKFLOW)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_every_action_is_pinned_by_commit():
    uses = [s["uses"] for s in _steps() if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w.-]+)?@[0-9a-f]{40}", u) for u in uses), uses


def test_every_script_and_path_a_step_runs_exists_in_the_repository():
    for step in _steps():
        for words in _commands(step.get("run", "")):
            for w in words:
                if re.fullmatch(r"(bench|scripts|steps|tests|cluster|fixtures)/[\w./-]+\.(py|sh)", w):
                    assert (PROJECT_ROOT / w).exists(), f"step {step.get('name')!r} runs {w}, which does not exist"


def test_every_tool_is_on_the_runner_or_installed_by_an_earlier_step():
    seen = ""
    for step in _steps():
        seen += " " + step.get("uses", "")
        for words in _commands(step.get("run", "")):
            tool = words[0]
            if not (tool in RUNNER or "=" in tool or tool.startswith("$")):
                need = PROVIDED_BY.get(tool)
                assert need, f"step {step.get('name')!r} calls {tool!r}: nothing installs it"
                assert need in seen, f"step {step.get('name')!r} calls {tool!r} before {need!r} provides it"
            seen += " " + " ".join(words)


def test_scheduled_and_manual_on_kind_and_local_with_history_artifacts_summary_and_cleanup():
    wf = yaml.safe_load(WORKFLOW.read_text())
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as true
    assert "schedule" in on and "workflow_dispatch" in on
    job = wf["jobs"]["drill"]
    matrix = job["strategy"]["matrix"]
    assert set(matrix["provider"]) == {"kind", "local"} and set(matrix["part"]) == {"drills", "monitoring", "fidelity"}
    assert job["timeout-minutes"] <= 60  # each job stays under an hour
    assert job["env"]["ROLLBACK_DRILL_PROVIDER"] == "${{ matrix.provider }}"
    steps = _steps()
    text = WORKFLOW.read_text()
    kind = next(s for s in steps if s.get("uses", "").startswith("helm/kind-action"))
    assert kind["if"] == "matrix.provider == 'kind'" and '--provider "$ROLLBACK_DRILL_PROVIDER"' in text
    build = [s for s in steps if "k8s-local-" in str(s.get("with", {}).get("key", ""))]
    assert [s["uses"].split("@")[0] for s in build] == ["actions/cache/restore", "actions/cache/save"]
    assert build[0]["with"]["path"] == build[1]["with"]["path"] == ".cache/rollback-drill/bin"
    assert build[1]["if"] == "always() && matrix.provider == 'local'"  # the build is kept after a red night
    parts = {s.get("if", "").removeprefix("matrix.part == ").strip("'") for s in steps if "matrix.part" in s.get("if", "")}
    assert parts == {"drills", "monitoring", "fidelity"}  # every job has work
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save"))
    assert "matrix.provider" in restore["with"]["key"] and "matrix.part" in restore["with"]["key"]
    assert restore["with"]["path"] == save["with"]["path"] and "reports/nightly-history.jsonl" in save["with"]["path"]
    assert save["if"] == "always()" and "run_attempt" in save["with"]["key"]  # a red night and a re-run are history
    assert any(s.get("uses", "").startswith("actions/upload-artifact") and s["with"]["path"] == "reports/"
               for s in steps)
    assert "GITHUB_STEP_SUMMARY" in text and "rollback-drill gate" in text
    drills = next(s for s in steps if s.get("name") == "Drills")
    assert "pytest" in drills["run"] and "not after_down" in drills["run"]
    assert "test_fidelity.py" in next(s for s in steps if "gke profile" in s.get("name", ""))["run"]
    down = next(s for s in steps if s.get("name", "").startswith("Cluster down"))
    assert down["if"] == "always()" and "after_down" in down["run"]


def test_no_expression_of_user_input_inside_a_run_script():
    for step in _steps():
        assert "inputs." not in step.get("run", ""), f"step {step.get('name')!r} pastes an input into its script"


def test_sudo_keeps_the_path_the_setup_actions_added():
    for step in _steps():
        for line in step.get("run", "").splitlines():
            if "sudo -E" in line:
                assert 'sudo -E env "PATH=$PATH"' in line, line


def test_the_kind_node_image_is_pinned_by_digest():
    cfg = yaml.safe_load((PROJECT_ROOT / "cluster" / "kind" / "kind-config.yaml").read_text())
    assert all(re.fullmatch(r"kindest/node:v[\d.]+@sha256:[0-9a-f]{64}", n["image"]) for n in cfg["nodes"])
