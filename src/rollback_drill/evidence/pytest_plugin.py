"""A pytest plugin: the test run's own artifacts pass through the evidence's redaction too.

Loaded with `-p rollback_drill.evidence.pytest_plugin` (pyproject.toml's addopts), so it applies to
every pytest run with the project's configuration, wherever the test files are.

pytest's JUnit file and pytest-bdd's cucumber file are written by their plugins at the end of the
session (`pytest_sessionfinish`); this hook runs after them (`pytest_unconfigure`) and redacts both
in place with every secret a Redactor of this process was given, the drill cluster's own
credentials, and the secret shapes (evidence/redaction.py). A failed assertion that printed a
drill's output can therefore not leave a password in CI's uploaded files.
"""

from __future__ import annotations

import json
from pathlib import Path


def _drill_cluster_credentials() -> list[str]:
    from rollback_drill.settings import state_dir
    f = state_dir() / "datastores" / "credentials.json"
    try:
        return [v for v in json.loads(f.read_text()).values() if isinstance(v, str)]
    except (OSError, ValueError):
        return []


def pytest_unconfigure(config) -> None:
    from rollback_drill.evidence.redaction import Redactor, known_secrets, redact_file
    paths = [getattr(config.option, "xmlpath", None), getattr(config.option, "cucumber_json_path", None)]
    redactor = Redactor(known_secrets() | set(_drill_cluster_credentials()))
    for p in paths:
        if p:
            redact_file(Path(p), redactor)
