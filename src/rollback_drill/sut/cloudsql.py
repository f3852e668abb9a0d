"""A Cloud SQL stand-in for the runbook's `gcloud sql backups|operations|instances` commands.

It is part of the emulated environment, beside the PostgreSQL it fronts (sut/datastores.py), not
of reading a runbook: runbook/substitutions.py only writes the `gcloud` shim that routes
`gcloud … sql …` here (`python -m rollback_drill.sut.cloudsql`).

Why: the drill's database is a real PostgreSQL, not Cloud SQL, yet the runbook's Level 3 must
run as written, and the forms a team writes when it fixes the restore step must run too. For
`sql backups list|restore|describe`, `sql operations list|wait` and `sql instances describe` the
stand-in's parser follows gcloud 528's (checked against the real CLI by tests/test_gcloud_differential.py):
required flags and the positional ID, typed values (--limit, --page-size, --timeout), no flag
abbreviations, unknown flags and extra arguments rejected with gcloud's `argument ...` /
`unrecognized arguments` errors and exit code 2. `--project` is checked the moment the parser
reads it, as gcloud's property validator does: a value that is not a project ID answers gcloud's
own wording with exit code 1. As in gcloud 528, `sql backups list` needs no --instance (then,
as with `--instance=-`, it lists every backup); `--format=json` is honoured for the lists and
`operations wait`, `json`, `yaml` and `value(FIELD,…)` for the two describes (YAML by default, as
gcloud prints a described resource). Only `sql backups restore` reaches the drill's PostgreSQL:
list, describe and wait read the backups folder and the operations file alone.

After parsing, API-level failures (unknown backup, project or instance; the drill's PostgreSQL
not reachable) answer like the API would, exit code 1. Flags gcloud accepts but the stand-in
cannot honour (e.g. --filter, --async, the restore-to-new-instance settings; their values are
not checked beyond their shape) are refused after parsing with exit code 1 and a message saying
so. Anything outside these six commands, or with global flags before the command, is refused
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

from rollback_drill.sut.datastores import DB_NAME, INSTANCE, DatastoreError, Datastores

PROJECT = os.environ.get("ROLLBACK_DRILL_GCP_PROJECT", "rollback-drill")
COMMANDS = ("sql backups list", "sql backups restore", "sql backups describe", "sql operations list",
            "sql operations wait", "sql instances describe")
API = "https://sqladmin.googleapis.com/sql/v1beta4"  # gcloud's sql API_VERSION_DEFAULT; its resource URLs
# What the stand-in's instance says of itself where the drill has no fact: assumed, plausible values.
REGION, TIER = "us-central1", "db-custom-2-7680"
DATABASE_VERSION = "POSTGRES_15"  # the drill's PostgreSQL is 15 (sut/images.py DATASTORE_PACKAGES)

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
            names = ["OPERATION [OPERATION ...]" if n == "OPERATION" else n for n in names]  # nargs='+'
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
    elif command == "sql operations wait":
        # surface/sql/operations/wait.py (528): flags.AddOperationArgument (nargs='+') and --timeout,
        # BoundedInt(lower_bound=0, unlimited=True), default=300. No --instance: an operation is the
        # project's. (0 waits without limit, as in gcloud: `if max_wait_seconds:` in WaitForOperation.)
        p.add_argument("operation", metavar="OPERATION", nargs="+")
        p.add_argument("--timeout", type=_bounded_int(0, True), default=WAIT_DEFAULT_TIMEOUT_S)
    elif command == "sql backups describe":
        # surface/sql/backups/describe.py (528): flags.AddBackupId (positional ID) and
        # flags.AddOptionalInstance (--instance/-i, not required by the parser).
        p.add_argument("backup_id", metavar="ID")
        p.add_argument("--instance", "-i")
    elif command == "sql instances describe":
        p.add_argument("instance", metavar="INSTANCE")  # surface/sql/instances/describe.py (528)
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
# a detached finisher carries the operation through those states on the real PostgreSQL. "The restore
# operation causes the instance to restart" (cloud.google.com/sql/docs/postgres/backup-recovery/restore):
# when RUNNING starts the server stops with a fast shutdown — every connection is dropped and new ones
# are refused, for the application and for the runbook's next commands alike — and at the modelled end
# it starts again (briefly "the database system is starting up") and the real pg_restore runs.
# Assumed: the instance is unavailable for the whole RUNNING time (Google publishes no split).
GCLOUD_WAIT_S = 600.0
# `gcloud sql operations wait`'s own default: surface/sql/operations/wait.py (528) adds --timeout with
# default=300 ("By default, wait for 300s. Set to *unlimited* to wait indefinitely.").
WAIT_DEFAULT_TIMEOUT_S = 300


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
        ds.stop_server()  # the instance restarts: connections dropped, refused until it is back
        time.sleep(max(0.0, t_end - time.monotonic()))
        ds.up()
        ds.psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", db="postgres")
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
    if gone and not _pg_reachable(ds):  # stopped mid-restart: the lane's server is started again
        ds.up()
    return gone


def _pg_reachable(ds: Datastores) -> bool:
    try:
        socket.create_connection((ds.listen, ds.pg_port), timeout=2).close()
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
    if fmt and not _format_honoured(command, fmt):
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
    # Only the restore talks to PostgreSQL (and needs its address); the others read files alone.
    ds = Datastores(os.environ.get("ROLLBACK_DRILL_PG_LISTEN", "127.0.0.1"))
    if command == "sql operations wait":
        return _operations_wait(ds, args, group, fmt)
    if command == "sql backups describe":
        return _backups_describe(ds, args, group, fmt)
    if command == "sql instances describe":
        return _instances_describe(ds, args, group, fmt)
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
        _print_operations(ops, fmt)
        return 0
    # restore
    backup_instance = args.backup_instance or args.restore_instance
    if INSTANCE not in (args.restore_instance, backup_instance):
        print(f"ERROR: ({group}) HTTPError 404: The Cloud SQL instance does not exist.", file=sys.stderr)
        return 1
    if not args.backup_id.isdigit() or not any(b["id"] == args.backup_id for b in ds.list_backups()):
        print(f"ERROR: ({group}) HTTPError 404: The backup run does not exist.", file=sys.stderr)
        return 1
    if not _pg_reachable(ds):
        print(f"ERROR: ({group}) HTTPError 503: The Cloud SQL instance [{INSTANCE}] is not available "
              f"(the drill's PostgreSQL at {ds.listen}:{ds.pg_port} does not answer); nothing was restored.",
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
    print(f"\nERROR: ({group}) {_longer_than_expected(PROJECT, name)}", file=sys.stderr)
    return 1


def _longer_than_expected(project: str, name: str) -> str:
    """gcloud's OperationError on a wait's timeout (api_lib/sql/operations.py WaitForOperation, 528),
    exit code 1. One deliberate difference: gcloud 528's GetOperationWaitCommand names the beta track
    (`gcloud beta sql operations wait --project P OP`); the stand-in names the GA command, which 528
    has too (surface/sql/operations/wait.py: GA, BETA, ALPHA) and which the stand-in implements."""
    return (f"Operation {API}/projects/{project}/operations/{name} is taking longer than expected. You can "
            f"continue waiting for the operation by running `gcloud sql operations wait --project {project} {name}`")


def _format_honoured(command: str, fmt: str) -> bool:
    if command == "sql backups restore":
        return False
    if command in ("sql backups describe", "sql instances describe"):
        return fmt in ("json", "yaml") or bool(_VALUE_FORMAT.match(fmt))
    return fmt == "json"


_VALUE_FORMAT = re.compile(r"^value\(\s*([\w.]+(?:\s*,\s*[\w.]+)*)\s*\)$")


def _print_resource(resource: dict, fmt: str) -> None:
    """A described resource as gcloud prints one: YAML by default (keys sorted), `json` (sorted, indent 2),
    `value(a,b.c)` (the values, tab-separated; a missing key prints empty)."""
    value = _VALUE_FORMAT.match(fmt)
    if value:
        out = []
        for key in (k.strip() for k in value.group(1).split(",")):
            v = resource
            for part in key.split("."):
                v = v.get(part, "") if isinstance(v, dict) else ""
            out.append(v if isinstance(v, str) else json.dumps(v))
        print("\t".join(out))
    elif fmt == "json":
        print(json.dumps(resource, indent=2, sort_keys=True))
    else:
        import yaml
        print(yaml.safe_dump(resource, default_flow_style=False, indent=2, sort_keys=True), end="")


def _op_resource(op: dict, project: str = PROJECT) -> dict:
    r = {"kind": "sql#operation", "name": op["name"], "operationType": op["type"],
         "insertTime": op.get("insert") or op.get("start"), "startTime": op.get("start") or None,
         "endTime": op.get("end") or None, "status": op["status"], "targetId": INSTANCE,
         "targetProject": project, "selfLink": f"{API}/projects/{project}/operations/{op['name']}"}
    if op.get("error"):
        r["error"] = {"kind": "sql#operationErrors", "errors": [{"kind": "sql#operationError", "message": op["error"]}]}
    return r


def _print_operations(ops: list[dict], fmt: str) -> None:
    """flags.OPERATION_FORMAT_BETA's columns (NAME TYPE START END ERROR STATUS), or `--format=json`."""
    if fmt == "json":
        print(json.dumps([_op_resource(op) for op in ops], indent=2))
        return
    print(f"{'NAME':<40}{'TYPE':<16}{'START':<34}{'END':<34}{'ERROR':<8}STATUS")
    for op in ops:
        print(f"{op['name']:<40}{op['type']:<16}{op.get('start') or '-':<34}{op.get('end') or '-':<34}"
              f"{'-' if not op.get('error') else 'ERROR':<8}{op['status']}")


