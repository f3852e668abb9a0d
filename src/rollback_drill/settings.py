"""Where the harness keeps things outside the repository, and the defaults every part shares.

Why outside the repo: a cold build of Kubernetes takes tens of minutes; the cache survives a
fresh checkout (CI clones anew on the same machine), keyed by version/content so it is safe.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Build cache (binaries, images, Go caches): $ROLLBACK_DRILL_CACHE or /var/cache/rollback-drill."""
    d = Path(os.environ.get("ROLLBACK_DRILL_CACHE", "/var/cache/rollback-drill"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def state_dir() -> Path:
    """Live cluster state (pki, etcd data, kubeconfig, logs): $ROLLBACK_DRILL_STATE or /var/lib/rollback-drill."""
    d = Path(os.environ.get("ROLLBACK_DRILL_STATE", "/var/lib/rollback-drill"))
    d.mkdir(parents=True, exist_ok=True)
    return d


LANE_ENV = "ROLLBACK_DRILL_LANE"
MAX_LANES = 8  # lanes 0..7: each its own namespace, host, datastores, work dir (drills side by side)


class LaneError(ValueError):
    """$ROLLBACK_DRILL_LANE is not a lane number (bad input: exit 2)."""


def lane() -> int:
    """Which lane this process drills in: $ROLLBACK_DRILL_LANE (0, the default, is the drill cluster's
    own `mastodon` namespace). Why an environment variable: the lane must reach every process of a
    drill — the gcloud stand-in the runbook's commands start, a pytest-xdist worker, a mutant's drill."""
    raw = os.environ.get(LANE_ENV, "0").strip() or "0"
    if not raw.isdigit() or not 0 <= int(raw) < MAX_LANES:
        raise LaneError(f"{LANE_ENV}={raw!r} is not a lane: use a number from 0 to {MAX_LANES - 1} "
                        f"(or unset it for lane 0)")
    return int(raw)


def lane_dir(name: str, n: int | None = None) -> Path:
    """A per-lane folder under the state dir: lane 0 keeps the historic place (state_dir()/name),
    lane n uses state_dir()/lanes/n/name, so two drills never share a work dir or backups."""
    d = lane_path(name, lane() if n is None else n)
    d.mkdir(parents=True, exist_ok=True)
    return d


def lane_path(name: str, n: int) -> Path:
    """Where lane n keeps `name` (nothing created)."""
    return state_dir() / name if n == 0 else state_dir() / "lanes" / str(n) / name


def lane_paths_present(name: str) -> list[Path]:
    """`name` of every lane that has one (lane 0 first): what a cleanup or a redaction must cover."""
    return [p for p in [lane_path(name, 0), *sorted((state_dir() / "lanes").glob(f"*/{name}"))] if p.exists()]


def first_line(e: BaseException) -> str:
    """An error as the one line a user is shown (its type when it has no message)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
