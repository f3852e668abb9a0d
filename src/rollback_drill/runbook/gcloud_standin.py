"""A Cloud SQL stand-in for the runbook's `gcloud sql backups|operations` commands.

Why: the drill's database is a real PostgreSQL, not Cloud SQL, yet the runbook's Level 3 must
run as written. The stand-in accepts exactly the argument shapes real gcloud accepts for these
commands (required flags, positional BACKUP_ID, known flags only) and rejects the rest with
gcloud's wording and exit code 2; API-level failures (unknown backup, unknown project or
instance) answer like the API would, exit code 1. Anything outside `sql backups list|restore`
and `sql operations list` is refused: the stand-in never pretends.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone

from rollback_drill.sut.datastores import INSTANCE, Datastores

PROJECT = os.environ.get("ROLLBACK_DRILL_GCP_PROJECT", "rollback-drill")


class GcloudUsage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # gcloud's style, exit code 2
        raise GcloudUsage(message)


def _parser(command: str) -> _Parser:
    p = _Parser(prog=f"gcloud {command}", add_help=False)
    p.add_argument("--project")
    p.add_argument("--format")
    p.add_argument("--quiet", "-q", action="store_true")
    if command == "sql backups list":
        p.add_argument("--instance", "-i", required=True)
        p.add_argument("--limit", type=int)
        p.add_argument("--filter")
        p.add_argument("--sort-by")
        p.add_argument("--page-size", type=int)
    elif command == "sql backups restore":
        p.add_argument("backup_id")
        p.add_argument("--restore-instance", required=True)
        p.add_argument("--backup-instance")
        p.add_argument("--backup-project")
        p.add_argument("--async", action="store_true")
    elif command == "sql operations list":
        p.add_argument("--instance", "-i", required=True)
        p.add_argument("--limit", type=int)
        p.add_argument("--filter")
    return p


def _ops_file(ds: Datastores):
    return ds.backups / "operations.json"


def _record_op(ds: Datastores, op: dict) -> None:
    f = _ops_file(ds)
    ops = json.loads(f.read_text()) if f.exists() else []
    ops.append(op)
    f.write_text(json.dumps(ops))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    words = [a for a in argv[:3]]
    command = " ".join(words)
    if command not in ("sql backups list", "sql backups restore", "sql operations list"):
        print(f"ERROR: (gcloud) the drill's Cloud SQL stand-in does not implement 'gcloud {' '.join(argv)}'",
              file=sys.stderr)
        return 2
    group = f"gcloud.{command.replace(' ', '.')}"
    try:
        args = _parser(command).parse_args(argv[3:])
    except GcloudUsage as e:
        print(f"ERROR: ({group}) {e}", file=sys.stderr)
        return 2
    if args.project and args.project != PROJECT:
        print(f"ERROR: ({group}) HTTPError 403: The client is not authorized to make this request "
              f"(project '{args.project}' is not the drill's project '{PROJECT}').", file=sys.stderr)
        return 1
    ds = Datastores(os.environ["ROLLBACK_DRILL_PG_LISTEN"])
    if command == "sql backups list":
        if args.instance != INSTANCE:
            print(f"ERROR: ({group}) HTTPError 404: The Cloud SQL instance does not exist.", file=sys.stderr)
            return 1
        rows = ds.list_backups()[: args.limit or None]
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
        print(f"{'NAME':<40}{'TYPE':<12}{'START':<34}{'END':<34}{'ERROR':<8}STATUS")
        for op in ops[: args.limit or None]:
            print(f"{op['name']:<40}{op['type']:<12}{op['start']:<34}{op['end']:<34}{'-':<8}{op['status']}")
        return 0
    # restore
    backup_instance = args.backup_instance or args.restore_instance
    if INSTANCE not in (args.restore_instance, backup_instance):
        print(f"ERROR: ({group}) HTTPError 404: The Cloud SQL instance does not exist.", file=sys.stderr)
        return 1
    if not args.backup_id.isdigit() or not any(b["id"] == args.backup_id for b in ds.list_backups()):
        print(f"ERROR: ({group}) HTTPError 404: The backup run does not exist.", file=sys.stderr)
        return 1
    start = datetime.now(timezone.utc).isoformat()
    name = f"restore-{int(time.time() * 1000)}"
    ds.restore_backup(args.backup_id)
    _record_op(ds, {"name": name, "type": "RESTORE_VOLUME", "start": start,
                    "end": datetime.now(timezone.utc).isoformat(), "status": "DONE"})
    print(f"Restoring Cloud SQL instance [{args.restore_instance}] from backup [{args.backup_id}]...done.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
