"""PostgreSQL and Redis as StatefulSets in the drill's namespace: the stub's datastores on a cluster
the harness did not create.

Why StatefulSets and not Deployments: the runbook's Level 3 begins with
`kubectl scale deployment --all --replicas=0`, which must not stop the database, as it does not stop
Cloud SQL in production. The harness reaches them only through the API's exec (psql, redis-cli,
pg_dump run inside their pods), never through a port opened on someone else's cluster. Their data is
an emptyDir: the namespace, and everything in it, is removed after the drill.

The images are official-compatible (`POSTGRES_USER`/`POSTGRES_PASSWORD`, data in
/var/lib/postgresql/data; redis-server on PATH): on a team's cluster `--postgres-image postgres:15`
and `--redis-image redis:7` from its registry mirror; here the images built by sut/images.py.
"""

from __future__ import annotations

import json
import shlex
import time
from datetime import datetime, timezone

from rollback_drill.cluster.kube import Kube
from rollback_drill.sut.datastores import DB_NAME, DB_USER, INSTANCE, Credentials, DatastoreError

SECRET = "rollback-drill-datastores"
BACKUP_DIR = "/var/lib/postgresql/drill-backups"


def manifests(postgres_image: str, redis_image: str) -> list[dict]:
    """The two StatefulSets and their Services `postgres` and `redis` (the names the stub's env uses)."""
    out: list[dict] = []
    for name, image, port, env, command, mount in (
            ("postgres", postgres_image, 5432,
             [{"name": "POSTGRES_USER", "value": DB_USER},
              {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "db-password"}}}],
             None, "/var/lib/postgresql/data"),
            ("redis", redis_image, 6379,
             [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "redis-password"}}}],
             ["sh", "-c", 'exec redis-server --bind 0.0.0.0 --port 6379 --requirepass "$REDIS_PASSWORD" '
                          "--save '' --appendonly no --protected-mode no"], None)):
        labels = {"app": name, "app.kubernetes.io/managed-by": "rollback-drill"}
        container = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "env": env,
                     "ports": [{"name": name, "containerPort": port}],
                     "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 2}}
        if command:
            container["command"] = command
        volumes = []
        if mount:
            container["volumeMounts"] = [{"name": "data", "mountPath": mount}]
            volumes = [{"name": "data", "emptyDir": {}}]
        out.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "labels": labels},
                    "spec": {"serviceName": name, "replicas": 1, "selector": {"matchLabels": {"app": name}},
                             "template": {"metadata": {"labels": labels},
                                          "spec": {"terminationGracePeriodSeconds": 5, "containers": [container],
                                                   "volumes": volumes}}}})
        out.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels},
                    "spec": {"selector": {"app": name}, "ports": [{"name": name, "port": port, "targetPort": port}]}})
    return out


class InClusterDatastores:
    """The same questions as sut/datastores.Datastores (psql, redis, backups), answered in the pods."""

    def __init__(self, kube: Kube, creds: Credentials) -> None:
        self.kube, self._creds = kube, creds

    @property
    def creds(self) -> Credentials:
        return self._creds

    def create(self, postgres_image: str, redis_image: str) -> None:
        """Secret and StatefulSets; waits until both answer and the application database exists."""
        from kubernetes import client as k8s
        from kubernetes.utils import create_from_dict
        self.kube.core.create_namespaced_secret(self.kube.namespace, k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=SECRET, labels={"app.kubernetes.io/managed-by": "rollback-drill"}),
            string_data={"db-password": self._creds.db_password, "redis-password": self._creds.redis_password}))
        for obj in manifests(postgres_image, redis_image):
            create_from_dict(self.kube.api, obj, namespace=self.kube.namespace)
        self._wait(lambda: self.psql("SELECT 1", db="postgres").strip() == "1", "postgres")
        self._wait(lambda: self.redis("PING").strip() == "PONG", "redis")
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'", db="postgres").strip():
            self.psql(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}", db="postgres")
        self.kube.exec_in_pod("postgres-0", ["mkdir", "-p", BACKUP_DIR])

    def _wait(self, ok, what: str, timeout: float = 180) -> None:
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            try:
                if ok():
                    return
            except Exception as e:  # noqa: BLE001 - not scheduled, pulling, starting: keep waiting
                last = str(e).strip().splitlines()[-1][:200] if str(e).strip() else type(e).__name__
            time.sleep(1.0)
        raise DatastoreError(f"{what} in namespace {self.kube.namespace} did not answer within {timeout:.0f}s "
                             f"({last or 'no answer'}): is its image pullable by the cluster?")

    def _sh(self, pod: str, script: str, timeout: float = 120) -> str:
        code, out, err = self.kube.exec_in_pod(pod, ["sh", "-c", script], timeout=timeout)
        if code != 0:
            raise DatastoreError(f"{pod}: exit {code}: {(err or out).strip()[-400:]}")
        return out

    def psql(self, sql: str, db: str = DB_NAME) -> str:
        # the password comes from the pod's own environment, never from the exec request
        return self._sh("postgres-0", f'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U {DB_USER} -X -A -t '
                                      f"-v ON_ERROR_STOP=1 -d {db} -c {shlex.quote(sql)}")

    def redis(self, *args: str) -> str:
        return self._sh("redis-0", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ' + " ".join(shlex.quote(a) for a in args))

    def create_backup(self, description: str) -> dict:
        """pg_dump in the PostgreSQL pod, with gcloud-shaped metadata beside it."""
        backup_id = str(int(time.time() * 1000))
        self._sh("postgres-0", f'PGPASSWORD="$POSTGRES_PASSWORD" pg_dump -h 127.0.0.1 -U {DB_USER} -Fc -d {DB_NAME} '
                               f"-f {BACKUP_DIR}/{backup_id}.dump", timeout=600)
        meta = {"id": backup_id, "instance": INSTANCE, "status": "SUCCESSFUL", "type": "ON_DEMAND",
                "description": description, "windowStartTime": datetime.now(timezone.utc).isoformat(),
                "statuses_at_backup": int(self.psql("SELECT count(*) FROM statuses").strip() or 0)}
        self._sh("postgres-0", f"printf %s {shlex.quote(json.dumps(meta))} > {BACKUP_DIR}/{backup_id}.json")
        return meta

    def list_backups(self) -> list[dict]:
        out = self._sh("postgres-0", f"cat {BACKUP_DIR}/*.json 2>/dev/null; true")
        found = [json.loads(x) for x in out.replace("}{", "}\n{").splitlines() if x.strip()]
        return sorted(found, key=lambda b: b["id"], reverse=True)
