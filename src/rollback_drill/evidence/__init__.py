"""Evidence: the journal written while a drill runs, and the reports rendered from it.

It imports no drill, system under test, cluster or runbook: it works on the journal alone. Modules:

- journal.py — the journal (JSON), written as it goes, atomically, redacted
- schema.py — the journal's JSON Schema, and what a reader does with older versions
- redaction.py — one redaction for every artifact written
- report.py — report.html, summary.md, history
- nightly.py — the nightly gate
- pytest_plugin.py — the test run's own artifacts redacted and journals validated
"""
