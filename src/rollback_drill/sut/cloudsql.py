"""A Cloud SQL stand-in for the runbook's `gcloud sql backups|operations` commands.

It is part of the emulated environment, beside the PostgreSQL it fronts (sut/datastores.py), not
of reading a runbook: runbook/substitutions.py only writes the `gcloud` shim that routes
`gcloud … sql …` here (`python -m rollback_drill.sut.cloudsql`).

Why: the drill's database is a real PostgreSQL, not Cloud SQL, yet the runbook's Level 3 must
run as written. For `sql backups list|restore` and `sql operations list` the stand-in's parser
follows gcloud 528's (checked against the real CLI by tests/test_gcloud_differential.py):
required flags and the positional ID, typed values (--limit, --page-size, --timeout), no flag
abbreviations, unknown flags and extra arguments rejected with gcloud's `argument ...` /
`unrecognized arguments` errors and exit code 2. `--project` is checked the moment the parser
reads it, as gcloud's property validator does: a value that is not a project ID answers gcloud's
own wording with exit code 1. As in gcloud 528, `sql backups list` needs no --instance (then,
as with `--instance=-`, it lists every backup); `--format=json` is honoured for the two lists.

After parsing, API-level failures (unknown backup, project or instance; the drill's PostgreSQL
not reachable) answer like the API would, exit code 1. Flags gcloud accepts but the stand-in
cannot honour (e.g. --filter, --async, the restore-to-new-instance settings; their values are
not checked beyond their shape) are refused after parsing with exit code 1 and a message saying
so. Anything outside these three commands, or with global flags before the command, is refused
(exit code 2): the stand-in never pretends.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone

from rollback_drill.sut.datastores import DB_NAME, INSTANCE, PG_PORT, DatastoreError, Datastores

PROJECT = os.environ.get("ROLLBACK_DRILL_GCP_PROJECT", "rollback-drill")
COMMANDS = ("sql backups list", "sql backups restore", "sql operations list")

# gcloud's core/properties.py (_VALID_PROJECT_REGEX, _LooksLikeAProjectName), copied from 528.
_VALID_PROJECT = re.compile(r"^(?:(?:[-a-z0-9]{1,63}\.)*(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?):)?"
                            r"(?:(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?))$")

# Flags gcloud accepts on every command that the stand-in does not honour (--quiet, --format,
# --verbosity, --log-http are handled below).
_WIDE_VALUE_UNSUPPORTED = ("--access-token-file", "--account", "--billing-project", "--configuration",
                           "--flags-file", "--flatten", "--impersonate-service-account", "--trace-token")
# `gcloud sql backups restore --help` (528): settings for restoring into a new instance.
_RESTORE_VALUE_UNSUPPORTED = (
    "--activation-policy", "--active-directory-domain", "--audit-bucket-path", "--audit-retention-interval",
    "--audit-upload-interval", "--authorized-networks", "--availability-type", "--backup-location",
    "--backup-start-time", "--collation", "--connector-enforcement", "--cpu", "--database-version",
    "--deny-maintenance-period-end-date", "--deny-maintenance-period-start-date", "--deny-maintenance-period-time",
    "--edition", "--insights-config-query-plans-per-minute", "--insights-config-query-string-length",
    "--maintenance-release-channel", "--maintenance-window-day", "--maintenance-window-hour", "--memory",
    "--network", "--retained-backups-count", "--retained-transaction-log-days", "--ssl-mode",
    "--storage-provisioned-iops", "--storage-provisioned-throughput", "--storage-size", "--storage-type",
    "--time-zone", "--allowed-psc-projects", "--disk-encryption-key", "--disk-encryption-key-keyring",
    "--disk-encryption-key-location", "--disk-encryption-key-project", "--region", "--gce-zone",
    "--secondary-zone", "--zone")
_RESTORE_BOOL_UNSUPPORTED = (
    "--assign-ip", "--backup", "--deletion-protection", "--enable-bin-log", "--enable-google-private-path",
    "--enable-point-in-time-recovery", "--insights-config-query-insights-enabled",
    "--insights-config-record-application-tags", "--insights-config-record-client-address", "--require-ssl",
    "--storage-auto-increase", "--enable-private-service-connect")


_SET_PROJECT_HELP = ("To set your project, run:\n\n  $ gcloud config set project PROJECT_ID\n\n"
                     "or to unset it, run:\n\n  $ gcloud config unset project")


class GcloudUsage(Exception):
    pass


class GcloudProject(Exception):
    pass


def validate_project(project: str) -> None:
    """gcloud's ProjectValidator: raise GcloudProject with its wording (the empty string means unset)."""
    if project == "" or _VALID_PROJECT.match(project):
        return
    if re.match(r"[-0-9A-Z]", project[0]) or any(c in project for c in ' !"\''):
        raise GcloudProject(f"The project property must be set to a valid project ID, not the project name [{project}]")
    raise GcloudProject(f"The project property must be set to a valid project ID, [{project}] is not a valid "
                        f"project ID.")


