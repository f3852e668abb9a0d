"""The allowed import directions (pyproject.toml [tool.importlinter], issue 20 "Layers enforced") hold.

cli -> drill -> {runbook, sut, observe, evidence} -> cluster -> {settings, untrusted}, no cycles
between packages; cluster and observe know no runbook and no system under test; reading a runbook
needs no cluster; only drill and cli import the runbook. import-linter sees lazy imports inside
functions too, so a contract broken "just for one call" fails here as well.
"""

import subprocess
import sys
from pathlib import Path

from rollback_drill import PROJECT_ROOT


def test_the_import_contracts_pass():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"{lint_imports} missing: pip install -e '.[dev]' (import-linter)"
    # --no-cache: nothing written into the work tree; the check takes well under a second
    p = subprocess.run([str(lint_imports), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "0 broken" in p.stdout
