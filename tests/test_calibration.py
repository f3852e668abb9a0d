"""calibrate's pure logic: the kubelet's pull figure, an Ingress switch seen by probes, past Cloud SQL
restores, and the profile it writes (loaded back by `run --profile`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rollback_drill.drill.calibrate import boot_container, echo_container
from rollback_drill.observe.calibration import (Answer, Measured, NotMeasured, OperationsUnreadable, PodTimes,
                                                analyse_switch, calibrated_parameters, first_pulls, go_duration, pulled_seconds,
                                                restores)
from rollback_drill.sut.profile import load_profile

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text,seconds", [("2.395207648s", 2.395207648), ("1m2.5s", 62.5), ("850ms", 0.85),
                                          ("1h0m1s", 3601.0), ("", None), ("12", None), ("3s junk", None)])
def test_go_durations_as_the_kubelet_prints_them(text, seconds):
    assert go_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_a_pull_is_read_from_the_kubelets_pulled_event_and_a_present_image_gives_none():
    msg = ('Successfully pulled image "ghcr.io/mastodon/mastodon:v4.3.1" in 23.456s (23.456s including waiting). '
           'Image size: 512345678 bytes.')
    assert pulled_seconds(msg) == ("ghcr.io/mastodon/mastodon:v4.3.1", pytest.approx(23.456))
    assert pulled_seconds('Successfully pulled image "nginx:1.14.2" in 1m2.395207648s') == \
        ("nginx:1.14.2", pytest.approx(62.395207648))
    assert pulled_seconds('Container image "rollback-drill/mastodon-stub:abc" already present on machine') is None
    assert pulled_seconds("Pulling image \"x\"") is None


def test_a_node_pulls_once_the_second_pods_quick_pull_is_not_a_sample():
    pulls = [{"node": "n1", "image": "a:1", "seconds": 30.2}, {"node": "n1", "image": "a:1", "seconds": 0.12},
             {"node": "n2", "image": "a:1", "seconds": 41.0}, {"node": "n1", "image": "b:1", "seconds": 5.0}]
    assert first_pulls(pulls) == [30.2, 5.0, 41.0]


def _answers(spans):
    """[(from, to, status, backend)] -> an answer every 0.25 s."""
    out = []
    for lo, hi, status, backend in spans:
        t = lo
        while t < hi - 1e-9:
            out.append(Answer(round(t, 2), status, backend))
            t += 0.25
    return out


def test_a_switch_gives_its_propagation_and_the_502_span_just_before_the_new_backend():
    answers = _answers([(0, 30, 200, "a"), (30, 40, 502, ""), (40, 41, 200, "b"), (41, 41.25, 200, "a"),
                        (41.25, 50, 200, "b")])
    sw = analyse_switch(answers, at=10.0, to="b")
    assert sw.propagation_s == pytest.approx(30.0)
    assert sw.window_502_s == pytest.approx(10.0)
    assert sw.mixed_s == pytest.approx(1.0)  # the old backend answered once after the new one
    assert sw.not_from_pod == 40


def test_a_404_of_the_controller_is_not_counted_as_the_502_window_and_no_new_backend_is_no_number():
    sw = analyse_switch(_answers([(0, 5, 200, "a"), (5, 6, 404, ""), (6, 10, 200, "b")]), at=0.0, to="b")
    assert sw.propagation_s == pytest.approx(6.0) and sw.window_502_s == 0.0
    never = analyse_switch(_answers([(0, 10, 200, "a")]), at=0.0, to="b")
    assert never.propagation_s is None and never.first_new is None


def test_boot_and_gate_come_from_the_moments_the_harness_saw():
    p = PodTimes("calibrate-a-1", "a", running=1.0, containers_ready=31.5, ready=46.5, gated=True)
    assert p.boot_s == pytest.approx(30.5) and p.gate_s == pytest.approx(15.0)
    assert PodTimes("x", "web", running=1.0, containers_ready=2.0, ready=2.0).gate_s is None  # no gate, no sample
    assert PodTimes("x", "web", running=1.0).boot_s is None


OPS = [
    {"kind": "sql#operation", "name": "r1", "operationType": "RESTORE_VOLUME", "status": "DONE",
     "insertTime": "2026-11-02T03:10:04.512Z", "startTime": "2026-11-02T03:10:20.012Z",
     "endTime": "2026-11-02T03:27:20.012Z", "backupContext": {"backupId": "1730000000000", "kind": "sql#backupContext"}},
    {"kind": "sql#operation", "name": "r2", "operationType": "RESTORE_VOLUME", "status": "DONE",
     "insertTime": "2026-11-09T03:00:00Z", "startTime": "2026-11-09T03:00:10Z", "endTime": "2026-11-09T03:21:10Z"},
    {"kind": "sql#operation", "name": "r3", "operationType": "RESTORE_VOLUME", "status": "DONE",
     "insertTime": "2026-11-10T03:00:00Z", "startTime": "2026-11-10T03:00:10Z", "endTime": "2026-11-10T03:05:10Z",
     "error": {"errors": [{"code": "INTERNAL_ERROR", "message": "restore failed"}]}},
    {"kind": "sql#operation", "name": "r4", "operationType": "RESTORE_VOLUME", "status": "RUNNING",
     "insertTime": "2026-11-11T03:00:00Z", "startTime": "2026-11-11T03:00:10Z"},
    {"kind": "sql#operation", "name": "b1", "operationType": "BACKUP_VOLUME", "status": "DONE",
     "insertTime": "2026-11-11T02:00:00Z", "startTime": "2026-11-11T02:00:01Z", "endTime": "2026-11-11T02:03:00Z"},
]


def test_past_restores_pending_and_running_failed_and_unfinished_apart():
    r = restores(OPS)
    assert [(d["name"], round(d["pending_s"], 1), d["running_s"]) for d in r.done] == [("r1", 15.5, 1020.0),
                                                                                         ("r2", 10.0, 1260.0)]
    assert r.done[0]["backup"] == "1730000000000"
    assert r.failed == ["r3"] and r.unfinished == ["r4"] and r.other_operations == 1


@pytest.mark.parametrize("payload", [{"items": []}, [1], [{**OPS[0], "endTime": "2026-11-02T03:00:00Z"}],
                                     [{**OPS[0], "startTime": "yesterday"}]])
def test_an_answer_that_is_not_gclouds_is_refused(payload):
    with pytest.raises(OperationsUnreadable):
        restores(payload)


def test_the_written_profile_loads_and_says_what_was_measured_and_what_was_kept(tmp_path):
    base = load_profile("gke")
    raw = yaml.safe_load(Path(base.path).read_text(encoding="utf-8"))
    params = calibrated_parameters(raw["parameters"], {
        "web_boot": Measured([30.6, 31.2, 30.9], "container running -> ready", 1.0),
        "ingress_propagation": Measured([61.0, 60.4], "a throwaway Ingress", 0.25),
        "image_pull": NotMeasured("every node already had the image")}, "context staging", "2026-12-01T10:00:00+00:00",
        "gke")
    assert params["web_boot"]["value"] == 30.9 and params["web_boot"]["range"] == [29.6, 32.2]
    assert params["web_boot"]["source"].startswith("measured on context staging at 2026-12-01T10:00:00+00:00: 3 samples,"
                                                   " spread 30.6-31.2 s, resolution ±1 s")
    assert params["image_pull"]["value"] == 30 and params["image_pull"]["source"].startswith(
        "not measured (every node already had the image); kept from profile gke: assumed:")
    assert params["neg_ready"]["source"].startswith("not measured (calibrate does not measure it)")
    doc = {**raw, "profile": "gke-calibrated", "parameters": params}
    out = tmp_path / "staging.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    p = load_profile(str(out))
    assert p["web_boot"] == 30.9 and p.params["ingress_propagation"].range == (60.1, 61.3)


RELEASE_WEB = {"spec": {"template": {"spec": {"containers": [{
    "name": "mastodon-web", "image": "ghcr.io/mastodon/mastodon:v4.3.1", "imagePullPolicy": "IfNotPresent",
    "command": ["bundle", "exec", "puma", "-C", "config/puma.rb"],
    "env": [{"name": "DB_PASS", "valueFrom": {"secretKeyRef": {"name": "mastodon", "key": "password"}}},
            {"name": "OTP_SECRET", "value": "literal-secret"}],
    "envFrom": [{"secretRef": {"name": "mastodon-env"}}],
    "volumeMounts": [{"name": "assets", "mountPath": "/opt/mastodon/public/assets"}],
    "ports": [{"name": "http", "containerPort": 3000}],
    "livenessProbe": {"tcpSocket": {"port": "http"}},
    "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3},
    "startupProbe": {"httpGet": {"path": "/health", "port": "http"}, "initialDelaySeconds": 15}}]}}}}


def test_calibrates_pods_copy_the_releases_image_and_check_but_no_env_secret_or_liveness():
    c = boot_container(RELEASE_WEB)
    assert c["image"] == "ghcr.io/mastodon/mastodon:v4.3.1" and c["command"][0] == "bundle"
    assert not {"env", "envFrom", "volumeMounts", "livenessProbe", "startupProbe"} & set(c)
    assert c["readinessProbe"] == {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 1,
                                   "failureThreshold": 1, "successThreshold": 1, "timeoutSeconds": 1}
    assert "literal-secret" not in repr(c)
    assert echo_container("img")["command"] == ["mastodon-stub", "echo"]


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os
    return subprocess.run([sys.executable, "-m", "rollback_drill", "calibrate", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60, cwd=REPO)


@pytest.mark.parametrize("args,says", [
    (["--out", "/nonexistent-dir/x.yaml"], "--out /nonexistent-dir/x.yaml: expected a file path in an existing folder"),
    (["--out", "x.yaml", "--base", "nope"], "no such profile"),
    (["--out", "x.yaml", "--operations", "/nonexistent.json"], "--operations /nonexistent.json: no such file"),
    (["--out", "x.yaml", "--real-gcloud", "db;rm -rf /"], "--real-gcloud"),
    (["--out", "x.yaml", "--context", "staging", "--emulate", "gke"], "--emulate acts on the drill cluster only"),
    (["--out", "x.yaml", "--pods", "9"], "--pods"),
    (["--out", "fixtures/profiles/gke.yaml"], "is the profile calibrate starts from"),
    (["--out", "x.yaml", "--operations", "README.md"], "not a `gcloud sql operations list --format=json` answer"),
    (["--out", "x.yaml", "--operations", "fixtures/gcloud/operations/api-operations.json"],
     "not a `gcloud sql operations list --format=json` answer (expected a JSON list"),
])
def test_bad_input_is_one_line_and_exit_2(args, says):
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_context_not_allowed_is_refused_before_anything(tmp_path):
    proc = _cli("--out", str(tmp_path / "p.yaml"), "--context", "staging", env={"ROLLBACK_DRILL_ALLOWED_CONTEXTS": ""})
    assert proc.returncode == 2 and "refusing kubeconfig context 'staging'" in proc.stderr
    assert not (tmp_path / "p.yaml").exists()