# ---- sql operations wait ----------------------------------------------------------------------
# As gcloud 528 waits (api_lib/sql/operations.py _BaseOperations.WaitForOperation with
# core/util/retry.py Retryer): 1 s before the first poll, then polls after 2 s, 4 s, 8 s, … (×2 each
# time, plus up to 1 s of jitter, at most 20 s apart); before each sleep, if the time since the first
# poll plus the coming sleep exceeds --timeout, it gives up with "taking longer than expected", exit 1
# (so it gives up at the last poll that fits, not at the timeout itself). An operation that is DONE
# with an error fails the wait (exit 1). An API error (here: an unknown operation) is retried for
# up to 2 s (_HTTP_MAX_RETRY_MS), then raised. Operations are waited for one after the other, each
# with the whole --timeout; the table of them is printed once all are DONE.
_PRE_START_SLEEP_S, _INITIAL_SLEEP_S, _WAIT_CEILING_S, _JITTER_S, _HTTP_MAX_RETRY_S = 1, 2, 20, 1, 2
_OPERATION_REF = re.compile(r"^(?:https://sqladmin\.googleapis\.com/sql/v1beta4/)?projects/([^/]+)/operations/([^/]+)$")


def _operations_wait(ds: Datastores, args, group: str, fmt: str) -> int:
    import random
    refs = []
    for given in args.operation:  # gcloud's resource parser: a name, `projects/P/operations/N`, or its URL
        m = _OPERATION_REF.match(given)
        project, name = (m.group(1), m.group(2)) if m else (args.project or PROJECT, given)
        if project != PROJECT:
            print(f"ERROR: ({group}) HTTPError 403: The client is not authorized to make this request "
                  f"(project '{project}' is not the drill's project '{PROJECT}'; {given}).", file=sys.stderr)
            return 1
        refs.append(name)
    done = []
    for name in refs:
        print(f"Waiting for [{API}/projects/{PROJECT}/operations/{name}]...", end="", file=sys.stderr, flush=True)
        time.sleep(_PRE_START_SLEEP_S)
        started, retrial = time.monotonic(), 0
        while True:
            op = _op(ds, name)
            passed = time.monotonic() - started
            if not op and passed > _HTTP_MAX_RETRY_S:
                print("failed.", file=sys.stderr)
                print(f"ERROR: ({group}) HTTPError 404: The Cloud SQL operation [{name}] does not exist.",
                      file=sys.stderr)
                return 1
            if op and op.get("status") == "DONE":
                if op.get("error"):
                    print("failed.", file=sys.stderr)
                    print(f"ERROR: ({group}) [{op['error']}]", file=sys.stderr)
                    return 1
                print("done.", file=sys.stderr)
                done.append(op)
                break
            sleep = min(_INITIAL_SLEEP_S * 2 ** retrial + random.random() * _JITTER_S, _WAIT_CEILING_S)
            if args.timeout and passed + sleep > args.timeout:  # 0 and None ("unlimited"): no limit
                print("failed.", file=sys.stderr)
                print(f"ERROR: ({group}) {_longer_than_expected(PROJECT, name)}", file=sys.stderr)
                return 1
            time.sleep(sleep)
            retrial += 1
    _print_operations(done, fmt)
    return 0


