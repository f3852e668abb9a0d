"""Redaction, atomic writes and journal versions."""

import base64
import json
import os

import pytest

from rollback_drill.evidence.journal import REDACTED, EvidenceError, Journal, Redactor, atomic_write, load_journal
from rollback_drill.evidence.report import finish_run


def test_redactor_removes_plain_and_base64_secrets():
    r = Redactor(["s3cr3t-password", "xy"])
    b64 = base64.b64encode(b"s3cr3t-password").decode()
    out = r.redact(f"DB_PASS=s3cr3t-password data: {b64} xy stays")
    assert "s3cr3t-password" not in out and b64 not in out and out.count(REDACTED) == 2 and "xy stays" in out
    assert r.redact_obj({"a": ["s3cr3t-password"]}) == {"a": [REDACTED]}


def test_journal_is_incomplete_until_finished_and_redacted(tmp_path):
    j = Journal(tmp_path / "run1", {"env": "x"}, Redactor(["top-secret-value"]))
    data = json.loads(j.path.read_text())
    assert data["complete"] is False and data["schema_version"] == 3
    j.add_scenario({"name": "s", "output": "password top-secret-value"})
    finish_run(j, history=tmp_path / "history.jsonl")
    text = j.path.read_text()
    assert (tmp_path / "run1" / "report.html").exists() and (tmp_path / "run1" / "summary.md").exists()
    assert "top-secret-value" not in text and json.loads(text)["complete"] is True
    assert load_journal(j.path)["scenarios"][0]["output"] == f"password {REDACTED}"


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    p = tmp_path / "journal.json"
    atomic_write(p, '{"complete": false}')

    def boom(*a, **kw):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(p, '{"complete": true}')
    assert p.read_text() == '{"complete": false}'
    assert [x.name for x in tmp_path.iterdir()] == ["journal.json"]  # no temp file left behind


def test_old_schema_and_unreadable_journals_get_clear_errors(tmp_path):
    p = tmp_path / "journal.json"
    p.write_text(json.dumps({"schema": "rollback-drill/journal", "schema_version": 0}))
    with pytest.raises(EvidenceError, match="schema version 0"):
        load_journal(p)
    p.write_text("{not json")
    with pytest.raises(EvidenceError, match="cannot read journal"):
        load_journal(p)


def test_unwritable_report_folder_is_one_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "run").write_text("a file where the folder should be")
    with pytest.raises(EvidenceError, match="not writable"):
        Journal(ro / "run", {}, Redactor([]))
