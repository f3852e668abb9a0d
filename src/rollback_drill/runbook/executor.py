"""The executor: runs a runbook level's commands in order, verbatim, against the drill cluster.

Each command runs in bash in a working directory holding the fixtures the runbook names
(`backup/…`, `k8s/overlays/production`), with KUBECONFIG of the drill and the cluster's kubectl
and helm first on PATH. It records start, end, exit code and redacted output.

What the runbook implies when a command fails:
- an "または" alternative follows → run the alternative; the first failing is expected;
- a `kubectl exec`/`kubectl wait` check failed because pods are not up yet → a finding (the
  runbook lacks a wait), then retried until it passes or its budget runs out;
- `gcloud sql backups restore` rejected → a finding, then the restore the runbook means (step
  3: the pre-migration backup) with the arguments gcloud requires;
- anything else → a finding; the level goes on, as an operator following the page would.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rollback_drill.evidence.journal import Redactor
from rollback_drill.runbook.model import Command
from rollback_drill.runbook.substitutions import prepare_shims, substitute
from rollback_drill.observe.timeline import CommandRecord, Timeline

RETRY_BUDGET_S = 120.0


@dataclass
class Finding:
    line: int
    command: str
    problem: str
    action: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class ExecContext:
    workdir: Path
    env: dict[str, str]
    timeline: Timeline
    redactor: Redactor
    production_host: str
    ingress_url: str
    findings: list[Finding] = field(default_factory=list)
    backup_for_restore: str | None = None  # the pre-migration backup id (runbook step 3)

    @classmethod
    def create(cls, workdir: Path, base_env: dict[str, str], timeline: Timeline, redactor: Redactor,
               production_host: str, ingress_url: str, pg_listen: str, backup_id: str | None) -> "ExecContext":
        shims = prepare_shims(workdir / "shims")
        env = dict(base_env, ROLLBACK_DRILL_PG_LISTEN=pg_listen)
        env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
        return cls(workdir, env, timeline, redactor, production_host, ingress_url, backup_for_restore=backup_id)


def run_shell(ctx: ExecContext, text: str, level: int | None, line: int, original: str | None = None,
              substitution: str = "", note: str = "", timeout: float = 600.0) -> CommandRecord:
    start = ctx.timeline.now()
    try:
        p = subprocess.run(["bash", "-c", text], cwd=ctx.workdir, env=ctx.env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        code, out = p.returncode, (p.stdout + p.stderr)
    except subprocess.TimeoutExpired as e:
        code = 124
        out = f"{(e.stdout or b'')!s}{(e.stderr or b'')!s}\n[rollback-drill] timed out after {timeout:.0f}s"
    rec = CommandRecord(level, original or text, text, line, start, ctx.timeline.now(), code,
                        ctx.redactor.redact(out[-4000:]), substitution, note)
    ctx.timeline.commands.append(rec)
    return rec


def _is_check(text: str) -> bool:
    return bool(re.match(r"^\s*kubectl\s+(exec|wait)\b", text))


def run_command(ctx: ExecContext, cmd: Command, level: int | None) -> CommandRecord:
    sub = substitute(cmd.text, ctx.production_host, ctx.ingress_url)
    return run_shell(ctx, sub.text, level, cmd.line, cmd.text, sub.note)


def run_commands(ctx: ExecContext, commands: tuple[Command, ...] | list[Command], level: int | None) -> list[CommandRecord]:
    records: dict[int, CommandRecord] = {}
    for i, cmd in enumerate(commands):
        if cmd.alternative_to is not None and records.get(cmd.alternative_to) and \
                records[cmd.alternative_to].exit_code == 0:
            continue  # the first form worked; its alternative is not needed
        rec = run_command(ctx, cmd, level)
        records[i] = rec
        if rec.exit_code == 1 and re.search(r"\|\s*grep\b[^|]*$", cmd.text) and not rec.output.strip():
            rec.note = "grep matched nothing (exit 1): no matching lines, which is what this check wants"
            continue
        if rec.exit_code == 0:
            continue
        has_alternative = i + 1 < len(commands) and commands[i + 1].alternative_to == i
        if has_alternative:
            rec.note = "failed as written; the runbook's alternative (または) follows"
            continue
        if cmd.alternative_to is not None and records.get(cmd.alternative_to):
            ctx.findings.append(Finding(cmd.line, cmd.text, f"neither form worked (exit {rec.exit_code})",
                                        "went on with the next command"))
            continue
        _after_failure(ctx, cmd, rec, level)
    return [records[i] for i in sorted(records)]


def _after_failure(ctx: ExecContext, cmd: Command, rec: CommandRecord, level: int | None) -> None:
    last_line = rec.output.strip().splitlines()[-1] if rec.output.strip() else ""
    if _is_check(cmd.text):
        deadline = time.monotonic() + RETRY_BUDGET_S
        tries = 1
        while time.monotonic() < deadline:
            time.sleep(2.0)
            tries += 1
            retry = run_command(ctx, cmd, level)
            retry.note = f"retry {tries}: the runbook implies waiting until the check passes"
            if retry.exit_code == 0:
                ctx.findings.append(Finding(cmd.line, cmd.text,
                                            f"failed as written (exit {rec.exit_code}: {last_line[:160]})",
                                            f"passed on retry {tries}: the runbook should wait before this check"))
                return
        ctx.findings.append(Finding(cmd.line, cmd.text, f"failed as written and on {tries} tries: {last_line[:160]}",
                                    "gave up after the retry budget"))
        return
    m = re.match(r"^\s*gcloud\s+sql\s+backups\s+restore\b", cmd.text)
    if m and ctx.backup_for_restore:
        fixed = (f"gcloud sql backups restore {ctx.backup_for_restore} --restore-instance=mastodon-db "
                 f"--backup-instance=mastodon-db")
        r2 = run_shell(ctx, fixed, level, cmd.line, fixed,
                       "gcloud -> Cloud SQL stand-in over the drill's PostgreSQL",
                       "correction: the pre-migration backup (step 3) and the --restore-instance gcloud requires")
        ctx.findings.append(Finding(cmd.line, cmd.text, f"rejected as written (exit {rec.exit_code}: {last_line[:200]})",
                                    f"ran the restore the runbook means: '{fixed}' -> exit {r2.exit_code}"))
        return
    ctx.findings.append(Finding(cmd.line, cmd.text, f"failed as written (exit {rec.exit_code}: {last_line[:200]})",
                                "recorded; went on with the next command"))
