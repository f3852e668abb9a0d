"""`run --samples`: N drills side by side in lanes, each under its own drawn profile, summarised as recovery
P50/P95 against the target. A small profile (a boot of 0-2 s for web) keeps it short; the gke profile's
distribution is the nightly's (minutes per drill)."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from rollback_drill import FIXTURES


@pytest.mark.nightly  # three drills side by side: ~1 min of the suite's budget; run here by hand and nightly
def test_three_samples_side_by_side_each_under_its_drawn_profile(cluster, tmp_path):
    small = yaml.safe_load((FIXTURES / "profiles" / "local.yaml").read_text())
    small["profile"] = "small"
    small["parameters"]["web_boot"] = {"value": 1, "range": [0, 2], "unit": "s",
                                       "source": "assumed: a test's small spread"}
    prof = tmp_path / "small.yaml"
    prof.write_text(yaml.safe_dump(small))
    env = dict(os.environ, ROLLBACK_DRILL_REPORTS=str(tmp_path / "reports"))
    p = subprocess.run([sys.executable, "-m", "rollback_drill", "run", "--level", "1", "--trigger", "C1", "--profile",
                        str(prof), "--samples", "3", "--parallel", "3", "--seed", "5"],
                       capture_output=True, text=True, env=env, timeout=900)
    said = p.stdout[-3000:] + p.stderr[-2000:]
    assert p.returncode in (0, 1), said
    rec = json.loads(next((tmp_path / "reports").glob("*/samples.json")).read_text())
    assert rec["n"] == 3 and rec["seed"] == 5 and len(rec["samples"]) == 3, said
    boots = [s["values"]["web_boot"] for s in rec["samples"]]
    assert len(set(boots)) == 3 and all(0 <= b <= 2 for b in boots), boots
    for s in rec["samples"]:  # each drill ran under its own profile, in its own journal
        j = json.loads((tmp_path / "reports" / next((tmp_path / "reports").iterdir()).name / s["journal"]).read_text())
        sc = j["scenarios"][-1]
        assert sc["profile"]["parameters"]["web_boot"]["value"] == s["values"]["web_boot"]
        assert sc["verdict"] == s["verdict"] and sc["durations"]["recovery_s"] == s["recovery_s"]
    lanes = {s["journal"].split("/")[1] for s in rec["samples"]}
    assert len(lanes) == 3
    assert "recovery P50" in p.stdout and "(target 60-120 s)" in p.stdout, said
