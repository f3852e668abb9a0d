"""The stub Mastodon through the real Ingress: bad input gets Mastodon-like 4xx; bundle answers truthfully."""

import io

import pytest
import requests


@pytest.fixture(scope="module")
def http(deployed):
    s = requests.Session()
    s.headers["Host"] = deployed.app.host
    base = deployed.ingress_url

    def call(method, path, **kw):
        return s.request(method, base + path, timeout=5, **kw)
    return call


@pytest.fixture(scope="module")
def token(http, deployed):
    r = http("POST", "/oauth/token", json={"grant_type": "password", "username": "alice@example.com",
                                            "password": deployed.creds.seed_password})
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_wrong_password_and_malformed_sign_in(http):
    r = http("POST", "/oauth/token", json={"grant_type": "password", "username": "alice@example.com", "password": "x"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert http("POST", "/oauth/token", data="{", headers={"Content-Type": "application/json"}).status_code == 400
    assert http("POST", "/oauth/token", json={"grant_type": "password"}).status_code == 400


def test_statuses_validation(http, token):
    before = http("GET", "/api/v1/instance").json()["stats"]["status_count"]
    assert http("POST", "/api/v1/statuses", data="{bad", headers={**token, "Content-Type": "application/json"}).status_code == 400
    assert http("POST", "/api/v1/statuses", json={}, headers=token).status_code == 422
    assert http("POST", "/api/v1/statuses", json={"status": "x" * 501}, headers=token).status_code == 422
    assert http("POST", "/api/v1/statuses", json={"status": "hi"}).status_code == 401
    assert http("GET", "/api/v1/statuses/abc").status_code == 404
    assert http("GET", "/api/v1/instance").json()["stats"]["status_count"] == before  # nothing half-written


def test_media_upload_limits_and_processing(http, token):
    big = io.BytesIO(b"0" * (2 * 1024 * 1024 + 10))
    assert http("POST", "/api/v2/media", files={"file": ("big.png", big)}, headers=token).status_code in (413, 422)
    assert http("POST", "/api/v2/media", data={"nofile": "1"}, headers=token).status_code == 422
    r = http("POST", "/api/v2/media", files={"file": ("a.png", io.BytesIO(b"png"))}, headers=token)
    assert r.status_code == 202


def test_bundle_answers_the_runbook_forms_and_refuses_others(deployed):
    k = deployed.kube
    dep = "deployment/mastodon-helm-web"
    assert k.kubectl("exec", dep, "--", "bundle", "exec", "rails", "runner",
                     "puts ActiveRecord::Base.connection.active?").stdout.strip() == "true"
    assert k.kubectl("exec", dep, "--", "bundle", "exec", "rails", "runner", "puts Redis.new.ping").stdout.strip() == "PONG"
    assert k.kubectl("exec", dep, "--", "bundle", "exec", "rails", "db:version").stdout.strip() == \
        "Current version: 20241001000000"
    bad = k.kubectl("exec", dep, "--", "bundle", "exec", "rails", "runner", "User.destroy_all", check=False)
    assert bad.returncode != 0 and "cannot evaluate" in bad.stderr


def test_streaming_delivers_a_new_status_through_the_ingress(http, token, deployed):
    """A real SSE stream through Traefik: a status posted after subscribing arrives as an update."""
    import threading
    got: list[str] = []
    ready = threading.Event()

    def listen():
        with requests.get(deployed.ingress_url + "/api/v1/streaming/public?max_seconds=8",
                          headers={"Host": deployed.app.host}, stream=True, timeout=10) as r:
            for line in r.iter_lines(decode_unicode=True):
                ready.set()
                if line and line.startswith("data: "):
                    got.append(line)
                    return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(5), "stream did not open"
    text = f"streamed {__import__('time').time()}"
    assert http("POST", "/api/v1/statuses", json={"status": text}, headers=token).status_code == 200
    t.join(10)
    assert got and text in got[0]


def test_the_worker_stops_on_sigterm_after_the_job_in_hand_as_sidekiq_does(deployed):
    """As PID 1 of its container a process without a SIGTERM handler ignores the signal, and every stop of
    a sidekiq pod would last its whole grace period (30 s by the chart's default) — Sidekiq stops at once
    when idle. Run as a child of a shell, the worker without a handler would die of the signal (143)."""
    script = ("mastodon-stub worker > /tmp/worker.log 2>&1 & pid=$!; sleep 3; kill -TERM $pid; wait $pid; "
              "echo \"exit $?\"; tail -n 1 /tmp/worker.log")
    out = deployed.kube.kubectl("exec", "deployment/mastodon-helm-web", "--", "sh", "-c", script).stdout
    assert "exit 0" in out and "SIGTERM, stopped after the job in hand" in out, out
