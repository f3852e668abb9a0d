"""The system under test's images: the stub Mastodon and its datastores (PostgreSQL, Redis).

Built with the cluster's offline pipeline (cluster/images.py: a Debian rootfs cached by its
package list plus a small layer of our files, written as an OCI archive whose tag is the content
hash) and handed to `Cluster.load_image` by whoever deploys them.
"""

from __future__ import annotations

import os

from rollback_drill import FIXTURES
from rollback_drill.cluster.images import (REPO, Image, debian_rootfs, images_dir, layer_from_files, sha,
                                           write_oci_archive)

STUB_PACKAGES = ("python3", "python3-aiohttp", "python3-psycopg2", "python3-redis", "postgresql-client",
                 "ca-certificates", "procps")


def stub_image() -> Image:
    """The stub Mastodon: Debian + Python libraries, then our app files as the top layer."""
    base = debian_rootfs(STUB_PACKAGES)
    app_dir = FIXTURES / "images" / "mastodon-stub"
    files: dict[str, tuple[bytes, int]] = {}
    for p in sorted(app_dir.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            rel = p.relative_to(app_dir).as_posix()
            mode = 0o755 if os.access(p, os.X_OK) else 0o644
            files["opt/mastodon/" + rel] = (p.read_bytes(), mode)
    layer = layer_from_files(files)
    key = sha(base.name.encode() + layer)[:12]
    name = f"{REPO}/mastodon-stub:{key}"
    out = images_dir() / f"mastodon-stub-{key}.oci.tar"
    if not out.exists():
        config = {"Env": ["PATH=/opt/mastodon/bin:/usr/local/bin:/usr/bin:/bin", "PYTHONUNBUFFERED=1"],
                  "WorkingDir": "/opt/mastodon", "Cmd": ["mastodon-stub", "web"]}
        write_oci_archive(name, [(base.read_bytes(), True), (layer, False)], config, out)
    return Image(name, out)


# ---- the datastores (PostgreSQL and Redis as Docker containers, started through testcontainers) --
DATASTORE_PACKAGES = ("postgresql-15", "postgresql-client-15", "redis-server", "ca-certificates")
POSTGRES_ENTRYPOINT = """#!/bin/sh
# PostgreSQL for the drill ("Cloud SQL"): initialise the data directory once, then run in the foreground.
set -e
BIN=/usr/lib/postgresql/15/bin
PGDATA=/var/lib/postgresql/data
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  umask 077
  printf '%s' "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
  runuser -u postgres -- "$BIN/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --auth=scram-sha-256 \
    --pwfile=/tmp/pwfile -E UTF8 --no-sync >/dev/null
  rm -f /tmp/pwfile
  printf 'local all all scram-sha-256\nhost all all 0.0.0.0/0 scram-sha-256\n' > "$PGDATA/pg_hba.conf"
fi
mkdir -p /run/postgresql && chown postgres:postgres /run/postgresql
exec runuser -u postgres -- "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' -p 5432 \
  -c fsync=off -c full_page_writes=off -c synchronous_commit=off
"""
REDIS_ENTRYPOINT = """#!/bin/sh
# Redis for the drill ("Memorystore"): password from the environment, nothing persisted.
exec redis-server --bind 0.0.0.0 --port 6379 --requirepass "$REDIS_PASSWORD" --save '' --appendonly no \
  --protected-mode no
"""


def datastore_image(kind: str) -> Image:
    """`postgres` or `redis`: one Debian rootfs with both servers, a small entrypoint layer each."""
    entry = {"postgres": POSTGRES_ENTRYPOINT, "redis": REDIS_ENTRYPOINT}[kind]
    base = debian_rootfs(DATASTORE_PACKAGES)
    layer = layer_from_files({f"usr/local/bin/drill-{kind}": (entry.encode(), 0o755)})
    key = sha(base.name.encode() + layer)[:12]
    name = f"{REPO}/{kind}:{key}"
    out = images_dir() / f"{kind}-{key}.oci.tar"
    if not out.exists():
        config = {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"], "Cmd": [f"/usr/local/bin/drill-{kind}"]}
        write_oci_archive(name, [(base.read_bytes(), True), (layer, False)], config, out)
    return Image(name, out)
