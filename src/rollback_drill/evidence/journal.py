"""SLA evidence: the journal (JSON) of a run, written as it goes, atomically, with secrets redacted.

The journal is a by-product of running (like a Chaos Toolkit journal): environment, then per
scenario the timeline, durations against the runbook's targets, findings and substitutions.
Until a run finishes the journal says `"complete": false`; a crash never leaves a file that
looks complete, because every write goes to a temp file renamed over the old one.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from rollback_drill import PROJECT_ROOT
from rollback_drill.evidence.redaction import REDACTED, Redactor  # noqa: F401 - the journal's redaction

SCHEMA = "rollback-drill/journal"
SCHEMA_VERSION = 2


class EvidenceError(RuntimeError):
    pass


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write whole or not at all. Evidence is redacted before it gets here, so it is readable by
    whoever reads the reports (0644: an uploader or a non-root CI step), not mkstemp's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def reports_dir() -> Path:
    return Path(os.environ.get("ROLLBACK_DRILL_REPORTS", str(PROJECT_ROOT / "reports")))


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + f"-{os.getpid()}"


class Journal:
    def __init__(self, run_dir: Path, environment: dict, redactor: Redactor) -> None:
        self.path = run_dir / "journal.json"
        self.redactor = redactor
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            probe = run_dir / ".writable"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise EvidenceError(f"report folder {run_dir} is not writable ({e.strerror}): "
                                f"set ROLLBACK_DRILL_REPORTS to a writable folder") from None
        self.data = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "complete": False,
                     "run_id": run_dir.name, "started_at": datetime.now(timezone.utc).isoformat(),
                     "finished_at": None, "environment": environment, "scenarios": []}
        self.write()

    def add_scenario(self, scenario: dict) -> None:
        self.data["scenarios"].append(scenario)
        self.write()

    def finish(self) -> dict:
        """Mark the journal complete; returns the redacted data (the reports are rendered from it)."""
        self.data["complete"] = True
        self.data["finished_at"] = datetime.now(timezone.utc).isoformat()
        self.write()
        return self.redactor.redact_obj(self.data)

    def write(self) -> None:
        atomic_write(self.path, json.dumps(self.redactor.redact_obj(self.data), ensure_ascii=False, indent=2))


def load_journal(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EvidenceError(f"cannot read journal {path}: {e}") from None
    if data.get("schema") != SCHEMA:
        raise EvidenceError(f"{path} is not a rollback-drill journal")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise EvidenceError(f"{path} has journal schema version {data.get('schema_version')}, this rollback-drill "
                            f"reads version {SCHEMA_VERSION}: re-run the drill or use the matching release")
    return data