class _ProjectAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        validate_project(values)  # while parsing, in argument order, as gcloud's property flag does
        setattr(namespace, self.dest, values)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # gcloud's style, exit code 2
        missing = re.match(r"the following arguments are required: (.*)", message)
        if missing:
            names = re.sub(r"/-\w\b", "", missing.group(1)).split(", ")  # gcloud names the long form only
            message = f"argument {' '.join(names)}: Must be specified."
        raise GcloudUsage(message)


def _bounded_int(lower: int, unlimited: bool):
    """gcloud's arg_parsers.BoundedInt: its messages; 'unlimited' → None where allowed."""
    def convert(value: str):
        if unlimited and value == "unlimited":
            return None
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"Value must be an integer; received: {value}") from None
        if n < lower:
            raise argparse.ArgumentTypeError(f"Value must be greater than or equal to {lower}; received: {value}")
        return n
    return convert


def _parser(command: str) -> _Parser:
    p = _Parser(prog=f"gcloud {command}", add_help=False, allow_abbrev=False)
    p.add_argument("--project", action=_ProjectAction)
    p.add_argument("--format")
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--verbosity", choices=["critical", "debug", "error", "info", "none", "warning"])
    p.add_argument("--log-http", action=argparse.BooleanOptionalAction)
    # accepted by gcloud, not honoured by the stand-in: in the namespace only when given
    unsupported = p.add_argument_group("unsupported", argument_default=argparse.SUPPRESS)
    for flag in _WIDE_VALUE_UNSUPPORTED:
        unsupported.add_argument(flag, dest=f"unsupported:{flag}")
    unsupported.add_argument("--user-output-enabled", dest="unsupported:--user-output-enabled",
                             action=argparse.BooleanOptionalAction)
    unsupported.add_argument("--help", "-h", dest="unsupported:--help", action="store_true")
    if command in ("sql backups list", "sql operations list"):
        # backups list: optional since gcloud ~410 (without it, or with "-", every instance's backups)
        p.add_argument("--instance", "-i", required=command == "sql operations list")
        p.add_argument("--limit", type=_bounded_int(1, True))
        p.add_argument("--page-size", type=_bounded_int(1, True))  # no paging here: the output is the same
        unsupported.add_argument("--filter", dest="unsupported:--filter")
        unsupported.add_argument("--sort-by", dest="unsupported:--sort-by")
        unsupported.add_argument("--uri", dest="unsupported:--uri", action=argparse.BooleanOptionalAction)
    elif command == "sql backups restore":
        p.add_argument("backup_id", metavar="ID")
        p.add_argument("--restore-instance", required=True)
        p.add_argument("--backup-instance")
        p.add_argument("--backup-project")
        unsupported.add_argument("--async", dest="unsupported:--async", action=argparse.BooleanOptionalAction)
        unsupported.add_argument("--timeout", dest="unsupported:--timeout", type=_bounded_int(0, True))
        unsupported.add_argument("--tier", "-t", dest="unsupported:--tier")
        for flag in _RESTORE_VALUE_UNSUPPORTED:
            unsupported.add_argument(flag, dest=f"unsupported:{flag}")
        for flag in _RESTORE_BOOL_UNSUPPORTED:
            unsupported.add_argument(flag, dest=f"unsupported:{flag}", action=argparse.BooleanOptionalAction)
    return p


def _ops_file(ds: Datastores):
    return ds.backups / "operations.json"


def _record_op(ds: Datastores, op: dict) -> None:
    f = _ops_file(ds)
    ops = json.loads(f.read_text()) if f.exists() else []
    ops.append(op)
    _write_ops(ds, ops)


def _write_ops(ds: Datastores, ops: list[dict]) -> None:
    f = _ops_file(ds)
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(ops))
    tmp.replace(f)  # a reader never sees half a file


def _update_op(ds: Datastores, name: str, **changes) -> dict:
    ops = json.loads(_ops_file(ds).read_text())
    for op in ops:
        if op["name"] == name:
            op.update(changes)
            _write_ops(ds, ops)
            return op
    raise KeyError(name)


def _op(ds: Datastores, name: str) -> dict:
    f = _ops_file(ds)
    return next((o for o in (json.loads(f.read_text()) if f.exists() else []) if o["name"] == name), {})


