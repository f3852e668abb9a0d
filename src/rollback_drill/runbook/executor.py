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
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rollback_drill.evidence.redaction import Redactor
from rollback_drill.runbook.analysis import Finding
from rollback_drill.runbook.model import Command
from rollback_drill.runbook.substitutions import prepare_shims, substitute
from rollback_drill.observe.timeline import CommandRecord, Timeline

RETRY_BUDGET_S = 120.0
COMMAND_TIMEOUT_S = 900.0  # a bound on one runbook command; longer than gcloud's own 600 s wait for an operation


@dataclass
class ExecContext:
    workdir: Path
    env: dict[str, str]
    timeline: Timeline
    redactor: Redactor
    production_host: str  # the host the runbook's URLs name
    ingress_url: str
    findings: list[Finding] = field(default_factory=list)
    backup_for_restore: str | None = None  # the pre-migration backup id (runbook step 3)
    namespace: str = "mastodon"  # the default namespace of the drill's kubeconfig context
    served_host: str = ""  # the host the drilled application's Ingress routes ("": the production host)
    retry_budget_s: float = RETRY_BUDGET_S  # how long a failing check is retried
    # on the timeline: no retry starts after it (a mutation drill's latest recovery start: a check
    # passing later could not make the mutant survive)
    retry_until: float | None = None
    # why retrying a failing check cannot help ('' when it might): the drill looks at the cluster
    futile: Callable[[Command], str] | None = None
    before: Callable[[Command, str], None] | None = None  # looks at the cluster just before a command runs

    context: str = ""  # the one kubeconfig context commands may reach ("": the drill kubeconfig's only one)

    @classmethod
    def create(cls, workdir: Path, base_env: dict[str, str], timeline: Timeline, redactor: Redactor,
               production_host: str, ingress_url: str, pg_listen: str, backup_id: str | None,
               scratch: Path | None = None, standin: bool = True) -> "ExecContext":
        """`scratch`: where the harness may write (the gcloud shim); never a team's own folder.
        `standin`: the Cloud SQL stand-in first on PATH (the drill cluster); on a team's context it is
        not there at all, and `gcloud` is the team's own."""
        env = dict(base_env, ROLLBACK_DRILL_PG_LISTEN=pg_listen)
        if standin:
            shims = prepare_shims((scratch or workdir) / "shims", env["PATH"])
            env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
        return cls(workdir, env, timeline, redactor, production_host, ingress_url, backup_for_restore=backup_id)


