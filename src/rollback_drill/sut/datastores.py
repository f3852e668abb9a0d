"""PostgreSQL and Redis outside the cluster: the drill's Cloud SQL and Memorystore.

Why containers on the host's Docker engine, started through testcontainers: they sit outside the
application's lifecycle as in production (`kubectl scale deployment --all --replicas=0` cannot stop
them), and a container is the unit a Python SRE expects to start, inspect (`docker ps`) and throw
away. No registry is reachable: the images are built locally from Debian packages (sut/images.py)
and loaded into Docker, and testcontainers starts them without pulling. Their ports are published
on the drill cluster's bridge address only, where the pods reach them through the Services
`postgres` and `redis` (no selector, manual endpoints). The database lives in the named volume
`rollback-drill-pgdata`; `cluster down` removes containers, volume and anything else labelled ours.

PostgreSQL keeps "Cloud SQL" backups (pg_dump custom format plus a metadata file); the gcloud
stand-in (sut/cloudsql.py) lists and restores them.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rollback_drill.cluster import Cluster
from rollback_drill.settings import lane as current_lane, lane_dir, lane_paths_present

PG_PORT, REDIS_PORT = 15432, 16379  # lane 0's; lane n adds 10 n (a lane's datastores are its own containers)
DB_NAME, DB_USER = "mastodon", "mastodon"
INSTANCE = "mastodon-db"
LABEL = "rollback-drill.role"  # every container and volume of ours carries it (cleanup finds them by it)
CONTAINERS = {"postgres": ("rollback-drill-postgres", 5432, PG_PORT),
              "redis": ("rollback-drill-redis", 6379, REDIS_PORT)}
PG_VOLUME = "rollback-drill-pgdata"


def containers(lane: int) -> dict[str, tuple[str, int, int]]:
    """The lane's containers (name, port inside, published port): lane 0 keeps the historic names.
    Why a container pair per lane and not a database per lane: `reset_database` flushes Redis and a
    restore drops the database by name; two drills side by side must not see each other's."""
    if lane == 0:
        return CONTAINERS
    return {kind: (f"{name}-lane{lane}", port, host_port + 10 * lane)
            for kind, (name, port, host_port) in CONTAINERS.items()}


class DatastoreError(RuntimeError):
    pass


@dataclass
class Credentials:
    """Generated once per datastore directory; stored 0600, never printed (evidence redacts them)."""

    db_password: str
    redis_password: str
    secret_key_base: str
    seed_password: str

    @classmethod
    def load_or_create(cls, path: Path) -> "Credentials":
        if path.exists():
            return cls(**json.loads(path.read_text()))
        from rollback_drill.untrusted import write_private
        c = cls(*(secrets.token_urlsafe(18) for _ in range(4)))
        write_private(path, json.dumps(c.__dict__))
        return c

    def values(self) -> list[str]:
        return [self.db_password, self.redis_password, self.secret_key_base, self.seed_password]


def docker_client():
    """The Docker engine (DOCKER_HOST or the default socket); DatastoreError says how to start one."""
    import docker
    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as e:  # noqa: BLE001 - any failure: no engine to talk to
        raise DatastoreError(f"no Docker engine answers ({type(e).__name__}): install docker.io and start dockerd "
                             f"(scripts/setup.sh does both)") from None