# ---- a restore that takes as long as the fidelity profile says ------------------------------------
# Cloud SQL runs a restore as an operation: PENDING (queued), RUNNING (the instance restarts and is
# unavailable), DONE. `gcloud sql backups restore` waits for it up to 600 s
# (googlecloudsdk/api_lib/sql/operations.py _OPERATION_TIMEOUT_SECONDS) and otherwise exits 1 with
# "taking longer than expected". Under a profile that models the duration (the executor sets
# ROLLBACK_DRILL_CLOUDSQL_PENDING_S / _RESTORE_S from the profile and the production database size),
# a detached finisher carries the operation through those states on the real PostgreSQL: the
# database is dropped when RUNNING starts (the application cannot use it, as during the restart)
# and the real pg_restore runs at the modelled end.
GCLOUD_WAIT_S = 600.0


def modelled() -> tuple[float, float]:
    return (float(os.environ.get("ROLLBACK_DRILL_CLOUDSQL_PENDING_S", "0") or 0),
            float(os.environ.get("ROLLBACK_DRILL_CLOUDSQL_RESTORE_S", "0") or 0))


def finish_restore(name: str, backup_id: str) -> int:
    """The operation's life after `gcloud sql backups restore` queued it (runs detached)."""
    ds = Datastores(os.environ["ROLLBACK_DRILL_PG_LISTEN"])
    pending, running = modelled()
    time.sleep(pending)
    _update_op(ds, name, status="RUNNING", start=datetime.now(timezone.utc).isoformat())
    t_end = time.monotonic() + running
    try:
        ds.psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", db="postgres")
        time.sleep(max(0.0, t_end - time.monotonic()))
        ds.restore_backup(backup_id)
        error = ""
    except DatastoreError as e:
        error = str(e)[:300]
    _update_op(ds, name, status="DONE", end=datetime.now(timezone.utc).isoformat(), error=error)
    return 0 if not error else 1


def abandon_restores(ds: Datastores) -> list[str]:
    """Stop finishers still running (a drill that ends mid-restore leaves no process behind); their
    operations say so. Returns the operations abandoned."""
    f = _ops_file(ds)
    if not f.exists():
        return []
    gone = []
    for op in json.loads(f.read_text()):
        if op.get("status") != "DONE" and op.get("pid"):
            try:
                os.killpg(int(op["pid"]), 15)
            except (ProcessLookupError, PermissionError):
                pass
            _update_op(ds, op["name"], status="DONE", error="abandoned: the drill ended before the modelled end",
                       end=datetime.now(timezone.utc).isoformat())
            gone.append(op["name"])
    return gone


