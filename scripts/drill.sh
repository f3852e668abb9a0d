#!/usr/bin/env bash
# The main job: set up, bring the drill cluster up, run the default drill (Level 1 under the
# Critical trigger C1) end to end, print recovery time against the runbook's target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/rollback-drill cluster up
exec .venv/bin/rollback-drill run --level "${LEVEL:-1}" --trigger "${TRIGGER:-C1}" "$@"