class Datastores:
    def __init__(self, listen: str, lane: int | None = None) -> None:
        self.listen = listen
        self.lane = current_lane() if lane is None else lane
        self.containers = containers(self.lane)
        self.pg_port, self.redis_port = self.containers["postgres"][2], self.containers["redis"][2]
        self.volume = PG_VOLUME if self.lane == 0 else f"{PG_VOLUME}-lane{self.lane}"
        self.root = lane_dir("datastores", self.lane)
        self.backups = self.root / "backups"

    @property
    def creds(self) -> Credentials:
        self.root.mkdir(parents=True, exist_ok=True)
        return Credentials.load_or_create(self.root / "credentials.json")

    # ---- lifecycle --------------------------------------------------------------------------
    def running(self) -> bool:
        """Both containers run (the data in the volume survives between drills)."""
        try:
            client = docker_client()
        except DatastoreError:
            return False
        import docker.errors
        try:
            return all(client.containers.get(name).status == "running" for name, _, _ in self.containers.values())
        except docker.errors.NotFound:
            return False

    def up(self) -> None:
        self._retire_host_processes()
        self.backups.mkdir(parents=True, exist_ok=True)
        c = self.creds
        self._container("redis", {"REDIS_PASSWORD": c.redis_password})
        self._container("postgres", {"POSTGRES_USER": DB_USER, "POSTGRES_PASSWORD": c.db_password},
                        volume=(self.volume, "/var/lib/postgresql/data"))
        self._wait(lambda: self._try(lambda: self.psql("SELECT 1", db="postgres")), "postgres")
        self._wait(self._redis_ping, "redis")
        if not self.psql("SELECT 1 FROM pg_database WHERE datname = 'mastodon'", db="postgres").strip():
            self.psql(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}", db="postgres")

    def stop_server(self) -> None:
        """PostgreSQL stops as an instance restarting does: a fast shutdown (SIGINT: every session is ended,
        as Cloud SQL's restart drops its connections), and from then on connections are refused. `up()`
        starts it again (the data is in the volume)."""
        import docker.errors
        try:
            c = docker_client().containers.get(self.containers["postgres"][0])
            # the postmaster itself (the container's PID 1 is runuser, which passes no signal on)
            code, out = c.exec_run(["sh", "-c", "kill -INT $(head -1 /var/lib/postgresql/data/postmaster.pid)"])
            if code != 0:
                raise DatastoreError(f"cannot stop PostgreSQL: {out.decode(errors='replace').strip()[:300]}")
            c.wait(timeout=60)  # the postmaster gone, runuser and the container end
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:  # already stopped
            if "is not running" not in str(e):
                raise DatastoreError(f"cannot stop the postgres container: {str(e)[:300]}") from None

    def _container(self, kind: str, env: dict[str, str], volume: tuple[str, str] | None = None) -> None:
        """Start `kind` through testcontainers unless it already runs (no pull, no reaper: `down` removes it)."""
        import docker.errors
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer

        from rollback_drill.sut.images import datastore_image
        client = docker_client()
        name, port, host_port = self.containers[kind]
        try:
            existing = client.containers.get(name)
            if existing.status == "running":
                return
            existing.remove(force=True)
        except docker.errors.NotFound:
            pass
        image = datastore_image(kind)
        try:
            client.images.get(image.name)
        except docker.errors.ImageNotFound:
            with image.archive.open("rb") as f:
                client.images.load(f.read())
        testcontainers_config.ryuk_disabled = True  # the reaper image cannot be pulled here; we clean up
        # shm: PostgreSQL's parallel workers need more than Docker's default 64 MB (VACUUM, index builds)
        c = DockerContainer(image.name).with_name(name).with_kwargs(labels={LABEL: kind}, shm_size="512m")
        for k, v in env.items():
            c = c.with_env(k, v)
        c.ports[f"{port}/tcp"] = (self.listen, host_port)
        if volume:
            c = c.with_volume_mapping(volume[0], volume[1], "rw")
        try:
            c.start()
        except Exception as e:  # noqa: BLE001 - e.g. the port is taken or the bridge address is gone
            raise DatastoreError(f"cannot start the {kind} container {name}: {str(e).strip()[:400]}") from None

    def down(self) -> None:
        """Remove our containers and the database volumes of every lane (nothing of ours stays in
        Docker); the backups of databases that no longer exist go with them."""
        import shutil
        for root in lane_paths_present("datastores"):
            shutil.rmtree(root / "backups", ignore_errors=True)
        try:
            client = docker_client()
        except DatastoreError:
            return
        for c in client.containers.list(all=True, filters={"label": LABEL}):
            c.remove(force=True)
        for v in client.volumes.list(filters={"label": LABEL}) + [
                v for v in client.volumes.list() if v.name.startswith(PG_VOLUME)]:
            try:
                v.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone (listed twice)
                pass

    def _retire_host_processes(self) -> None:
        """Earlier versions ran PostgreSQL and Redis as host processes on the same ports: stop them."""
        import glob
        import shutil
        import signal
        legacy = self.root / "pg"
        if (legacy / "postmaster.pid").exists():
            pg_ctl = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
            if pg_ctl:
                subprocess.run(["runuser", "-u", "postgres", "--", pg_ctl[-1], "-D", str(legacy), "-m", "immediate",
                                "-w", "stop"], capture_output=True)
        for old in (legacy, self.root / "run", self.root / "appendonlydir"):
            shutil.rmtree(old, ignore_errors=True)
        (self.root / "redis.conf").unlink(missing_ok=True)
        pid = self.root / "redis.pid"
        if pid.exists():
            try:
                os.kill(int(pid.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
            pid.unlink(missing_ok=True)

    def redis(self, *args: str) -> str:
        """One redis-cli command against the drill's Redis (password by environment, never argv)."""
        env = dict(os.environ, REDISCLI_AUTH=self.creds.redis_password)
        p = subprocess.run(["redis-cli", "-h", self.listen, "-p", str(self.redis_port), *args], capture_output=True,
                           text=True, env=env)
        if p.returncode != 0 or p.stdout.startswith("ERR"):
            raise DatastoreError(f"redis-cli {args[0]} failed: {(p.stderr or p.stdout).strip()[:200]}")
        return p.stdout.strip()

    def _redis_ping(self) -> bool:
        env = dict(os.environ, REDISCLI_AUTH=self.creds.redis_password)
        p = subprocess.run(["redis-cli", "-h", self.listen, "-p", str(self.redis_port), "ping"],
                           capture_output=True, text=True, env=env)
        return p.stdout.strip() == "PONG"

    @staticmethod
    def _try(fn) -> bool:
        try:
            fn()
            return True
        except DatastoreError:
            return False

    def _wait(self, ok, kind: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            time.sleep(0.25)
        raise DatastoreError(f"{kind} did not answer within {timeout:.0f}s (docker logs {self.containers[kind][0]})")

    # ---- SQL and backups ----------------------------------------------------------------------
    def _pg_env(self) -> dict[str, str]:
        return dict(os.environ, PGPASSWORD=self.creds.db_password, PGHOST=self.listen, PGPORT=str(self.pg_port),
                    PGUSER=DB_USER)

    def psql(self, sql: str, db: str = DB_NAME) -> str:
        p = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                           capture_output=True, text=True, env=self._pg_env())
        if p.returncode != 0:
            raise DatastoreError(f"psql failed: {p.stderr.strip()}")
        return p.stdout

    def create_backup(self, description: str) -> dict:
        """An on-demand 'Cloud SQL' backup: pg_dump plus metadata shaped like gcloud's output."""
        backup_id = str(int(time.time() * 1000))
        dump = self.backups / f"{backup_id}.dump"
        dump.touch(mode=0o600)  # password hashes: 0600 from the start (pg_dump keeps an existing file's mode)
        os.chmod(dump, 0o600)
        p = subprocess.run(["pg_dump", "-Fc", "-d", DB_NAME, "-f", str(dump)], capture_output=True, text=True,
                           env=self._pg_env())
        if p.returncode != 0:
            raise DatastoreError(f"pg_dump failed: {p.stderr.strip()}")
        meta = {"id": backup_id, "instance": INSTANCE, "status": "SUCCESSFUL", "type": "ON_DEMAND",
                "description": description, "windowStartTime": datetime.now(timezone.utc).isoformat(),
                "statuses_at_backup": int(self.psql("SELECT count(*) FROM statuses").strip() or 0)}
        (self.backups / f"{backup_id}.json").write_text(json.dumps(meta))
        return meta

    def list_backups(self) -> list[dict]:
        out = [json.loads(p.read_text()) for p in self.backups.glob("*.json") if p.stem.isdigit()]  # not operations.json
        return sorted(out, key=lambda b: b["id"], reverse=True)

    def restore_backup(self, backup_id: str) -> None:
        dump = self.backups / f"{backup_id}.dump"
        if not dump.exists():
            raise DatastoreError(f"backup {backup_id} does not exist")
        self.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{DB_NAME}' "
                  f"AND pid <> pg_backend_pid()", db="postgres")
        self.psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", db="postgres")
        self.psql(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}", db="postgres")
        p = subprocess.run(["pg_restore", "--no-owner", "-d", DB_NAME, str(dump)], capture_output=True, text=True,
                           env=self._pg_env())
        if p.returncode != 0:
            raise DatastoreError(f"pg_restore failed: {p.stderr.strip()}")

    def reset_database(self) -> None:
        """An empty application database (the datastores themselves keep running)."""
        self.psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", db="postgres")
        self.psql(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}", db="postgres")
        for p in self.backups.glob("*"):
            p.unlink()
        env = dict(os.environ, REDISCLI_AUTH=self.creds.redis_password)
        subprocess.run(["redis-cli", "-h", self.listen, "-p", str(self.redis_port), "flushall"], capture_output=True,
                       env=env)


def removed_with(cluster: Cluster) -> Cluster:
    """`cluster`, made to remove the drill's datastores whenever it goes down (also after a failed
    `up`): on the local provider they listen on its bridge and must stop before the bridge goes; on
    kind they live on the runner's Docker beside it. The cluster knows nothing of them, so whoever
    brings a cluster up or down for a drill (the CLI, the runner, the tests' fixtures) calls this.
    `Datastores.down` finds them by their label, so the listen address plays no part."""
    return cluster.add_teardown(lambda: Datastores("127.0.0.1").down())
