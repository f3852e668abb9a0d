"""PostgreSQL and Redis outside the cluster: the drill's Cloud SQL and Memorystore.

Why host processes from Debian's packages: they sit outside the application's lifecycle as in
production (`kubectl scale deployment --all --replicas=0` cannot stop them), need no registry,
and start in about a second. They listen only on the drill cluster's own bridge address, where
the pods reach them through the Services `postgres` and `redis` (no selector, manual endpoints).

PostgreSQL keeps "Cloud SQL" backups (pg_dump custom format plus a metadata file); the gcloud
stand-in (substitutions.py) lists and restores them.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rollback_drill.settings import state_dir

PG_PORT, REDIS_PORT = 15432, 16379
DB_NAME, DB_USER = "mastodon", "mastodon"
INSTANCE = "mastodon-db"


class DatastoreError(RuntimeError):
    pass


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise DatastoreError(f"PostgreSQL's {name} is missing: apt-get install -y postgresql")
    return found[-1]


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
        c = cls(*(secrets.token_urlsafe(18) for _ in range(4)))
        path.write_text(json.dumps(c.__dict__))
        path.chmod(0o600)
        return c

    def values(self) -> list[str]:
        return [self.db_password, self.redis_password, self.secret_key_base, self.seed_password]


class Datastores:
    def __init__(self, listen: str) -> None:
        self.listen = listen
        self.root = state_dir() / "datastores"
        self.pg_data = self.root / "pg"
        self.backups = self.root / "backups"
        self.sock_dir = self.root / "run"
        self.logs = state_dir() / "logs" / "datastores"

    @property
    def creds(self) -> Credentials:
        self.root.mkdir(parents=True, exist_ok=True)
        return Credentials.load_or_create(self.root / "credentials.json")

    # ---- lifecycle --------------------------------------------------------------------------
    def up(self) -> None:
        for d in (self.root, self.backups, self.sock_dir, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.sock_dir, "postgres", "postgres")
        (self.logs / "postgresql.log").touch()
        shutil.chown(self.logs / "postgresql.log", "postgres", "postgres")
        self._redis_up()
        self._pg_up()

    def down(self) -> None:
        if self._pg_running():
            subprocess.run(["runuser", "-u", "postgres", "--", _pg_bin("pg_ctl"), "-D", str(self.pg_data),
                            "-m", "immediate", "-w", "stop"], capture_output=True)
        rp = self.root / "redis.pid"
        if rp.exists():
            try:
                os.kill(int(rp.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
            rp.unlink(missing_ok=True)

    def destroy(self) -> None:
        """Stop and delete all data, backups and credentials (a fresh 'Cloud SQL')."""
        self.down()
        shutil.rmtree(self.root, ignore_errors=True)

    def _redis_up(self) -> None:
        if self._redis_ping():
            return
        conf = self.root / "redis.conf"
        conf.write_text(f"bind {self.listen}\nport {REDIS_PORT}\nrequirepass {self.creds.redis_password}\n"
                        f"daemonize yes\npidfile {self.root / 'redis.pid'}\ndir {self.root}\n"
                        f"logfile {self.logs / 'redis.log'}\nsave \"\"\nappendonly yes\nprotected-mode yes\n")
        conf.chmod(0o600)
        subprocess.run(["redis-server", str(conf)], check=True, capture_output=True)
        self._wait(self._redis_ping, "Redis", self.logs / "redis.log")

    def _redis_ping(self) -> bool:
        if not (self.root / "redis.pid").exists():
            return False
        env = dict(os.environ, REDISCLI_AUTH=self.creds.redis_password)
        p = subprocess.run(["redis-cli", "-h", self.listen, "-p", str(REDIS_PORT), "ping"],
                           capture_output=True, text=True, env=env)
        return p.stdout.strip() == "PONG"

    def _pg_up(self) -> None:
        if not (self.pg_data / "PG_VERSION").exists():
            shutil.rmtree(self.pg_data, ignore_errors=True)
            self.pg_data.mkdir(parents=True)
            shutil.chown(self.pg_data, "postgres", "postgres")
            pw = self.root / "pgpass.tmp"
            pw.write_text(self.creds.db_password)
            shutil.chown(pw, "postgres", "postgres")
            pw.chmod(0o600)
            try:
                self._as_postgres([_pg_bin("initdb"), "-D", str(self.pg_data), "-U", DB_USER,
                                   "--auth=scram-sha-256", f"--pwfile={pw}", "-E", "UTF8", "--no-sync"])
            finally:
                pw.unlink(missing_ok=True)
            with (self.pg_data / "pg_hba.conf").open("w") as f:
                f.write("local all all scram-sha-256\nhost all all 0.0.0.0/0 scram-sha-256\n")
        if not self._pg_running():
            opts = (f"-c listen_addresses={self.listen} -p {PG_PORT} -c unix_socket_directories={self.sock_dir} "
                    f"-c fsync=off -c full_page_writes=off -c synchronous_commit=off")
            self._as_postgres([_pg_bin("pg_ctl"), "-D", str(self.pg_data), "-o", opts,
                               "-l", str(self.logs / "postgresql.log"), "-w", "-t", "30", "start"])
        if not self.psql("SELECT 1 FROM pg_database WHERE datname = 'mastodon'", db="postgres").strip():
            self.psql(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}", db="postgres")

    def _pg_running(self) -> bool:
        """pg_ctl's own answer: a postmaster.pid left by a killed server does not count."""
        if not (self.pg_data / "postmaster.pid").exists():
            return False
        p = subprocess.run(["runuser", "-u", "postgres", "--", _pg_bin("pg_ctl"), "-D", str(self.pg_data), "status"],
                           capture_output=True, text=True)
        return p.returncode == 0

    def _as_postgres(self, cmd: list[str]) -> None:
        p = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True)
        if p.returncode != 0:
            raise DatastoreError(f"{Path(cmd[0]).name} failed: {p.stderr.strip()[-600:]} "
                                 f"(log: {self.logs / 'postgresql.log'})")

    def _wait(self, ok, what: str, log: Path, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            time.sleep(0.1)
        raise DatastoreError(f"{what} did not start within {timeout:.0f}s (log: {log})")

    # ---- SQL and backups ----------------------------------------------------------------------
    def _pg_env(self) -> dict[str, str]:
        return dict(os.environ, PGPASSWORD=self.creds.db_password, PGHOST=self.listen, PGPORT=str(PG_PORT),
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
        subprocess.run(["redis-cli", "-h", self.listen, "-p", str(REDIS_PORT), "flushall"], capture_output=True, env=env)
