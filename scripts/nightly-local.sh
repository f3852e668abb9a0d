#!/usr/bin/env bash
# Run the nightly workflow here the way GitHub's runner does (non-root user `runner` with sudo, the
# workflow's own steps in order, caches emulated, the local provider instead of kind).
#   bash scripts/nightly-local.sh --quick                         one night, one scenario per step
#   bash scripts/nightly-local.sh --quick --nights 2 --plant finding   the second night's gate must go red
# See scripts/nightly_local.py for what is emulated and how.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
exec .venv/bin/python scripts/nightly_local.py "$@"
