"""Restore time against database size: the fit of bench/results/restore.json and its projection.

bench/restore_bench.py measures real pg_dump / pg_restore here at several sizes of a database
seeded with Mastodon-shaped rows; this module fits a line through the points (least squares,
time = intercept + per_gb x size) and projects the production size the sidecar or `--db-size`
gives. The projection is what this machine's PostgreSQL would take; the fidelity profile's
Cloud SQL model is a separate, cited assumption. The report shows both.
"""

from __future__ import annotations

import json
from pathlib import Path

from rollback_drill import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "bench" / "results" / "restore.json"


def fit_line(xs: list[float], ys: list[float]) -> dict:
    """Least squares y = a + b x, with r²; needs two distinct x."""
    n = len(xs)
    if n < 2 or len(set(xs)) < 2:
        raise ValueError("a fit needs at least two different sizes")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys))
    return {"intercept_s": round(a, 2), "per_gb_s": round(b * 1024, 2),
            "r2": round(1 - ss_res / ss_tot, 4) if ss_tot else 1.0}


def fit(points: list[dict]) -> dict:
    """Fits of dump and restore seconds against size_mb."""
    xs = [p["size_mb"] for p in points]
    return {"dump": fit_line(xs, [p["dump_s"] for p in points]),
            "restore": fit_line(xs, [p["restore_s"] for p in points]), "model": "seconds = intercept_s + per_gb_s x GB"}


def project(f: dict, size_gb: float) -> float:
    """Projected restore seconds for `size_gb` (the fitted line, never below 0)."""
    return max(0.0, f["restore"]["intercept_s"] + f["restore"]["per_gb_s"] * size_gb)


def projection(size_gb: float | None, results: Path = RESULTS) -> dict | None:
    """What the report states for a production size, from the recorded benchmark (None when either is missing)."""
    if size_gb is None or not results.exists():
        return None
    data = json.loads(results.read_text())
    f = data.get("fit")
    if not f:
        return None
    s = project(f, size_gb)
    return {"size_gb": size_gb, "restore_s": round(s, 1), "restore_min": round(s / 60, 1),
            "basis": f"pg_restore on this machine, fit of {len(data.get('points', []))} sizes up to "
                     f"{max(p['size_mb'] for p in data['points']):.0f} MB ({results.name}, {data.get('measured_at', '?')})",
            "fit": f["restore"]}
