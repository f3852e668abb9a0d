"""The executor on real bash: alternatives, grep-without-match, findings, substitutions, gcloud rules."""

import os

import pytest

from rollback_drill.sut import cloudsql
from rollback_drill.evidence.journal import Redactor
from rollback_drill.runbook.executor import ExecContext, run_commands
from rollback_drill.runbook.model import parse_commands
from rollback_drill.runbook.substitutions import substitute
from rollback_drill.observe.timeline import Timeline


def _ctx(tmp_path, secrets=()):
    return ExecContext.create(tmp_path, dict(os.environ), Timeline(), Redactor(list(secrets)), "ykzts.technology",
                              "http://127.0.0.1:8088", "127.0.0.1", None)


def _cmds(text):
    return parse_commands([(i + 1, line) for i, line in enumerate(text.splitlines())])[0]


def test_alternative_runs_only_when_the_first_form_fails(tmp_path):
    ctx = _ctx(tmp_path)
    recs = run_commands(ctx, _cmds("# remove\nfalse\n\n# または other name\necho second\n"), 2)
    assert [(r.text, r.exit_code) for r in recs] == [("false", 1), ("echo second", 0)]
    assert "alternative" in recs[0].note and ctx.findings == []
    recs = run_commands(_ctx(tmp_path), _cmds("true\n\n# または\necho skipped\n"), 2)
    assert [r.text for r in recs] == ["true"]


def test_failures_are_findings_and_the_level_goes_on(tmp_path):
    ctx = _ctx(tmp_path)
    recs = run_commands(ctx, _cmds("sh -c 'echo boom >&2; exit 3'\necho after\n"), 1)
    assert [r.exit_code for r in recs] == [3, 0]
    assert len(ctx.findings) == 1 and "exit 3: boom" in ctx.findings[0].problem


def test_grep_without_match_is_the_wanted_outcome(tmp_path):
    ctx = _ctx(tmp_path)
    recs = run_commands(ctx, _cmds("echo all fine | grep -i error\n"), None)
    assert recs[0].exit_code == 1 and "matched nothing" in recs[0].note and ctx.findings == []


def test_output_is_redacted(tmp_path):
    ctx = _ctx(tmp_path, ["hunter2-password"])
    recs = run_commands(ctx, _cmds("echo REDIS_PASSWORD=hunter2-password\n"), None)
    assert "hunter2-password" not in recs[0].output and "[REDACTED]" in recs[0].output


def test_curl_to_the_production_host_goes_to_the_local_ingress():
    s = substitute("curl -I https://ykzts.technology/health", "ykzts.technology", "http://127.0.0.1:8088")
    assert s.text == "curl -sS -H 'Host: ykzts.technology' -I http://127.0.0.1:8088/health"
    assert "127.0.0.1:8088" in s.note
    assert substitute("kubectl get pods", "ykzts.technology", "http://x").note == ""


@pytest.mark.parametrize("argv,code,msg", [
    (["sql", "backups", "restore", "1234567890123", "--backup-instance=mastodon-db", "--project=YOUR_PROJECT_ID"],
     1, "not the project name [YOUR_PROJECT_ID]"),
    (["sql", "backups", "restore", "123", "--backup-instance=mastodon-db", "--project=my-proj"],
     2, "argument --restore-instance: Must be specified."),
    (["sql", "operations", "list", "--limit=1"], 2, "argument --instance: Must be specified."),
    (["sql", "operations", "list", "--instance=mastodon-db", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["sql", "instances", "list"], 2, "does not implement"),
    (["sql", "backups", "list", "--instance=mastodon-db", "--project=my-proj"], 1, "HTTPError 403"),
])
def test_gcloud_standin_rejects_what_gcloud_rejects(argv, code, msg, capsys):
    assert cloudsql.main(argv) == code
    assert msg in capsys.readouterr().err


def test_a_check_that_cannot_pass_by_waiting_is_not_retried(tmp_path):
    """A failing check is retried (the runbook implies waiting) unless the drill says waiting cannot help:
    then one try, and the finding says why (runbook/executor.py `futile`, drill/engine.py `_futile_wait`)."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "kubectl").write_text("#!/bin/sh\necho 'error: no matching resources found' >&2\nexit 1\n")
    (shim / "kubectl").chmod(0o755)
    ctx = _ctx(tmp_path)
    ctx.env["PATH"] = f"{shim}:{ctx.env['PATH']}"
    asked = []
    ctx.futile = lambda cmd: asked.append(cmd.text) or "no pod matches app=web and nothing will create one"
    recs = run_commands(ctx, _cmds("kubectl wait --for=condition=ready pod -l app=web --timeout=60s\n"), 1)
    assert len(recs) == 1 and recs[0].exit_code == 1 and asked
    f = ctx.findings[-1]
    assert f.kind == "failed" and f.action == "not retried further: no pod matches app=web and nothing will create one"
