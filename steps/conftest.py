"""Step definitions of the Gherkin drills: thin sentences over the drill engine, one module per
capability. pytest-bdd's steps are fixtures, so this conftest imports every module's steps for the
feature test modules beside it (steps/test_*.py).

  drill_state.py     the drill per scenario, the journal per session, the scenario's result
  runbook_steps.py   Given the runbook (as written, or with one line changed)
  setup_steps.py     Given the cluster, the just-migrated state under load, profile, limits
  fault_steps.py     When a trigger is made true (a fault switch, a configuration mistake, a declaration)
  rollback_steps.py  When the operator runs a level (as written, or neutered)
  verdict_steps.py   Then detection, decision, recovery, what users saw, the checklist, the verdict
  finding_steps.py   Then the runbook's findings
  evidence_steps.py  Then the journal, the report, the fidelity profile's share of the time

`cluster` (session) is the root conftest's (../conftest.py), shared with tests/cluster/.
"""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401,I001 - locust patches gevent before anything else

from drill_state import *  # noqa: F401,F403,E402 - fixtures: journal, state
from runbook_steps import *  # noqa: F401,F403,E402
from setup_steps import *  # noqa: F401,F403,E402
from fault_steps import *  # noqa: F401,F403,E402
from rollback_steps import *  # noqa: F401,F403,E402
from verdict_steps import *  # noqa: F401,F403,E402
from finding_steps import *  # noqa: F401,F403,E402
from evidence_steps import *  # noqa: F401,F403,E402