def _pg_reachable(listen: str) -> bool:
    try:
        socket.create_connection((listen, PG_PORT), timeout=2).close()
        return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = " ".join(argv[:3])
    if command not in COMMANDS:
        print(f"ERROR: (gcloud) the drill's Cloud SQL stand-in does not implement 'gcloud {' '.join(argv)}'",
              file=sys.stderr)
        return 2
    group = f"gcloud.{command.replace(' ', '.')}"
    try:
        args = _parser(command).parse_args(argv[3:])
    except GcloudUsage as e:
        print(f"ERROR: ({group}) {e}", file=sys.stderr)
        return 2
    except GcloudProject as e:
        print(f"ERROR: (gcloud) {e}\n{_SET_PROJECT_HELP}", file=sys.stderr)
        return 1
    # Past gcloud's parser: from here on every answer is the API's (or the stand-in's refusal).
    unsupported = [k.split(":", 1)[1] for k in vars(args) if k.startswith("unsupported:")]
    fmt = (args.format or "").strip()
    if fmt and (command == "sql backups restore" or fmt != "json"):
        unsupported.append(f"--format={fmt}")
    if unsupported:
        print(f"ERROR: ({group}) the drill's Cloud SQL stand-in does not implement {', '.join(unsupported)} "
              f"(real gcloud accepts {'them' if len(unsupported) > 1 else 'it'}); nothing was done.", file=sys.stderr)
        return 1
    for flag, value in (("--project", args.project), ("--backup-project", getattr(args, "backup_project", None))):
        if value and value != PROJECT:
            print(f"ERROR: ({group}) HTTPError 403: The client is not authorized to make this request "
                  f"(project '{value}' is not the drill's project '{PROJECT}'; {flag}).", file=sys.stderr)
            return 1
    ds = Datastores(os.environ["ROLLBACK_DRILL_PG_LISTEN"])
    if command == "sql backups list":
        if args.instance not in (None, "-", INSTANCE):
            print(f"ERROR: ({group}) HTTPError 404: The Cloud SQL instance does not exist.", file=sys.stderr)
            return 1
        rows = ds.list_backups()[: args.limit]
        if fmt == "json":
            print(json.dumps([{"kind": "sql#backupRun", **{k: v for k, v in b.items() if k != "statuses_at_backup"}}
                              for b in rows], indent=2))
            return 0
        print(f"{'ID':<16}{'WINDOW_START_TIME':<34}{'ERROR':<8}{'STATUS':<12}INSTANCE")
        for b in rows:
            print(f"{b['id']:<16}{b['windowStartTime']:<34}{'-':<8}{b['status']:<12}{b['instance']}")
        return 0
    if command == "sql operations list":
        if args.instance != INSTANCE:
            print(f"ERROR: ({group}) HTTPError 404: The Cloud SQL instance does not exist.", file=sys.stderr)
            return 1
        f = _ops_file(ds)
        ops = list(reversed(json.loads(f.read_text()))) if f.exists() else []
        ops = ops[: args.limit]
        if fmt == "json":
            print(json.dumps([{"kind": "sql#operation", "name": op["name"], "operationType": op["type"],
                               "insertTime": op.get("insert", op["start"]), "startTime": op["start"] or None,
                               "endTime": op["end"] or None, "status": op["status"],
                               "targetId": INSTANCE} for op in ops], indent=2))
            return 0
        print(f"{'NAME':<40}{'TYPE':<12}{'START':<34}{'END':<34}{'ERROR':<8}STATUS")
        for op in ops:
            print(f"{op['name']:<40}{op['type']:<12}{op['start'] or '-':<34}{op['end'] or '-':<34}"
                  f"{'-' if not op.get('error') else 'ERROR':<8}{op['status']}")
        return 0
    # restore
    backup_instance = args.backup_instance or args.restore_instance
    if INSTANCE not in (args.restore_instance, backup_instance):
        print(f"ERROR: ({group}) HTTPError 404: The Cloud SQL instance does not exist.", file=sys.stderr)
        return 1
    if not args.backup_id.isdigit() or not any(b["id"] == args.backup_id for b in ds.list_backups()):
        print(f"ERROR: ({group}) HTTPError 404: The backup run does not exist.", file=sys.stderr)
        return 1
    if not _pg_reachable(ds.listen):
        print(f"ERROR: ({group}) HTTPError 503: The Cloud SQL instance [{INSTANCE}] is not available "
              f"(the drill's PostgreSQL at {ds.listen}:{PG_PORT} does not answer); nothing was restored.",
              file=sys.stderr)
        return 1
    start = datetime.now(timezone.utc).isoformat()
    name = f"restore-{int(time.time() * 1000)}"
    if any(modelled()):
        return _restore_as_an_operation(ds, name, args, group)
    try:
        ds.restore_backup(args.backup_id)
    except DatastoreError as e:
        print(f"ERROR: ({group}) HTTPError 500: the restore failed: {e}", file=sys.stderr)
        return 1
    _record_op(ds, {"name": name, "type": "RESTORE_VOLUME", "start": start,
                    "end": datetime.now(timezone.utc).isoformat(), "status": "DONE"})
    print(f"Restoring Cloud SQL instance [{args.restore_instance}] from backup [{args.backup_id}]...done.")
    return 0


def _restore_as_an_operation(ds: Datastores, name: str, args, group: str) -> int:
    _record_op(ds, {"name": name, "type": "RESTORE_VOLUME", "insert": datetime.now(timezone.utc).isoformat(),
                    "start": "", "end": "", "status": "PENDING"})
    finisher = subprocess.Popen([sys.executable, "-m", "rollback_drill.sut.cloudsql", "--finish-restore",
                                 name, args.backup_id], start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _update_op(ds, name, pid=finisher.pid)
    print("Restoring Cloud SQL instance...", end="", flush=True)
    deadline = time.monotonic() + float(os.environ.get("ROLLBACK_DRILL_GCLOUD_WAIT_S", GCLOUD_WAIT_S))
    while time.monotonic() < deadline:
        op = _op(ds, name)
        if op.get("status") == "DONE":
            if op.get("error"):
                print(f"failed.\nERROR: ({group}) [{op['error']}]", file=sys.stderr)
                return 1
            print(f"done.\nRestored [{args.restore_instance}].")
            return 0
        time.sleep(1.0)
    print(f"\nERROR: ({group}) Operation https://sqladmin.googleapis.com/sql/v1beta4/projects/{PROJECT}/operations/"
          f"{name} is taking longer than expected. You can continue waiting for the operation by running "
          f"`gcloud beta sql operations wait --project {PROJECT} {name}`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--finish-restore"]:
        sys.exit(finish_restore(sys.argv[2], sys.argv[3]))
    sys.exit(main())
