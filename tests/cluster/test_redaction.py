"""Secrets never reach evidence: run the runbook's own troubleshooting commands that print them."""

from rollback_drill.sut.deploy import LOCAL
from rollback_drill.evidence.journal import Journal, Redactor
from rollback_drill.evidence.report import finish_run
from rollback_drill.runbook.executor import ExecContext, run_commands
from rollback_drill.runbook.model import load_runbook
from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.observe.timeline import Timeline


def test_runbook_commands_printing_secrets_are_redacted_everywhere(deployed, tmp_path):
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
    block = text[text.index("### 問題: Redis接続エラー"):text.index("# Redis接続をテスト")]
    cmds = [ln for ln in block.splitlines() if ln.startswith("kubectl get secret")]
    assert len(cmds) == 2  # the runbook really prints REDIS_HOST and REDIS_PASSWORD
    cmds.append("kubectl get secret mastodon -o yaml")
    secrets = deployed.secret_values()
    tl = Timeline()
    ctx = ExecContext.create(deployed.workdir, deployed.kube.env(), tl, Redactor(secrets), LOCAL.host,
                             deployed.ingress_url, "127.0.0.1", None)
    from rollback_drill.runbook.model import Command
    recs = run_commands(ctx, [Command(c, i) for i, c in enumerate(cmds)], None)
    assert all(r.exit_code == 0 for r in recs), [(r.text, r.output) for r in recs]
    assert "[REDACTED]" in recs[1].output  # the password line itself
    rb = load_runbook(DEFAULT_RUNBOOK)
    j = Journal(tmp_path / "run", {"runbook": {"path": rb.path, "sha256": rb.sha256}}, Redactor(secrets))
    j.add_scenario({"name": "secrets", "timeline": tl.to_dict()})
    finish_run(j, history=tmp_path / "history.jsonl")
    for f in (tmp_path / "run").iterdir():
        content = f.read_text(errors="replace")
        for s in secrets:
            assert s not in content, f"secret reached {f.name}"
