"""The Cloud SQL stand-in's modelled restore on the drill's real PostgreSQL: the operation is
PENDING, then RUNNING with the instance restarting (the server refusing connections), then DONE with the data back; like real
gcloud the restore command gives up waiting (exit 1, "taking longer than expected") and
`gcloud sql operations list` shows the operation RUNNING meanwhile. Small modelled times here;
the gke profile's minutes run in features/fidelity.feature (nightly)."""

import os
import subprocess
import sys
import time

import pytest

from rollback_drill.sut.datastores import DatastoreError


def gcloud(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rollback_drill.sut.cloudsql", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_modelled_restore_runs_as_an_operation_and_the_database_is_away_while_it_runs(deployed):
    ds = deployed.datastores
    before = ds.psql("SELECT count(*) FROM statuses").strip()
    backup = ds.create_backup("stand-in test: the state as it is")  # restored, nothing changes
    env = dict(os.environ, ROLLBACK_DRILL_PG_LISTEN=ds.listen, ROLLBACK_DRILL_CLOUDSQL_PENDING_S="1",
               ROLLBACK_DRILL_CLOUDSQL_RESTORE_S="5", ROLLBACK_DRILL_GCLOUD_WAIT_S="2.5")
    try:
        t0 = time.monotonic()
        r = gcloud(env, "sql", "backups", "restore", backup["id"], "--restore-instance=mastodon-db",
                   "--backup-instance=mastodon-db")
        assert r.returncode == 1 and "is taking longer than expected" in r.stderr, (r.stdout, r.stderr)
        assert "gcloud sql operations wait --project" in r.stderr
        ops = gcloud(env, "sql", "operations", "list", "--instance=mastodon-db", "--limit=1")
        assert ops.returncode == 0 and "RESTORE_VOLUME" in ops.stdout and "RUNNING" in ops.stdout, ops.stdout
        with pytest.raises(DatastoreError, match="Connection refused"):
            ds.psql("SELECT 1", db="postgres")  # the instance is restarting: the server refuses everyone
        while "DONE" not in (out := gcloud(env, "sql", "operations", "list", "--instance=mastodon-db",
                                           "--limit=1").stdout):
            assert time.monotonic() - t0 < 30, out
            time.sleep(0.5)
        took = time.monotonic() - t0
        assert 6.0 <= took < 15, took  # pending 1 s + running 5 s, then the real pg_restore
        assert ds.psql("SELECT count(*) FROM statuses").strip() == before
    finally:
        for suffix in ("dump", "json"):
            (ds.backups / f"{backup['id']}.{suffix}").unlink(missing_ok=True)
        (ds.backups / "operations.json").unlink(missing_ok=True)
