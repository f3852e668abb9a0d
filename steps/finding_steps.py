"""Then steps on the runbook's findings: the commands that did not work as written, and why."""

from __future__ import annotations

from pytest_bdd import parsers, then

from rollback_drill.sut.deploy import PRE_MIGRATION_VERSION
from rollback_drill.drill.engine import Drill


@then(parsers.parse('the runbook command "{command}" is reported as a finding'))
def command_is_finding(state, command):
    findings = state["drill"].ctx.findings
    assert any(f.command == command for f in findings), [f.command for f in findings]


@then(parsers.parse('the runbook\'s findings include "{classes}", each with its line and what was observed'))
def findings_include(state, classes):
    drill: Drill = state["drill"]
    found = {f.kind for f in drill.ctx.findings}
    wanted = {c.strip() for c in classes.split(",")}
    assert wanted <= found, f"missing classes {wanted - found}; found {sorted(found)}"
    assert all(f.line > 0 and f.observed for f in drill.ctx.findings if f.kind in wanted)


@then("the runbook's restore command is reported as a finding")
def restore_finding(state):
    findings = state["drill"].ctx.findings
    assert any(f.command.startswith("gcloud sql backups restore") and "restore-instance" in f.problem
               for f in findings), [f.to_dict() for f in findings]


@then("each defect of the restore command is its own finding and every rewrite is listed")
def restore_defects_and_rewrites(state):
    drill: Drill = state["drill"]
    restore = [f for f in drill.ctx.findings if f.command.startswith("gcloud sql backups restore")]
    problems = " | ".join(f.problem for f in restore)
    for defect in ("rejected as written", "--restore-instance", "placeholder left in the command: YOUR_PROJECT_ID",
                   "the example value 1234567890123"):
        assert defect in problems, f"'{defect}' not among the restore's findings: {problems}"
    ran = [c for c in drill.tl.commands if c.text.startswith("gcloud sql backups restore") and c.exit_code == 0]
    assert ran and ran[-1].text == next(c.text for c in drill.runbook.level(3).commands if "restore" in c.text)
    rewrites = " | ".join(ran[-1].rewrites)
    assert "backup ID 1234567890123 ->" in rewrites and "--restore-instance" in rewrites and "YOUR_PROJECT_ID" in rewrites


@then("the schema is back at the pre-migration version")
def schema_back(state):
    cmds = [c for c in state["drill"].tl.commands if c.text.endswith("bundle exec rails db:version") and c.exit_code == 0]
    assert cmds and f"Current version: {PRE_MIGRATION_VERSION}" in cmds[-1].output, \
        [(c.exit_code, c.output[-200:]) for c in state["drill"].tl.commands if "db:version" in c.text]


@then("the writes made after the backup are reported as lost")
def writes_lost(state):
    data = state["drill"].data
    assert data.get("statuses_lost", 0) > 0, data
