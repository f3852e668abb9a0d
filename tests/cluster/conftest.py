"""Fixtures for tests against the real drill cluster (brought up by scripts/test.sh / .ci/run)."""

import pytest

from rollback_drill.cluster import get_cluster


@pytest.fixture(scope="session")
def cluster():
    c = get_cluster()
    if not c.status().ready:
        c.up()
    return c


@pytest.fixture(scope="module")
def deployed(cluster):
    """The just-migrated state, restored for each module (a drill earlier may have rolled it back)."""
    from rollback_drill.sut.deploy import deploy
    return deploy(cluster, reset=True, log=lambda m: None)
