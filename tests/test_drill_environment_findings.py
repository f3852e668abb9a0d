"""A command that fails because of the drill's own environment is not the runbook's defect (issue 22):
`kubectl top` before the drill cluster's metrics-server scraped the new pods is waited for, then said
"not checked" — never a finding, never OK."""

from __future__ import annotations

import os

from rollback_drill.evidence.redaction import Redactor
from rollback_drill.observe.timeline import Timeline
from rollback_drill.runbook import executor
from rollback_drill.runbook.model import Command


def _ctx(tmp_path, succeed_after: int):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(
        "#!/bin/sh\nn=$(cat %s/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s/n\n"
        "if [ $n -ge %d ]; then echo 'NAME CPU MEMORY'; echo 'web-1 3m 60Mi'; exit 0; fi\n"
        "echo 'error: metrics not available yet' >&2; exit 1\n" % (tmp_path, tmp_path, succeed_after))
    (bin_dir / "kubectl").chmod(0o755)
    return executor.ExecContext(tmp_path, {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, Timeline(),
                                Redactor(), "h", "http://127.0.0.1:1")


def test_kubectl_top_before_metrics_are_scraped_is_waited_for_not_a_finding(tmp_path, monkeypatch):
    monkeypatch.setattr(executor.time, "sleep", lambda s: None)
    ctx = _ctx(tmp_path, succeed_after=3)
    (rec,) = executor.run_commands(ctx, [Command("kubectl top pods", 180)], None, "手順5", retry_checks=False)
    assert rec.exit_code == 0 and "not a runbook finding" in rec.note and ctx.findings == []


def test_metrics_that_never_come_are_not_checked_not_a_finding(tmp_path, monkeypatch):
    monkeypatch.setattr(executor.time, "sleep", lambda s: None)
    monkeypatch.setattr(executor, "METRICS_WAIT_S", 0.5)
    ctx = _ctx(tmp_path, succeed_after=10_000)
    (rec,) = executor.run_commands(ctx, [Command("kubectl top pods", 180)], None, "手順5", retry_checks=False)
    assert rec.exit_code != 0 and rec.note.startswith("not checked") and ctx.findings == []


def test_other_failures_in_a_look_step_are_still_findings(tmp_path):
    ctx = _ctx(tmp_path, succeed_after=10_000)
    executor.run_commands(ctx, [Command("kubectl get pods --no-such-flag; false", 181)], None, "手順5",
                          retry_checks=False)
    assert [f.line for f in ctx.findings] == [181]
