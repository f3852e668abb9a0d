"""rollback-drill: rehearse a Mastodon Helm -> Kustomize rollback runbook on a real cluster."""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root (fixtures/, cluster/, features/ live beside src/).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT_ROOT / "fixtures"
DEFAULT_RUNBOOK = FIXTURES / "runbook" / "rollback-runbook.ja.md"
