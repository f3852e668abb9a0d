"""Fixtures for tests against the real drill cluster (brought up by scripts/test.sh / .ci/run)."""

import pytest

from rollback_drill.cluster import get_cluster


@pytest.fixture(scope="session")
def cluster():
    c = get_cluster()
    if not c.status().ready:
        c.up()
    return c


@pytest.fixture(scope="session")
def deployed(cluster):
    from rollback_drill.deploy import deploy
    return deploy(cluster, log=lambda m: None)