# ---- sql backups describe / sql instances describe ------------------------------------------------
def _instance_name_error(name: str) -> str:
    """api_lib/sql/validate.py ValidateInstanceName (528): an ArgumentError, exit code 1."""
    parts = name.split(":")
    return ("Instance names cannot contain the ':' character. If you meant to indicate the\n"
            f"project for [{parts[-1]}], use only '{parts[-1]}' for the argument, and either add\n"
            f"'--project {parts[0]}' to the command line or first run\n"
            f"  $ gcloud config set project {parts[0]}\n")


def _api_time(iso: str) -> str:
    """An RFC 3339 time as the API writes it (UTC, 'Z', milliseconds)."""
    t = datetime.fromisoformat(iso).astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _backups_describe(ds: Datastores, args, group: str, fmt: str) -> int:
    if args.instance and ":" in args.instance:  # validated before any API call (describe.py Run)
        print(f"ERROR: ({group}) {_instance_name_error(args.instance)}", file=sys.stderr)
        return 1
    try:
        int(args.backup_id)
    except ValueError:  # command_lib/sql/validate.py IsProjectLevelBackupRequest: a backup NAME
        print(f"ERROR: ({group}) HTTPError 404: The backup [{args.backup_id}] does not exist (the drill's "
              f"Cloud SQL has instance-level backup runs only).", file=sys.stderr)
        return 1
    if args.instance is None:  # describe.py parses the instance reference from None
        print(f"ERROR: ({group}) value for field [instance] in collection [sql.instances] is required but was "
              f"not provided", file=sys.stderr)
        return 1
    if args.instance != INSTANCE:
        print(f"ERROR: ({group}) HTTPError 404: The Cloud SQL instance does not exist.", file=sys.stderr)
        return 1
    backup = next((b for b in ds.list_backups() if int(b["id"]) == int(args.backup_id)), None)
    if backup is None:
        print(f"ERROR: ({group}) HTTPError 404: The backup run does not exist.", file=sys.stderr)
        return 1
    window = _api_time(backup["windowStartTime"])
    # The API's BackupRun (sqladmin v1beta4); int64 fields as strings, as gcloud's projector prints them.
    # The stand-in's backup is a pg_dump taken at windowStartTime: enqueued, started and ended then.
    _print_resource({
        "backupKind": "SNAPSHOT", "description": backup.get("description", ""), "endTime": window,
        "enqueuedTime": window, "id": str(backup["id"]), "instance": backup["instance"], "kind": "sql#backupRun",
        "location": REGION.rsplit("-", 1)[0], "selfLink": f"{API}/projects/{PROJECT}/instances/{backup['instance']}"
                                                            f"/backupRuns/{backup['id']}",
        "startTime": window, "status": backup["status"], "type": backup["type"], "windowStartTime": window,
    }, fmt)
    return 0


