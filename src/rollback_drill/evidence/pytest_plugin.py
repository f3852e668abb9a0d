"""A pytest plugin: the test run's own artifacts pass through the evidence's redaction too.

Loaded with `-p rollback_drill.evidence.pytest_plugin` (pyproject.toml's addopts), so it applies to
every pytest run with the project's configuration, wherever the test files are.

pytest's JUnit file and pytest-bdd's cucumber file are written by their plugins at the end of the
session (`pytest_sessionfinish`); this hook runs after them (`pytest_unconfigure`) and redacts both
in place with every secret a Redactor of this process was given, the drill cluster's own
credentials, and the secret shapes (evidence/redaction.py). A failed assertion that printed a
drill's output can therefore not leave a password in CI's uploaded files.

Every journal the session wrote under the reports folder (`reports_dir()`, modified since the session
started) is validated against the journal schema of its version (evidence/schema.py) at the end of the
session, after the session fixtures finished their journals: a problem is printed, one line each with
the JSON path, and the session fails (exit status 1 unless it already failed otherwise).

Under pytest-xdist (`pytest -n N`: drills side by side, one lane per worker) the workers run the
scenarios and the controller writes the cucumber file; pytest-bdd 9 keeps each scenario's steps in a
registry beside the report that the worker-to-controller report does not carry, so the file came out
empty. The two report hooks below carry it across.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

STARTED = pytest.StashKey[float]()
MTIME_SLACK_S = 1.0  # file times can lag the clock by a tick


def pytest_sessionstart(session) -> None:
    session.stash[STARTED] = time.time() - MTIME_SLACK_S


def journals_written_since(folder: Path, since: float) -> list[Path]:
    out = []
    for p in sorted(folder.glob("**/journal.json")) if folder.is_dir() else []:
        try:
            if p.stat().st_mtime >= since:
                out.append(p)
        except OSError:  # removed meanwhile
            continue
    return out


def journal_problems(paths: list[Path]) -> list[str]:
    from rollback_drill.evidence.schema import validate_journal
    lines = []
    for p in paths:
        try:
            problems = validate_journal(json.loads(p.read_text(encoding="utf-8")), written_now=True)
        except (OSError, ValueError) as e:
            problems = [f"$: cannot read the journal: {e}"]
        lines += [f"{p}: {x}" for x in problems]
    return lines


@pytest.hookimpl(trylast=True)  # after the runner tore down the session fixtures (they finish journals)
def pytest_sessionfinish(session, exitstatus) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller checks the folder once
        from rollback_drill.evidence.redaction import known_secrets
        # every value this worker's drills and tests redacted goes to the controller, which writes the
        # JUnit and cucumber files (over xdist's channel, never to disk)
        session.config.workeroutput[SECRETS_KEY] = sorted(known_secrets())
        return
    from rollback_drill.evidence.journal import reports_dir
    since = session.stash.get(STARTED, time.time())
    paths = journals_written_since(reports_dir(), since)
    lines = journal_problems(paths)
    if not lines:
        return
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    write = (lambda s: tr.write_line(s, red=True)) if tr else (lambda s: print(s))
    if tr:
        tr.write_sep("=", "journals that do not match the journal schema", red=True)
    for line in lines:
        write(line)
    if session.exitstatus == 0:  # a failed or interrupted session keeps its own status (non-zero already)
        session.exitstatus = 1


BDD_KEY = "rollback_drill_bdd_scenario"


@pytest.hookimpl(hookwrapper=True)
def pytest_report_to_serializable(config, report):
    """Worker side: the scenario pytest-bdd recorded for this report travels with it."""
    outcome = yield
    data = outcome.get_result()
    try:
        from pytest_bdd.reporting import test_report_context_registry
    except ImportError:
        return
    ctx = test_report_context_registry.get(report)
    if isinstance(data, dict) and ctx is not None:
        data[BDD_KEY] = {"scenario": ctx.scenario, "name": ctx.name}


@pytest.hookimpl(hookwrapper=True)
def pytest_report_from_serializable(config, data):
    """Controller side: the report gets its scenario back where pytest-bdd's cucumber writer looks."""
    carried = data.pop(BDD_KEY, None) if isinstance(data, dict) else None
    outcome = yield
    report = outcome.get_result()
    if carried is None or report is None:
        return
    from pytest_bdd.reporting import ReportContext, test_report_context_registry
    test_report_context_registry[report] = ReportContext(scenario=carried["scenario"], name=carried["name"])


def _drill_cluster_credentials() -> list[str]:
    """Every lane's: the reports of `pytest -n N` hold what each worker's lane printed."""
    from rollback_drill.settings import lane_paths_present
    out: list[str] = []
    for root in lane_paths_present("datastores"):
        try:
            out += [v for v in json.loads((root / "credentials.json").read_text()).values() if isinstance(v, str)]
        except (OSError, ValueError):
            pass
    return out


SECRETS_KEY = "rollback_drill_known_secrets"
_FROM_WORKERS: set[str] = set()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """Controller side (xdist): what a finished worker redacted, for the files written here."""
    _FROM_WORKERS.update(getattr(node, "workeroutput", {}).get(SECRETS_KEY, []))


def pytest_unconfigure(config) -> None:
    from rollback_drill.evidence.redaction import Redactor, known_secrets, redact_file
    paths = [getattr(config.option, "xmlpath", None), getattr(config.option, "cucumber_json_path", None)]
    redactor = Redactor(known_secrets() | _FROM_WORKERS | set(_drill_cluster_credentials()))
    for p in paths:
        if p:
            redact_file(Path(p), redactor)
