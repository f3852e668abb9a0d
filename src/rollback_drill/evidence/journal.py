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
import warnings
from datetime import datetime, timezone
from pathlib import Path

from rollback_drill import PROJECT_ROOT
from rollback_drill.evidence.redaction import REDACTED, Redactor  # noqa: F401 - the journal's redaction
from rollback_drill.evidence.schema import SCHEMA_FILES, known_version, upgrade, validate_journal  # noqa: F401

SCHEMA = "rollback-drill/journal"
SCHEMA_VERSION = 3  # the schema is journal.schema.json beside this file (evidence/schema.py); keep both equal


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


class JournalWarning(UserWarning):
    """A journal read for its evidence that does not match the schema of its version."""


def load_journal(path: Path, strict: bool = False) -> dict:
    """The journal at `path`, in the current shape: an older version (down to 1) is upgraded in memory
    (evidence/schema.py `upgrade`: what it did not record is named, never invented). Refused, in one
    line: what is not a journal, and a version this code does not know (newer than it, or one never
    written). The journal is validated against the schema of its own version; problems raise
    EvidenceError when `strict`, else are warned (JournalWarning) and the evidence is still returned."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EvidenceError(f"cannot read journal {path}: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise EvidenceError(f"{path} is not a rollback-drill journal")
    v = data.get("schema_version")
    if not known_version(v):
        newer = isinstance(v, int) and not isinstance(v, bool) and v > SCHEMA_VERSION
        raise EvidenceError(f"{path} has journal schema version {v!r}, "
                            + (f"newer than this rollback-drill reads (versions {min(SCHEMA_FILES)}-"
                               f"{SCHEMA_VERSION}): use a release that reads version {v}" if newer else
                               f"which rollback-drill never wrote (versions {min(SCHEMA_FILES)}-{SCHEMA_VERSION})"))
    problems = validate_journal(data)
    if problems:
        head = f"{path} does not match journal schema version {v} ({len(problems)} problems): "
        if strict:
            raise EvidenceError(head + "; ".join(problems[:20]) + ("; …" if len(problems) > 20 else ""))
        warnings.warn(head + "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else ""), JournalWarning,
                      stacklevel=2)
    return upgrade(data)
