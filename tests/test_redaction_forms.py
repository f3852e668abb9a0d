"""Redaction as one mechanism (issue 18): every encoding and shape a secret reaches evidence in, the
order (redact, then truncate), dictionary keys, and the pytest plugins' own files."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from urllib.parse import quote

import pytest

from rollback_drill.evidence.redaction import REDACTED, Redactor

PW = "s3cr3t/p@ss:w0rd+x"


@pytest.mark.parametrize("text", [
    f"DATABASE_URL=postgres://mastodon:{quote(PW, safe='')}@db:5432/mastodon",
    f"postgres://mastodon:{quote(PW)}@db/x",
    base64.b64encode(PW.encode()).decode(),
    base64.urlsafe_b64encode(PW.encode()).decode().rstrip("="),
    "\n".join(textwrap.wrap(base64.b64encode(b"HEADER=1\nDB_PASS=" + PW.encode() + b"\nX=2\n" * 9).decode(), 76)),
    json.dumps({"env": f"DB_PASS={PW}"}),
    json.dumps(json.dumps({"p": PW})),
    f"password: {PW}",
])
def test_a_known_value_is_gone_in_every_encoding(text):
    out = Redactor([PW]).redact(text)
    assert PW not in out and quote(PW, safe="") not in out and base64.b64encode(PW.encode()).decode()[:20] not in out
    assert REDACTED in out


@pytest.mark.parametrize("text, gone", [
    ("Authorization: Bearer ya29.a0AfH6SMBx-unknown-token", "ya29.a0AfH6SMBx-unknown-token"),
    ("users:\n- name: x\n  user:\n    token: kubeconfig-token-never-seen", "kubeconfig-token-never-seen"),
    ('{"client-key-data": "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t"}', "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI\nREDIS_PASSWORD='abc'\n", "wJalrXUtnFEMI"),
    ("REDIS_PASSWORD='abc'", "abc"),
    ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----", "MHcCAQEEIB"),
    ("token eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJl", "eyJpc3MiOiJrdWJlcm5ldGVzIn0"),
    ("redis://:hunter22@redis:6379/0", "hunter22"),
])
def test_known_shapes_are_redacted_whatever_the_value(text, gone):
    assert gone not in Redactor().redact(text)


def test_each_line_of_an_env_file_secret_is_a_secret_of_its_own():
    env_file = "LOCAL_DOMAIN=social.example\nOTP_SECRET=0tp-v4lue-9\nS3_BUCKET=media\n"
    r = Redactor([env_file])
    assert "0tp-v4lue-9" not in r.redact("the app read 0tp-v4lue-9 at boot")


def test_short_values_are_whole_words_only():
    r = Redactor(["abcd"])
    assert r.redact("pw abcd; abcdef") == f"pw {REDACTED}; abcdef"


def test_ordinary_evidence_is_left_alone():
    text = ("verdict passed; kubectl get secret mastodon -o jsonpath='{.data.REDIS_PASSWORD}' | base64 -d; "
            '"passed": true; "checks_passed": 3')
    assert Redactor([PW]).redact(text) == text


def test_dictionary_keys_are_redacted_too():
    assert Redactor([PW]).redact_obj({PW: {"x": [PW]}}) == {REDACTED: {"x": [REDACTED]}}


def test_output_is_redacted_before_it_is_cut(tmp_path):
    """The executor keeps the last 4000 characters: a secret cut in half by that limit still goes."""
    import os

    from rollback_drill.observe.timeline import Timeline
    from rollback_drill.runbook.executor import ExecContext, run_shell
    secret = "Zq9" * 20
    ctx = ExecContext(tmp_path, {"PATH": os.environ["PATH"]}, Timeline(), Redactor([secret]), "h", "http://127.0.0.1:1")
    # the secret straddles the 4000-character cut
    rec = run_shell(ctx, f"printf %s {secret}; printf 'x%.0s' $(seq 1 3990)", None, 1)
    assert secret[-15:] not in rec.output and secret[-8:] not in rec.output


def test_junit_and_cucumber_files_pass_through_the_redactor(tmp_path):
    """A failing test that printed secrets: the plugins' files carry none of them (evidence/pytest_plugin.py)."""
    test = tmp_path / "test_leak.py"
    test.write_text(textwrap.dedent(f'''
        import base64
        from rollback_drill.evidence.redaction import Redactor
        def test_leak():
            Redactor(["{PW}"])  # a drill's redactor knew it
            print("stdout {PW}", base64.b64encode(b"{PW}"))
            assert "{PW}" == "Authorization: Bearer never-seen-token-123"
    '''))
    junit, cucumber = tmp_path / "junit.xml", tmp_path / "cucumber.json"
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={tmp_path.parent}",
                        "-c", "pyproject.toml", f"--junitxml={junit}", f"--cucumber-json={cucumber}",
                        "-o", "junit_logging=all", str(test)], capture_output=True, text=True,
                       cwd=str(__import__("rollback_drill").PROJECT_ROOT))
    assert p.returncode == 1, p.stdout[-2000:]
    text = junit.read_text()
    assert "test_leak" in text and REDACTED in text
    for form in (PW, base64.b64encode(PW.encode()).decode(), "never-seen-token-123"):
        assert form not in text


def test_a_value_added_later_is_redacted_from_a_string_already_seen():
    """The memo (each distinct string redacted once) starts over when a value is added: a journal
    rewritten after the next drill's Secret was read must not keep an earlier, unredacted result."""
    r = Redactor(["first-secret-value"])
    line = "DB_URL host=db user=app pw=later-secret-value and first-secret-value"
    once = r.redact(line)
    assert "first-secret-value" not in once and "later-secret-value" in once
    assert r.redact(line) is once  # the memo answers
    r.add(["later-secret-value"])
    assert "later-secret-value" not in r.redact(line) and "first-secret-value" not in r.redact(line)