def run_shell(ctx: ExecContext, text: str, level: int | None, line: int, original: str | None = None,
              substitution: str = "", note: str = "", timeout: float = COMMAND_TIMEOUT_S,
              rewrites: tuple[str, ...] | list[str] = ()) -> CommandRecord:
    """Run one command in bash, in its own process group: an interrupted drill (Ctrl-C, SIGTERM)
    ends the whole command at once, and a terminal's SIGINT never reaches it as a command failure."""
    start = ctx.timeline.now()
    proc = subprocess.Popen(["bash", "-c", text], cwd=ctx.workdir, env=ctx.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        code = 124
        out = f"{out or ''}\n[rollback-drill] timed out after {timeout:.0f}s"
    except BaseException:
        _kill_group(proc)
        raise
    rec = CommandRecord(level, original or text, text, line, start, ctx.timeline.now(), code,
                        ctx.redactor.redact(out or "")[-4000:], substitution, note, list(rewrites))
    ctx.timeline.commands.append(rec)
    return rec


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass


def _is_check(text: str) -> bool:
    return bool(re.match(r"^\s*kubectl\s+(exec|wait)\b", text))


def run_command(ctx: ExecContext, cmd: Command, level: int | None, step: str = "",
                timeout: float = COMMAND_TIMEOUT_S) -> CommandRecord:
    sub = substitute(cmd.text, ctx.production_host, ctx.ingress_url, ctx.namespace, ctx.served_host)
    rec = run_shell(ctx, sub.text, level, cmd.line, cmd.text, sub.note, rewrites=sub.rewrites, timeout=timeout)
    rec.step = step or (f"Level {level}" if level is not None else "")
    return rec


WATCH_INTERVAL_S = 2.0


def run_watch(ctx: ExecContext, cmd: Command, level: int | None, times: int, step: str,
              timeout: float = COMMAND_TIMEOUT_S) -> CommandRecord:
    """`watch X` never ends by itself: X runs `times` times, WATCH_INTERVAL_S apart (bounded)."""
    inner = Command(cmd.text.split(None, 1)[1] if len(cmd.text.split()) > 1 else "true", cmd.line, cmd.comment)
    rec = None
    for n in range(1, times + 1):
        rec = run_command(ctx, inner, level, step, timeout)
        rec.text = cmd.text
        rec.rewrites = [f"`watch` runs the command {times} times, {WATCH_INTERVAL_S:g} s apart (bounded), "
                        f"this is run {n}"] + rec.rewrites
        if n < times:
            time.sleep(WATCH_INTERVAL_S)
    return rec


def run_commands(ctx: ExecContext, commands: tuple[Command, ...] | list[Command], level: int | None,
                 step: str = "", retry_checks: bool = True, watch_times: int = 1,
                 timeout: float = COMMAND_TIMEOUT_S) -> list[CommandRecord]:
    """Run commands in order as the operator would. `retry_checks=False` for steps that look,
    not change (手順1, 手順5): a failing check there is recorded, not waited out."""
    records: dict[int, CommandRecord] = {}
    for i, cmd in enumerate(commands):
        if cmd.alternative_to is not None and records.get(cmd.alternative_to) and \
                records[cmd.alternative_to].exit_code == 0:
            continue  # the first form worked; its alternative is not needed
        if re.match(r"^\s*watch\s", cmd.text):
            records[i] = run_watch(ctx, cmd, level, max(1, watch_times), step, timeout)
            continue
        elsewhere = reaches_elsewhere(cmd.text, ctx.context)
        if elsewhere:
            records[i] = not_run(ctx, cmd, level, step, elsewhere)
            continue
        if ctx.before is not None:
            ctx.before(cmd, step or (f"Level {level}" if level is not None else ""))
        rec = run_command(ctx, cmd, level, step, timeout)
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
        if not retry_checks and _metrics_not_scraped_yet(cmd.text, rec.output):
            records[i] = _wait_for_metrics(ctx, cmd, level, step, rec, timeout)
            continue
        if not retry_checks:
            last = rec.output.strip().splitlines()[-1] if rec.output.strip() else ""
            ctx.findings.append(Finding(cmd.line, cmd.text, f"failed as written in {step or 'this step'} "
                                        f"(exit {rec.exit_code}: {last[:200]})", "recorded; went on with the next command"))
            continue
        _after_failure(ctx, cmd, rec, level)
    return [records[i] for i in sorted(records)]


# Options of kubectl and helm that point a command at another cluster, identity or kubeconfig.
_TARGET_FLAGS = {"--context", "--kube-context", "--kubeconfig", "--cluster", "--user", "--server", "-s", "--token",
                 "--kube-apiserver", "--kube-token", "--as", "--kube-as-user"}


def reaches_elsewhere(text: str, allowed_context: str) -> str:
    """Why a runbook command would reach another cluster than the drill's ("" when it does not): a
    `--context`/`--kubeconfig`/`--server`… option or a KUBECONFIG= assignment. The private kubeconfig
    holds one context only, but a command can name its own kubeconfig; such a command is not run."""
    import shlex
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return ""  # unbalanced quotes: bash refuses it too, and that is the runbook's finding
    for i, w in enumerate(words):
        if w.startswith("KUBECONFIG=") or (w == "export" and i + 1 < len(words)
                                            and words[i + 1].startswith("KUBECONFIG=")):
            return "it sets KUBECONFIG"
        name, _, value = w.partition("=")
        if name in _TARGET_FLAGS:
            value = value or (words[i + 1] if i + 1 < len(words) else "")
            if name in ("--context", "--kube-context") and value and value == allowed_context:
                continue
            return f"it names {name} {value}".rstrip()
    return ""


def not_run(ctx: ExecContext, cmd: Command, level: int | None, step: str, why: str) -> CommandRecord:
    """A command the harness refuses to run as written: recorded (exit 126, output empty) and a finding."""
    now = ctx.timeline.now()
    rec = CommandRecord(level, cmd.text, "", cmd.line, now, now, 126, "", "",
                        f"not run: {why}, which may reach a cluster other than the drill's allowed context")
    rec.step = step or (f"Level {level}" if level is not None else "")
    ctx.timeline.commands.append(rec)
    ctx.findings.append(Finding(cmd.line, cmd.text, f"not run: {why} (another cluster or kubeconfig than the "
                                "drill's)", "the command acts on the operator's current context only when it names "
                                "none; remove the option, or run the drill with that context allow-listed",
                                kind="foreign_target", severity="high"))
    return rec


METRICS_WAIT_S = 75.0  # metrics-server scrapes every 60 s by default (--metric-resolution), plus its start


def _metrics_not_scraped_yet(text: str, output: str) -> bool:
    """`kubectl top` right after pods were replaced: metrics-server has not scraped them yet. In
    production it has long since; on the drill cluster this is the drill's own timing, not the
    runbook's defect."""
    return bool(re.match(r"^\s*kubectl\s+top\b", text)) and "metrics not available yet" in output


def _wait_for_metrics(ctx: ExecContext, cmd: Command, level: int | None, step: str, first: CommandRecord,
                      timeout: float) -> CommandRecord:
    """Run `kubectl top` again until metrics-server has scraped the new pods (bounded); if it never
    has, the command's check is recorded as not checked — never as the runbook's failure, never as OK."""
    deadline = time.monotonic() + METRICS_WAIT_S
    rec, tries = first, 1
    while time.monotonic() < deadline:
        time.sleep(5.0)
        tries += 1
        rec = run_command(ctx, cmd, level, step, timeout)
        if rec.exit_code == 0:
            rec.note = (f"try {tries}: the drill cluster's metrics-server had not scraped the new pods yet "
                        f"(production's has); waited, not a runbook finding")
            return rec
    rec.note = (f"not checked: metrics-server had no metrics for the new pods after {METRICS_WAIT_S:.0f} s "
                f"({tries} tries) — the drill cluster's timing, not the runbook's defect")
    return rec


def _after_failure(ctx: ExecContext, cmd: Command, rec: CommandRecord, level: int | None) -> None:
    last_line = rec.output.strip().splitlines()[-1] if rec.output.strip() else ""
    if _is_check(cmd.text):
        deadline = time.monotonic() + ctx.retry_budget_s
        if ctx.retry_until is not None:
            deadline = min(deadline, ctx.timeline.t0 + ctx.retry_until)
        tries = 1
        while time.monotonic() < deadline:
            hopeless = ctx.futile(cmd) if ctx.futile is not None else ""
            if hopeless:
                ctx.findings.append(Finding(cmd.line, cmd.text, f"failed as written and on {tries} tries: "
                                            f"{last_line[:160]}", f"not retried further: {hopeless}"))
                return
            time.sleep(2.0)
            tries += 1
            retry = run_command(ctx, cmd, level, rec.step)
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
        _restore_as_meant(ctx, cmd, rec, level, last_line)
        return
    ctx.findings.append(Finding(cmd.line, cmd.text, f"failed as written (exit {rec.exit_code}: {last_line[:200]})",
                                "recorded; went on with the next command"))


def restore_defects(text: str) -> list[tuple[str, str]]:
    """Argument defects of a `gcloud sql backups restore` as written (placeholders and example values
    are the analysis' own class: runbook/analysis.py)."""
    if not any(a.startswith("--restore-instance") for a in text.split()):
        return [("no --restore-instance: gcloud requires the instance to restore into",
                 "add --restore-instance=<the Cloud SQL instance>")]
    return []


def _restore_as_meant(ctx: ExecContext, cmd: Command, rec: CommandRecord, level: int | None, last_line: str) -> None:
    """The restore the runbook means: the pre-migration backup (step 3) into the instance, with the
    arguments gcloud requires. `text` stays as written; every rewrite is listed on the record."""
    import shlex

    from rollback_drill.untrusted import Untrusted, backup_id
    args = cmd.text.split()
    try:  # read from the backups' metadata: never pasted into a shell unchecked
        bid = backup_id(ctx.backup_for_restore, "the pre-migration backup's metadata")
    except Untrusted as e:
        ctx.findings.append(Finding(cmd.line, cmd.text, f"rejected as written (exit {rec.exit_code}: "
                                    f"{last_line[:200]})", f"the restore the runbook means was not run: {e}"))
        return
    fixed = (f"gcloud sql backups restore {shlex.quote(bid)} --restore-instance=mastodon-db "
             f"--backup-instance=mastodon-db")
    rewrites = [f"backup ID {args[4] if len(args) > 4 else '(none)'} -> {ctx.backup_for_restore}: the backup "
                f"taken just before the migration (description 'pre-helm-migration'), as step 3 "
                f"(移行直前のバックアップを特定) asks",
                "added --restore-instance=mastodon-db (required by gcloud; the instance the runbook names)"]
    rewrites += [f"dropped {a} (placeholder; the stand-in's project is the drill's)" for a in args
                 if a.startswith("--project") and re.search(r"YOUR_[A-Z_]+|<[^>]+>", a)]
    rewrites.append("`gcloud` is the drill's Cloud SQL stand-in (first on PATH), not Google Cloud")
    r2 = run_shell(ctx, fixed, level, cmd.line, cmd.text, "gcloud -> Cloud SQL stand-in over the drill's PostgreSQL",
                   "correction: the restore the runbook means, after the command failed as written",
                   rewrites=rewrites)
    ctx.findings.append(Finding(cmd.line, cmd.text, f"rejected as written (exit {rec.exit_code}: {last_line[:200]})",
                                f"ran the restore the runbook means: '{fixed}' -> exit {r2.exit_code}"))
    for problem, action in restore_defects(cmd.text):
        ctx.findings.append(Finding(cmd.line, cmd.text, problem, action))
