"""Fixtures for tests against the real drill cluster (brought up by scripts/test.sh / .ci/run)."""

import pytest

# `cluster` (session) is the root conftest's (../../conftest.py), shared with the Gherkin drills.


@pytest.fixture(scope="module")
def deployed(cluster):
    """The just-migrated state, restored for each module (a drill earlier may have rolled it back)."""
    from rollback_drill.sut.deploy import deploy
    return deploy(cluster, reset=True, log=lambda m: None)
