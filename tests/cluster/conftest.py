"""Fixtures for tests against the real drill cluster (brought up by scripts/test.sh / .ci/run)."""

import pytest

from rollback_drill.cluster import get_cluster
from rollback_drill.sut.datastores import removed_with


@pytest.fixture(scope="session")
def cluster():
    c = removed_with(get_cluster())  # its `down` (after a half-up) removes the datastores too
    if not c.status().ready:
        c.up()
    return c


@pytest.fixture(scope="module")
def deployed(cluster):
    """The just-migrated state, restored for each module (a drill earlier may have rolled it back)."""
    from rollback_drill.sut.deploy import deploy
    return deploy(cluster, reset=True, log=lambda m: None)
