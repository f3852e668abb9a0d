"""Benchmark: real pg_dump / pg_restore time against database size (not a test). Writes
bench/results/restore.json: points [{size_mb, dump_s, restore_s, rows}], the fits (a line and a power
law) and the projection for a production size (--db-size GB, default the runbook sidecar's, else 10
GB) as a range (sut/restore_model.py: the line's 95 % prediction interval and the power law).

A scratch database `restore_bench` on the drill's PostgreSQL (started if needed, never the
application's database) is seeded with Mastodon-shaped rows — accounts, statuses with text,
media attachment records with metadata, and the indexes Mastodon keeps on them — grown to each
size in turn (default five sizes from 256 MB to 3.2 GB), dumped with `pg_dump -Fc` (what the drill's
backups use) and restored into a fresh database with `pg_restore -j <cores>` (parallel jobs, as a team
restoring a large dump would run it; indexes rebuilt, as a restore does). Everything it creates is
dropped at the end, also on Ctrl-C.

What it measures is this machine's PostgreSQL, not Cloud SQL: a Cloud SQL restore is a managed
operation (the instance restarts; no published duration per GB), modelled separately and said to be
assumed by the fidelity profile. The projection is therefore never set beside the level's target.
  .venv/bin/python bench/restore_bench.py [--sizes 256,512,1024,2048,3200] [--db-size 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.cluster import get_cluster
from rollback_drill.runbook.model import load_runbook
from rollback_drill.sut.datastores import Datastores
from rollback_drill.sut.restore_model import fit, project, project_range

ROOT = Path(__file__).resolve().parents[1]
DB, RESTORED = "restore_bench", "restore_bench_restored"
SCHEMA = """
CREATE TABLE accounts (id bigserial PRIMARY KEY, username text NOT NULL, domain text, display_name text NOT NULL,
  note text NOT NULL, uri text NOT NULL, url text, avatar_file_name text, header_file_name text,
  followers_count int NOT NULL DEFAULT 0, statuses_count int NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE UNIQUE INDEX index_accounts_on_username_and_domain_lower ON accounts (lower(username), coalesce(lower(domain), ''));
CREATE INDEX index_accounts_on_uri ON accounts (uri);
CREATE TABLE statuses (id bigserial PRIMARY KEY, uri text, text text NOT NULL, spoiler_text text NOT NULL DEFAULT '',
  account_id bigint NOT NULL REFERENCES accounts, in_reply_to_id bigint, reblog_of_id bigint, visibility int NOT NULL,
  language text, sensitive boolean NOT NULL DEFAULT false, local boolean, deleted_at timestamptz,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE INDEX index_statuses_20190820 ON statuses (account_id, id DESC, visibility, updated_at) WHERE deleted_at IS NULL;
CREATE INDEX index_statuses_on_in_reply_to_id ON statuses (in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
CREATE INDEX index_statuses_on_reblog_of_id_and_account_id ON statuses (reblog_of_id, account_id);
CREATE UNIQUE INDEX index_statuses_on_uri ON statuses (uri);
CREATE TABLE media_attachments (id bigserial PRIMARY KEY, status_id bigint REFERENCES statuses,
  account_id bigint REFERENCES accounts, file_file_name text, file_content_type text, file_file_size int,
  file_meta jsonb, remote_url text NOT NULL DEFAULT '', description text, blurhash text, type int NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE INDEX index_media_attachments_on_status_id ON media_attachments (status_id);
CREATE INDEX index_media_attachments_on_account_and_id ON media_attachments (account_id, id);
"""
# One batch: 2,000 accounts, 100,000 statuses (~1 in 5 a reply), 20,000 media records.
BATCH = """
WITH a AS (
  INSERT INTO accounts (username, domain, display_name, note, uri, url, avatar_file_name, followers_count,
                        statuses_count, created_at, updated_at)
  SELECT 'user' || n || '_' || @B@, CASE WHEN n % 3 = 0 THEN 'remote' || (n % 97) || '.example' END,
         'Display ' || md5(n::text), md5(random()::text) || ' ' || md5(random()::text) || ' ' || md5(random()::text), 'https://x.example/users/' || n || '_' || @B@,
         'https://x.example/@' || n, md5(n::text) || '.png', n % 1000, n % 5000, now() - (n || ' min')::interval, now()
  FROM generate_series(1, 2000) n RETURNING id)
SELECT count(*) FROM a;
INSERT INTO statuses (uri, text, account_id, in_reply_to_id, visibility, language, local, created_at, updated_at)
SELECT 'https://x.example/statuses/' || @B@ || '/' || n,
       '<p>' || (SELECT string_agg(md5(random()::text || g), ' ') FROM generate_series(1, 3 + n % 8) g)
       || '</p>',
       (SELECT max(id) FROM accounts) - (n % 2000),
       CASE WHEN n % 5 = 0 THEN n - 1 END, n % 4, CASE WHEN n % 2 = 0 THEN 'ja' ELSE 'en' END, n % 3 <> 0,
       now() - (n || ' s')::interval, now()
FROM generate_series(1, 100000) n;
INSERT INTO media_attachments (status_id, account_id, file_file_name, file_content_type, file_file_size, file_meta,
                               description, blurhash, created_at, updated_at)
SELECT (SELECT max(id) FROM statuses) - ((n * 5) % 100000), (SELECT max(id) FROM accounts) - (n % 2000), md5(n::text) || '.jpg',
       'image/jpeg', 50000 + n % 900000,
       jsonb_build_object('original', jsonb_build_object('width', 1200, 'height', 900, 'size', '1200x900'),
                          'small', jsonb_build_object('width', 400, 'height', 300), 'focus', jsonb_build_object('x', 0, 'y', 0)),
       'alt text ' || md5(random()::text), 'UKO2?U%2Tw=w]~RBVZRi};RPxuwH', now(), now()
FROM generate_series(1, 20000) n;
"""


def psql(ds: Datastores, sql: str, db: str = DB) -> str:
    p = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", db], input=sql,
                       capture_output=True, text=True, env=ds._pg_env())
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip()[:500])
    return p.stdout.strip()


def size_mb(ds: Datastores, db: str = DB) -> float:
    return int(psql(ds, f"SELECT pg_database_size('{db}')", "postgres")) / 2 ** 20


def rows(ds: Datastores, db: str) -> dict:
    return {t: int(psql(ds, f"SELECT count(*) FROM {t}", db)) for t in ("accounts", "statuses", "media_attachments")}


def drop(ds: Datastores) -> None:
    for db in (DB, RESTORED):
        psql(ds, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", "postgres")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,512,1024,2048,3200", help="database sizes in MB, ascending")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="pg_restore -j (default: the cores)")
    ap.add_argument("--db-size", type=float, default=None, help="production size in GB to project")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "restore.json"))
    args = ap.parse_args()
    try:
        sizes = sorted({float(s) for s in args.sizes.split(",")})
    except ValueError:
        print(f"restore_bench: --sizes {args.sizes!r}: expected sizes in MB separated by commas, e.g. 256,512",
              file=sys.stderr)
        return 2
    if len(sizes) < 2 or sizes[0] <= 0:
        print(f"restore_bench: --sizes {args.sizes!r}: at least two different sizes above 0 MB (a fit needs two "
              f"points; five give it a range), e.g. --sizes 64,128", file=sys.stderr)
        return 2
    production = args.db_size if args.db_size is not None else \
        load_runbook(DEFAULT_RUNBOOK).sidecar.get("database_size_gb") or 10.0
    ds = Datastores(get_cluster().pod_host_address)
    ds.up()
    drop(ds)
    psql(ds, f"CREATE DATABASE {DB}", "postgres")
    psql(ds, SCHEMA)
    points, batch = [], 0
    restore_cmd = ["pg_restore", "--no-owner", "-j", str(args.jobs)]
    t_all = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="restore-bench-") as tmp:
            dump = Path(tmp) / "bench.dump"
            for target in sizes:
                t_seed = time.monotonic()
                while size_mb(ds) < target:
                    batch += 1
                    psql(ds, BATCH.replace("@B@", str(batch)))
                seed_s = time.monotonic() - t_seed
                psql(ds, "VACUUM ANALYZE")
                mb = size_mb(ds)
                t0 = time.monotonic()
                subprocess.run(["pg_dump", "-Fc", "-d", DB, "-f", str(dump)], check=True, env=ds._pg_env())
                dump_s = time.monotonic() - t0
                psql(ds, f"DROP DATABASE IF EXISTS {RESTORED} WITH (FORCE)", "postgres")
                psql(ds, f"CREATE DATABASE {RESTORED}", "postgres")
                t0 = time.monotonic()
                subprocess.run(restore_cmd + ["-d", RESTORED, str(dump)], check=True, env=ds._pg_env())
                restore_s = time.monotonic() - t0
                point = {"size_mb": round(mb, 1), "dump_mb": round(dump.stat().st_size / 2 ** 20, 1),
                         "dump_s": round(dump_s, 2), "restore_s": round(restore_s, 2), "seed_s": round(seed_s, 1),
                         "rows": rows(ds, RESTORED)}
                assert point["rows"] == rows(ds, DB), "the restored database differs from the dumped one"
                points.append(point)
                print(json.dumps(point), flush=True)
    finally:
        drop(ds)
    if len({p["size_mb"] for p in points}) < 2:
        print(f"restore_bench: the sizes asked for ({args.sizes}) all ended at {points[0]['size_mb']} MB (the seed adds "
              f"about 70 MB at a time): ask for sizes further apart, e.g. --sizes 64,128", file=sys.stderr)
        return 2
    f = fit(points)
    proj = project(f, production)
    rng = project_range(points, production)
    out = {"benchmark": "restore", "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                       "postgres": psql(ds, "SHOW server_version", "postgres")},
           "method": f"pg_dump -Fc / {' '.join(restore_cmd)} of a scratch database seeded with Mastodon-shaped "
                     "rows (accounts, statuses, media_attachments and their indexes) on this machine's PostgreSQL",
           "restore_command": " ".join(restore_cmd),
           "not": "Cloud SQL: its restore is a managed operation (instance restart, no published duration per GB); "
                  "the fidelity profile models it as an assumption",
           "points": points, "fit": f,
           "projection": {"size_gb": production, "restore_s": round(proj, 1), "restore_min": round(proj / 60, 1),
                          "range_s": [rng["low_s"], rng["high_s"]], "line_s": rng["line_s"], "power_s": rng["power_s"],
                          "extrapolation": rng["extrapolation"],
                          "range": "from the lowest to the highest of the line's 95 % prediction interval and the "
                                   "power law at this size"},
           "wall_s": round(time.monotonic() - t_all, 1)}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"restore of {production:g} GB on this machine's PostgreSQL ({' '.join(restore_cmd)}): "
          f"{rng['low_s'] / 60:.1f}-{rng['high_s'] / 60:.1f} min ({rng['extrapolation']:g}x beyond the largest size "
          f"measured; not Cloud SQL); written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
