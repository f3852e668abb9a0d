"""calibrate's reading of past Cloud SQL restores, on `gcloud sql operations list --format=json` as the
installed gcloud prints it (fixtures/gcloud/operations: recorded against a local stand-in of the Admin
API; no credentials here). The suite reads the recording; the nightly, where gcloud is installed, makes it
again through the real gcloud and it must match (live only there: each gcloud start costs ~2 s of the
suite's 2 cores, six of them here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollback_drill.drill.calibrate import Calibration, Findings, measure
from rollback_drill.observe.calibration import restores
from rollback_drill.sut.profile import load_profile

REPO = Path(__file__).resolve().parents[1]
OPS = REPO / "fixtures" / "gcloud" / "operations"
GCLOUD = shutil.which("gcloud")


def test_the_recorded_answer_gives_four_restores_and_names_the_failed_and_the_running_one():
    r = restores(json.loads((OPS / "restores.gcloud.json").read_text(encoding="utf-8")))
    assert [round(d["running_s"] / 60, 1) for d in r.done] == [33.1, 24.2, 21.1, 17.1]
    assert [round(d["pending_s"], 1) for d in r.done] == [22.2, 8.4, 15.5, 5.5]
    assert r.failed == ["a3f47b10-92d6-4c5e-8e0b-7f21c6d94a58"]
    assert r.unfinished == ["6d1c9e52-3b7a-4f0e-9a21-5c8d7e4b1f03"] and r.other_operations == 0


def test_the_profile_values_from_the_history_say_what_was_derived_and_what_kept():
    base = load_profile("gke")
    cal = Calibration("context staging", None, None, None, base, Path("x.yaml"), None, "", None,  # type: ignore[arg-type]
                      why_no_probe="--switches 0", operations_file=OPS / "restores.gcloud.json")
    f = Findings(restores=restores(json.loads((OPS / "restores.gcloud.json").read_text(encoding="utf-8"))))
    m = measure(cal, f, {"web": "not read", "streaming": "not read"})
    assert m["cloudsql_pending"].value == 12.0  # median of 5.5, 8.4, 15.5, 22.2
    per_gb = m["cloudsql_restore_per_gb"]
    # (running - 240 s kept) / 10 GB: (1024.4, 1265.6, 1449.1, 1984.6) -> 78.4 .. 174.5 s/GB
    assert per_gb.unit == "s/GB" and per_gb.value == pytest.approx((1265.638 + 1449.141) / 2 / 10 - 24, abs=0.1)
    assert "minus cloudsql_restore_fixed 240 s (kept)" in per_gb.method
    assert m["cloudsql_restore_fixed"].why.startswith("the history gives whole restores of one database")
    # a restore of the profile's 10 GB then takes 18-35 min: the runbook's 15-30 min, through gcloud's 600 s wait
    assert 15 * 60 < base["cloudsql_restore_fixed"] + per_gb.value * 10 < 30 * 60


@pytest.mark.nightly  # suite time (~10-16 s of gcloud starts): the nightly records it again through gcloud
@pytest.mark.skipif(GCLOUD is None and not os.environ.get("CI"), reason="the real gcloud CLI is not on PATH")
def test_the_installed_gcloud_prints_the_recorded_answer(tmp_path):
    """Recorded again: the stand-in API on a free loopback port, an isolated gcloud config, no credentials."""
    assert GCLOUD, "CI has no gcloud: the recording cannot be checked"
    port_file = tmp_path / "port"
    server = subprocess.Popen([sys.executable, str(OPS / "fake_sqladmin.py"), "--port", "0", "--port-file",
                               str(port_file), "--log", str(tmp_path / "requests.jsonl"), "--body",
                               str(OPS / "api-operations.json")], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path / "config"), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
        for prop, value in (("auth/disable_credentials", "true"), ("core/project", "drill-project"),
                            ("core/disable_usage_reporting", "true"), ("component_manager/disable_update_check", "true"),
                            ("api_endpoint_overrides/sql", f"http://127.0.0.1:{port_file.read_text().strip()}/")):
            subprocess.run([GCLOUD, "config", "set", prop, value], env=env, capture_output=True, check=True, timeout=60)
        proc = subprocess.run([GCLOUD, "sql", "operations", "list", "--instance=mastodon-db", "--project=drill-project",
                               "--filter=operationType=RESTORE_VOLUME", "--format=json"], env=env, capture_output=True,
                              text=True, timeout=120)
    finally:
        server.terminate()
        server.wait(10)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads((OPS / "restores.gcloud.json").read_text(encoding="utf-8"))
    requests = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert [r["path"] for r in requests] == ["/sql/v1beta4/projects/drill-project/operations"]
