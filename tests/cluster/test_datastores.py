"""PostgreSQL and Redis are containers on the host's Docker engine, started through
testcontainers from locally built images, published on the drill cluster's bridge address only,
and reached by the pods through the Services `postgres` and `redis`."""

import json
import subprocess

from rollback_drill.sut.datastores import CONTAINERS, LABEL, PG_PORT, REDIS_PORT


def test_after_deploy_docker_runs_the_two_datastore_containers_and_the_pods_use_them(deployed):
    out = subprocess.run(["docker", "ps", "--filter", f"label={LABEL}", "--format", "{{json .}}"],
                         capture_output=True, text=True, check=True).stdout
    rows = {r["Names"]: r for r in map(json.loads, out.splitlines())}
    assert set(rows) == {name for name, _, _ in CONTAINERS.values()}, rows
    host = deployed.datastores.listen
    assert f"{host}:{PG_PORT}->5432/tcp" in rows["rollback-drill-postgres"]["Ports"]
    assert f"{host}:{REDIS_PORT}->6379/tcp" in rows["rollback-drill-redis"]["Ports"]
    assert "0.0.0.0" not in rows["rollback-drill-postgres"]["Ports"]  # only the drill's bridge
    assert all(r["Image"].startswith("rollback-drill/") for r in rows.values())  # built here, never pulled
    # the application (a pod) reads the database through the Service `postgres`
    v = deployed.kube.kubectl("exec", "deployment/mastodon-helm-web", "--", "bundle", "exec", "rails",
                              "db:version").stdout
    assert "Current version" in v, v
