"""PostgreSQL and Redis are containers on the host's Docker engine, started through
testcontainers from locally built images, published on the drill cluster's bridge address only,
and reached by the pods through the Services `postgres` and `redis`."""

import json
import subprocess

from rollback_drill.sut.datastores import LABEL


def test_after_deploy_docker_runs_the_two_datastore_containers_and_the_pods_use_them(deployed):
    out = subprocess.run(["docker", "ps", "--filter", f"label={LABEL}", "--format", "{{json .}}"],
                         capture_output=True, text=True, check=True).stdout
    rows = {r["Names"]: r for r in map(json.loads, out.splitlines())}
    ds = deployed.datastores  # this lane's pair (drills side by side each have their own)
    (pg, _, pg_port), (redis, _, redis_port) = ds.containers["postgres"], ds.containers["redis"]
    assert {pg, redis} <= set(rows), rows
    assert f"{ds.listen}:{pg_port}->5432/tcp" in rows[pg]["Ports"]
    assert f"{ds.listen}:{redis_port}->6379/tcp" in rows[redis]["Ports"]
    assert "0.0.0.0" not in rows[pg]["Ports"]  # only the drill's bridge
    assert all(r["Image"].startswith("rollback-drill/") for r in rows.values())  # built here, never pulled
    # the application (a pod) reads the database through the Service `postgres`
    v = deployed.kube.kubectl("exec", "deployment/mastodon-helm-web", "--", "bundle", "exec", "rails",
                              "db:version").stdout
    assert "Current version" in v, v
