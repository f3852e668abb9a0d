"""The one root conftest: the test tiers, declared here and nowhere else, and the fixtures every tier
shares.

Tiers (a marker each, set here from where a test lives or from its own mark):

- unit — pure logic, no cluster: everything under tests/ except tests/cluster/ and after_down checks;
- cluster — against the real drill cluster: tests/cluster/ and the Gherkin drills under steps/;
- nightly — long drills left to the nightly workflow (marked @nightly in a feature, or
  `pytest.mark.nightly`); scripts/test.sh deselects them unless ROLLBACK_DRILL_MARK says otherwise;
- after_down — checks that nothing of the drill remains after `cluster down` (run last by
  scripts/test.sh).

`pytest -m unit` therefore runs without a cluster in about a minute; `-m cluster` needs
`rollback-drill cluster up`.
"""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401,I001 - locust patches gevent before anything else

import os
from pathlib import Path

import pytest

from rollback_drill.settings import LANE_ENV

ROOT = Path(__file__).resolve().parent
TIERS = {"unit": "pure logic, no cluster (tests/ outside tests/cluster/)",
         "cluster": "needs the drill cluster (tests/cluster/, steps/)",
         "nightly": "long drills run by the nightly workflow, not by every CI run (scripts/test.sh deselects them)",
         "after_down": "checks that run after `cluster down` (scripts/test.sh runs them last)",
         "trigger_rows": "every trigger's Level 1 drill (steps/test_triggers.py), nightly rows included: "
                         "-m '(not nightly or trigger_rows) and not after_down' is the suite with every row"}


def pytest_configure(config: pytest.Config) -> None:
    for name, what in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")
    # `pytest -n N` (pytest-xdist): worker gwK drills in lane K — a namespace, host, datastores and work
    # dir of its own (drill/lanes.py) — so drills side by side on the one cluster share nothing
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        os.environ[LANE_ENV] = worker[2:]
        _keep_the_hub_turning()


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`pytest -n N`: which tests a worker must run together. A Gherkin drill (steps/) builds its own state
    per scenario, so each scenario is a unit of its own — the trigger rows spread over the workers —;
    every other file is one unit, run whole on one worker (module fixtures build one namespace, one team
    release, one pending record per context). Units go out in collection order: the drills first."""
    from xdist.scheduler import LoadScopeScheduling

    class DrillScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if nodeid.startswith("steps/") else nodeid.split("::", 1)[0]

    return DrillScheduling(config, log)


def _keep_the_hub_turning() -> None:
    """In an xdist worker the main thread waits for its next test on an Event that execnet's I/O thread
    (a native thread, started before locust patched gevent in) sets. gevent delivers that wake-up
    through its hub; with no greenlet of its own left the hub gives up at once (LoopExit: "would block
    forever"). One idle greenlet keeps it turning between tests."""
    import gevent

    def idle() -> None:
        while True:
            gevent.sleep(0.2)
    gevent.spawn(idle)


def tier_of(path: Path) -> str:
    """'cluster' for tests/cluster/ and steps/, else 'unit' (the after_down and nightly marks are the tests' own)."""
    rel = path.resolve().relative_to(ROOT).parts
    return "cluster" if rel[:2] == ("tests", "cluster") or rel[:1] == ("steps",) else "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("after_down") is None:
            item.add_marker(tier_of(Path(str(item.path))))
        if Path(str(item.path)).name == "test_triggers.py":
            item.add_marker("trigger_rows")
    # drills first, the short unit tests after them (a stable sort: each file stays in one piece): with
    # `pytest -n N --dist loadfile` the unit files then fill the workers' gaps instead of a drill file
    # starting last and running alone
    items.sort(key=lambda item: item.get_closest_marker("cluster") is None)


@pytest.fixture(scope="session")
def cluster():
    """The drill cluster, brought up if it is not (scripts/test.sh and .ci/run bring it up first); at the
    end of the session the deployed stub is removed and the database emptied."""
    from rollback_drill.cluster import get_cluster
    from rollback_drill.sut.datastores import removed_with
    from rollback_drill.sut.deploy import teardown
    c = removed_with(get_cluster())  # its `down` (after a half-up) removes the datastores too
    if not c.status().ready:
        c.up()
    yield c
    teardown(c)
