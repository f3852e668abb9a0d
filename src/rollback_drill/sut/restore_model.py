"""Restore time against database size: the fit of bench/results/restore.json and its projection.

bench/restore_bench.py measures real pg_dump / pg_restore here at several sizes of a database
seeded with Mastodon-shaped rows; this module fits two models through the points — a line
(least squares, time = intercept + per_gb x size) and a power law (time = a x size^b, fitted in
log-log: a per-GB cost that rises with size, as measured, bends it up) — and projects the
production size the sidecar or `--db-size` gives as a **range**: from the lowest to the highest of
the line's 95 % prediction interval and the power law at that size. A projection ~10x beyond the
largest size measured is an extrapolation; one number would hide that.

The projection is what this machine's PostgreSQL would take with `pg_restore`: not Cloud SQL, whose
restore is a managed operation with no published duration per GB; the fidelity profile's Cloud SQL
model is a separate, assumed figure. The report shows both, and neither beside the level's target as
if one were a measurement of the other.
"""

from __future__ import annotations

import json
from pathlib import Path

import math

from rollback_drill import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "bench" / "results" / "restore.json"
# Student's t, two-sided 95 % (the 0.975 quantile), by degrees of freedom: a table of the distribution,
# not a measurement. Beyond 30 degrees of freedom the normal quantile is close enough.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def t975(df: int) -> float:
    """The t quantile for `df` degrees of freedom (the table's next smaller entry: a wider interval)."""
    return T975[max(k for k in T975 if k <= df)] if df <= 30 else 1.96


def _ls(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares (intercept, slope); needs two distinct x."""
    n = len(xs)
    if n < 2 or len(set(xs)) < 2:
        raise ValueError("a fit needs at least two different sizes")
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def fit_line(xs: list[float], ys: list[float]) -> dict:
    """Least squares y = a + b x, with r²; needs two distinct x."""
    a, b = _ls(xs, ys)
    my = sum(ys) / len(ys)
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys))
    return {"intercept_s": round(a, 2), "per_gb_s": round(b * 1024, 2),
            "r2": round(1 - ss_res / ss_tot, 4) if ss_tot else 1.0}


def fit_power(xs: list[float], ys: list[float]) -> dict:
    """y = a x^b by least squares in log-log (x in GB); needs two distinct positive x and positive y."""
    if min(xs) <= 0 or min(ys) <= 0:
        raise ValueError("a power fit needs positive sizes and times")
    line = _ls([math.log(x / 1024) for x in xs], [math.log(y) for y in ys])
    return {"a_s": round(math.exp(line[0]), 3), "exponent": round(line[1], 3)}


def fit(points: list[dict]) -> dict:
    """Fits of dump and restore seconds against size_mb: a line each, and a power law for the restore."""
    xs = [p["size_mb"] for p in points]
    ys = [p["restore_s"] for p in points]
    return {"dump": fit_line(xs, [p["dump_s"] for p in points]), "restore": fit_line(xs, ys),
            "restore_power": fit_power(xs, ys),
            "model": "seconds = intercept_s + per_gb_s x GB; power: seconds = a_s x GB^exponent"}


def project(f: dict, size_gb: float) -> float:
    """Projected restore seconds for `size_gb` (the fitted line, never below 0)."""
    return max(0.0, f["restore"]["intercept_s"] + f["restore"]["per_gb_s"] * size_gb)


def project_range(points: list[dict], size_gb: float) -> dict:
    """The restore seconds at `size_gb` as a range: the line's 95 % prediction interval (Student's t with
    n - 2 degrees of freedom; none with two points) and the power law, lowest to highest."""
    xs = [p["size_mb"] / 1024 for p in points]
    ys = [p["restore_s"] for p in points]
    a, b = _ls(xs, ys)
    n = len(xs)
    line = a + b * size_gb
    low = high = line
    if n > 2:
        mx = sum(xs) / n
        s = math.sqrt(sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys)) / (n - 2))
        half = t975(n - 2) * s * math.sqrt(1 + 1 / n + (size_gb - mx) ** 2 / sum((x - mx) ** 2 for x in xs))
        low, high = line - half, line + half
    pw = fit_power([p["size_mb"] for p in points], ys)
    power = pw["a_s"] * size_gb ** pw["exponent"]
    lo, hi = max(0.0, min(low, power)), max(high, power)
    return {"low_s": round(lo, 1), "high_s": round(hi, 1), "line_s": round(max(0.0, line), 1),
            "power_s": round(power, 1), "extrapolation": round(size_gb * 1024 / max(p["size_mb"] for p in points), 1)}


def projection(size_gb: float | None, results: Path = RESULTS) -> dict | None:
    """What the report states for a production size, from the recorded benchmark (None when either is missing)."""
    if size_gb is None or not results.exists():
        return None
    data = json.loads(results.read_text())
    f = data.get("fit")
    if not f:
        return None
    s = project(f, size_gb)
    rng = project_range(data["points"], size_gb) if len(data.get("points", [])) >= 2 else None
    return {"size_gb": size_gb, "restore_s": round(s, 1), "restore_min": round(s / 60, 1),
            "range_s": [rng["low_s"], rng["high_s"]] if rng else None,
            "basis": f"this machine's PostgreSQL ({data.get('restore_command', 'pg_restore')}), not Cloud SQL: fit of "
                     f"{len(data.get('points', []))} sizes up to {max(p['size_mb'] for p in data['points']):.0f} MB"
                     + (f", {rng['extrapolation']:g}x beyond the largest" if rng and rng["extrapolation"] > 1 else "")
                     + f" ({results.name}, {data.get('measured_at', '?')})",
            "fit": f["restore"]}
