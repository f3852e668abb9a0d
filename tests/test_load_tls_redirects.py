"""Load and probes send the password grant only where the user allowed it (issue 18): TLS is verified
(a staging CA can be given), and no redirect is followed — a second server on another port of
127.0.0.1 gets nothing. Every server here is a local process; nothing leaves 127.0.0.1."""

from __future__ import annotations

from rollback_drill.observe import load as _load  # noqa: F401,I001 - locust patches gevent before anything else

import socket
import subprocess
import sys
from pathlib import Path

import gevent
import pytest

from rollback_drill.observe.load import Load, LoadConfig
from rollback_drill.observe.probes import Probes, Target
from rollback_drill.observe.timeline import Timeline

SERVER = Path(__file__).parent / "helpers" / "http_server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(tmp_path):
    procs = []

    def start(*args: str) -> tuple[str, Path]:
        port, log = free_port(), tmp_path / f"requests-{len(procs)}.log"
        log.write_text("")
        p = subprocess.Popen([sys.executable, str(SERVER), str(port), str(log), *args], stdout=subprocess.PIPE,
                             text=True)
        assert p.stdout.readline().strip() == "ready"
        procs.append(p)
        return port, log

    yield start
    for p in procs:
        p.kill()
        p.wait()


@pytest.fixture
def self_signed(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def run_load(target: Target, seconds: float = 2.0) -> list[tuple[int | None, str]]:
    """(status, name) of every request the load made (None: no answer)."""
    seen: list[tuple[int | None, str]] = []
    load = Load(target, Timeline(), LoadConfig(users=2, rps_per_user=5, max_seconds=10))
    record = load._record
    load._record = lambda name, rt, status, served_by, t: (seen.append((status, name)),
                                                           record(name, rt, status, served_by, t))
    load.start()
    gevent.sleep(seconds)
    load.stop()
    return seen


def statuses(load_log: list) -> set:
    return {status for status, _ in load_log}


def test_the_load_refuses_a_self_signed_certificate_unless_given_its_ca(serve, self_signed, monkeypatch):
    cert, key = self_signed
    port, log = serve("--tls", str(cert), str(key))
    url = f"https://127.0.0.1:{port}"
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", url)
    refused = run_load(Target(url, "h", "u", "pw"))
    assert refused and statuses(refused) == {None}  # no answer: the TLS handshake failed
    assert log.read_text() == ""  # not one request (nor the password grant) reached the server
    trusted = run_load(Target(url, "h", "u", "pw", ca_bundle=str(cert)))
    assert 200 in statuses(trusted) and "POST /oauth/token" in log.read_text()


def test_the_probes_verify_tls_the_same_way(serve, self_signed, monkeypatch):
    import requests
    cert, key = self_signed
    port, log = serve("--tls", str(cert), str(key))
    url = f"https://127.0.0.1:{port}"
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", url)
    with pytest.raises(requests.exceptions.SSLError):
        Probes(Target(url, "h", "u", "pw"), Timeline()).probe_health()
    assert Probes(Target(url, "h", "u", "pw", ca_bundle=str(cert)), Timeline()).probe_health() == ""


def test_no_redirect_is_followed_to_another_port(serve, monkeypatch):
    other_port, other_log = serve()
    port, log = serve("--redirect-to", f"http://127.0.0.1:{other_port}")
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", url)
    tl = run_load(Target(url, "h", "u", "pw"))
    p = Probes(Target(url, "h", "u", "pw"), Timeline())
    for probe in (p.probe_login, p.probe_health):
        with pytest.raises(Exception):
            probe()
    assert "POST /oauth/token" in log.read_text() and statuses(tl) == {307}
    assert other_log.read_text() == ""  # the password grant was never sent again, to anyone
