"""The closed loop: `calibrate --emulate PROFILE` on the drill cluster must measure the emulated values again.

The emulation acts on calibrate's own objects (boot of the release's image, the NEG readiness gate on the
backends, the Ingress's propagation with its 502 window); calibrate measures them as it would on a team's
cluster and writes a profile. Each measured value's stated range must hold the emulated one — plus what the
lab itself adds and the same run measures: the stub process's own start (the echo backends boot without any
emulated boot: their boot is that start) and the local Ingress controller's reload after the stand-in
reprograms it (at most LAB_INGRESS_S). What calibrate cannot measure here is said, not invented: the
emulated pull is a delay inside the container (no kubelet pull), sidekiq has no readiness probe.

Both loops are nightly (a small profile ~1 min, the gke profile's ~3.5 min): the suite's 10 minutes with
every trigger row hold no more; the suite keeps the plan-only run on a context (below) and the pure
reading of the measurements (tests/test_calibration.py)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rollback_drill import FIXTURES
from rollback_drill.sut.profile import load_profile

LAB_INGRESS_S = 1.0  # Traefik's reload after the stand-in changed the mirror Ingress (seen here: 0.1-0.3 s)
LAB_PULL_S = 2.0  # what the node's pull adds to the registry's answer: resolve, the config blob, unpack checks
# The boot pods start together once the one pull is done (four stub processes at once on two cores), the echo
# pods alone before it: their own start is up to this much longer than the echo pods' (12-01, beside another
# nightly test: web 32.9 s for 30 + 1.0, streaming 10.0 for 8 + 1.0)
LAB_TOGETHER_S = 2.0
OPS = FIXTURES / "gcloud" / "operations" / "restores.gcloud.json"


def _small(tmp_path: Path) -> Path:
    doc = yaml.safe_load((FIXTURES / "profiles" / "gke.yaml").read_text(encoding="utf-8"))
    doc["profile"] = "small-gke"
    for name, value in {"web_boot": 5, "streaming_boot": 3, "neg_ready": 3, "ingress_propagation": 8,
                        "ingress_502_window": 4, "image_pull": 6}.items():
        doc["parameters"][name].update(value=value, range=[value, value], source="assumed: the closed loop's test")
    path = tmp_path / "small-gke.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _closed_loop(emulated: str, tmp_path: Path, pods: int = 2) -> None:
    out = tmp_path / "calibrated.yaml"
    p = subprocess.run([sys.executable, "-m", "rollback_drill", "calibrate", "--emulate", emulated, "--pods", str(pods),
                        "--out", str(out), "--operations", str(OPS)], capture_output=True, text=True,
                       env=dict(os.environ), timeout=900)
    said = p.stdout[-4000:] + p.stderr[-2000:]
    assert p.returncode == 0, said
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    prof, got = load_profile(emulated), load_profile(str(out))  # `run --profile` takes what calibrate wrote
    cal = doc["calibration"]
    own_start = statistics.median(b["boot_s"] for b in cal["boot_pods"] if b["component"] in ("a", "b"))
    together = own_start + LAB_TOGETHER_S
    lab = {"web_boot": (own_start, together), "streaming_boot": (own_start, together), "neg_ready": (0, 0),
           "ingress_propagation": (0, LAB_INGRESS_S), "ingress_502_window": (-LAB_INGRESS_S, LAB_INGRESS_S),
           "image_pull": (0, LAB_PULL_S)}
    for name, (lab_lo, lab_hi) in lab.items():
        param = got.params[name]
        assert param.source.startswith("measured on the drill cluster"), (name, param.source)
        lo, hi = param.range
        assert lo <= prof[name] + lab_hi and prof[name] + lab_lo <= hi, (name, prof[name], param.range, said)
    lo, hi = got.params["web_boot"].range  # what was measured is the emulation's, not the lab's own start
    assert not lo <= own_start <= hi and not got.params["ingress_propagation"].range[0] <= 2.0
    assert len(cal["switches"]) == 2 and all(s["propagation_s"] for s in cal["switches"])
    # the node pulled once (the kubelet's Pulled event): one sample, however many boot pods asked
    assert "longest per node and image" in got.params["image_pull"].source, got.params["image_pull"].source
    assert cal["pulls"] and len({(x["node"], x["image"]) for x in cal["pulls"]}) == 1, cal.get("pulls")
    assert got.params["sidekiq_boot"].source.startswith("not measured")
    assert got.params["cloudsql_pending"].source.startswith("measured") and got["cloudsql_pending"] == 12.0
    assert "namespace rollback-drill-calibrate" in p.stdout and "deleted" in p.stdout
    from rollback_drill.settings import lane
    ns = "rollback-drill-calibrate" + (f"-{lane()}" if lane() else "")
    left = subprocess.run(["kubectl", "get", "namespace", ns, "-o", "name"], capture_output=True, text=True,
                          env=_kube_env())
    assert left.returncode != 0 and "NotFound" in left.stderr, left.stdout  # nothing of calibrate's is left


def _kube_env() -> dict:
    from rollback_drill.cluster import get_cluster
    c = get_cluster("local")
    return dict(os.environ, KUBECONFIG=str(c.kubeconfig), PATH=f"{c.bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.nightly  # ~55 s of the suite's 2 cores at -n 3: the suite keeps the plan-only test and the unit tests
def test_calibrate_finds_the_emulated_values_of_a_small_profile_again(cluster, tmp_path):
    _closed_loop(str(_small(tmp_path)), tmp_path, pods=1)


@pytest.mark.nightly  # ~3.5 min: GKE's 30 s boot, 60 s propagation with 45 s of 502s, 15 s NEG gate
def test_calibrate_finds_the_gke_profiles_emulated_values_again(cluster, tmp_path):
    _closed_loop("gke", tmp_path)


def test_calibrate_on_a_context_without_yes_prints_the_plan_and_changes_nothing(cluster, tmp_path):
    from rollback_drill.cluster import get_cluster
    from rollback_drill.cluster.kube import current_context
    ctx = current_context(get_cluster("local").kubeconfig)
    env = dict(_kube_env(), ROLLBACK_DRILL_ALLOWED_CONTEXTS=ctx)
    p = subprocess.run([sys.executable, "-m", "rollback_drill", "calibrate", "--context", ctx, "--out",
                        str(tmp_path / "p.yaml")], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "plan only; nothing was changed (add --yes" in p.stdout
    assert "no --probe-url and --probe-image given: the Ingress switch was not measured" in p.stdout
    assert not (tmp_path / "p.yaml").exists()
    left = subprocess.run(["kubectl", "get", "namespace", "rollback-drill-calibrate", "-o", "name"],
                          capture_output=True, text=True, env=env)
    assert left.returncode != 0
