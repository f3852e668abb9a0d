#!/usr/bin/env bash
# The tests: set up, bring the drill cluster up, run unit tests and every feature against the
# real cluster, tear the cluster down (also on failure). Extra arguments go to pytest.
# Drills marked @nightly (long outlines) are left to the nightly workflow unless
# ROLLBACK_DRILL_MARK is set (e.g. ROLLBACK_DRILL_MARK= runs everything).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/rollback-drill cluster up
trap '.venv/bin/rollback-drill cluster down >/dev/null 2>&1 || true' EXIT
mkdir -p reports
.venv/bin/pytest -m "${ROLLBACK_DRILL_MARK-not nightly}" --junitxml=reports/junit.xml \
  --cucumber-json=reports/cucumber.json "$@"
