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


def first_line(e: BaseException) -> str:
    """An error as the one line a user is shown (its type when it has no message)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