def _instance_state(ds: Datastores) -> str:
    """RUNNABLE, or MAINTENANCE while a modelled restore is RUNNING.

    Assumed, not sourced: Google documents that a restore restarts the instance and that it is
    unavailable for connections meanwhile (sql/docs/postgres/backup-recovery/restore: "The target
    instance is unavailable for connections during the restore operation; existing connections are
    lost"), but not which SqlInstanceState the API reports then; of the enum's values (sqladmin
    v1beta4: RUNNABLE, SUSPENDED, PENDING_DELETE, PENDING_CREATE, MAINTENANCE, FAILED, …) MAINTENANCE,
    "The instance is down for maintenance", is the one for an instance that is down while the service
    works on it. A queued (PENDING) restore leaves the instance RUNNABLE."""
    f = _ops_file(ds)
    ops = json.loads(f.read_text()) if f.exists() else []
    return "MAINTENANCE" if any(o.get("type") == "RESTORE_VOLUME" and o.get("status") == "RUNNING"
                                for o in ops) else "RUNNABLE"


def _instances_describe(ds: Datastores, args, group: str, fmt: str) -> int:
    if ":" in args.instance:
        print(f"ERROR: ({group}) {_instance_name_error(args.instance)}", file=sys.stderr)
        return 1
    if args.instance != INSTANCE:  # describe.py turns the API's 403 into ResourceNotFoundError, exit 1
        print(f"ERROR: ({group}) There was no instance found at projects/{PROJECT}/instances/{args.instance} or "
              f"you are not authorized to access it.", file=sys.stderr)
        return 1
    # A plausible DatabaseInstance (sqladmin v1beta4); REGION and TIER are assumed (see above).
    _print_resource({
        "backendType": "SECOND_GEN", "connectionName": f"{PROJECT}:{REGION}:{INSTANCE}",
        "databaseVersion": DATABASE_VERSION, "gceZone": f"{REGION}-a", "instanceType": "CLOUD_SQL_INSTANCE",
        "kind": "sql#instance", "name": INSTANCE, "project": PROJECT, "region": REGION,
        "selfLink": f"{API}/projects/{PROJECT}/instances/{INSTANCE}",
        "settings": {"activationPolicy": "ALWAYS", "availabilityType": "ZONAL",
                     "backupConfiguration": {"enabled": True, "kind": "sql#backupConfiguration"},
                     "kind": "sql#settings", "tier": TIER},
        "state": _instance_state(ds),
    }, fmt)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--finish-restore"]:
        sys.exit(finish_restore(sys.argv[2], sys.argv[3]))
    sys.exit(main())
