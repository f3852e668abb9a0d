"""A drill on a team's cluster does no harm and leaks nothing (issue 18): each way an outside name, id
or URL could do harm, tried as an attacker would — function calls and refusals only, nothing sent
anywhere but 127.0.0.1."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from rollback_drill import untrusted
from rollback_drill.untrusted import Untrusted


@pytest.fixture
def state(tmp_path, monkeypatch):
    d = tmp_path / "state"
    monkeypatch.setenv("ROLLBACK_DRILL_STATE", str(d))
    return d


def _kubeconfig(tmp_path: Path, contexts=("staging", "prod")) -> Path:
    (tmp_path / "ca.crt").write_text("CA-PEM")
    (tmp_path / "client.key").write_text("CLIENT-KEY-PEM")
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": contexts[0],
           "clusters": [{"name": f"{c}-cluster", "cluster": {"server": f"https://{c}.example:6443",
                                                             "certificate-authority": "ca.crt"}} for c in contexts],
           "users": [{"name": f"{c}-user", "user": {"client-key": str(tmp_path / "client.key"),
                                                    "token": f"{c}-token-0123456789"}} for c in contexts],
           "contexts": [{"name": c, "context": {"cluster": f"{c}-cluster", "user": f"{c}-user"}} for c in contexts]}
    p = tmp_path / "kubeconfig"
    p.write_text(yaml.safe_dump(cfg))
    return p


# ---- 1. names that become paths or command words -------------------------------------------------
@pytest.mark.parametrize("ns", ["../../../../victim", "a/b", "Mastodon", "-n", "x" * 64, "a b"])
def test_a_namespace_that_is_not_a_kubernetes_name_is_refused_before_any_path_is_made(tmp_path, state, monkeypatch, ns):
    from rollback_drill.drill.targets import Refused, staging_for
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("the operator's file")
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path)))
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", "http://127.0.0.1:8088")
    with pytest.raises(Refused, match="namespace"):
        staging_for("staging", "stub", "http://127.0.0.1:8088", "fixtures/runbook/rollback-runbook.ja.md", ns,
                    None, None, None, None, "img", "pg", "redis")
    assert (victim / "keep.txt").read_text() == "the operator's file"
    assert not (state / "existing").exists() or not any((state / "existing").rglob("kubeconfig"))


def test_the_sidecar_namespace_is_checked_too_and_named_as_its_source(tmp_path):
    from rollback_drill.sut.application import from_sidecar
    with pytest.raises(Untrusted, match=r"namespace in /x/rb.drill.yaml"):
        from_sidecar({"path": "/x/rb.drill.yaml", "namespace": "../../etc"})
    with pytest.raises(Untrusted, match="--release"):
        from_sidecar({}, release="x; rm -rf /")


@pytest.mark.parametrize("ctx", ["../../etc", "a b", "-x", "staging/../prod", "x\ny", "a//b"])
def test_context_names_with_spaces_or_path_parts_are_refused_even_when_listed(monkeypatch, ctx):
    from rollback_drill.cluster import ClusterError
    from rollback_drill.cluster.existing import check_allowed
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", ctx)
    with pytest.raises(ClusterError, match="kubeconfig context"):
        check_allowed(ctx)


def test_real_providers_context_names_are_taken():
    for c in ("gke_proj_asia-northeast1-a_mastodon", "arn:aws:eks:us-east-1:123:cluster/mastodon", "kind-drill",
              "admin@staging"):
        assert untrusted.context(c) == c


def test_record_keys_are_exact_and_never_paths():
    assert untrusted.record_key("a", "b--c") != untrusted.record_key("a--b", "c")
    for k in (untrusted.record_key("../..", "x"), untrusted.record_key("arn:aws:eks:x/y", "ns")):
        assert "/" not in k and not k.startswith(".")


def test_put_back_takes_the_records_of_exactly_its_context(state):
    from rollback_drill.sut.existing import pending_dir, pending_records
    pending_dir().mkdir(parents=True)
    for ctx, ns in (("staging", "a"), ("staging--eu", "b"), ("staging-eu", "c")):
        (pending_dir() / f"{untrusted.record_key(ctx, ns)}.json").write_text(json.dumps(
            {"context": ctx, "namespace": ns, "undos": [{"what": "x", "kind": "delete_namespace", "namespace": ns}]}))
    found = pending_records("staging")
    assert [r["namespace"] for _, r in found] == ["a"]


def test_put_back_leaves_a_running_drills_record_alone_and_says_so(state):
    """Two drills on one context (two namespaces), one killed: `put-back` must not undo the other one's
    changes while it runs (it puts back itself); a pid that is no drill's is not an owner."""
    import socket
    import subprocess
    import sys
    from rollback_drill.sut.existing import pending_dir, put_back_pending, running_owner
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "rollback-drill"])
    try:
        here = socket.gethostname()
        rec = {"context": "staging", "namespace": "a", "host": here, "pid": live.pid,
               "undos": [{"what": "x", "kind": "delete_namespace", "namespace": "a"}]}
        assert running_owner(rec) == live.pid
        assert running_owner(dict(rec, host="elsewhere")) is None and running_owner(dict(rec, pid=os.getpid())) is None
        pending_dir().mkdir(parents=True)
        f = pending_dir() / f"{untrusted.record_key('staging', 'a')}.json"
        f.write_text(json.dumps(rec))
        said: list[str] = []
        assert put_back_pending("staging", Path("/nonexistent/kubeconfig"), None, said.append) == 0
        assert f.exists() and "not touched: namespace a — its drill is still running" in said[0], said
    finally:
        live.kill()
        live.wait()
    assert running_owner(rec) is None  # ended: a killed drill's record from now on


def test_forget_removes_only_the_folder_this_run_created(tmp_path, state):
    from rollback_drill.sut.application import Application
    from rollback_drill.sut.existing import Staging, claim_run_dir, forget
    st = Staging("staging", tmp_path / "kubeconfig", "existing", Application(namespace="social"), "https://x",
                 tmp_path)
    st.run_dir.mkdir(parents=True)
    (st.run_dir / "someone-elses.txt").write_text("kept")
    forget(st)  # not claimed by this run: left alone
    assert (st.run_dir / "someone-elses.txt").exists()
    other = Staging("staging", tmp_path / "kubeconfig", "existing", Application(namespace="social"), "https://x",
                    tmp_path)
    claim_run_dir(other.run_dir, other.token)
    forget(st)  # another run's mark: left alone
    assert other.run_dir.exists()
    forget(other)
    assert not other.run_dir.exists()


# ---- 2. the private kubeconfig reaches one cluster only --------------------------------------------
def test_the_private_kubeconfig_holds_only_the_allowed_context_flattened_and_0600(tmp_path, monkeypatch):
    from rollback_drill.sut.existing import scoped_kubeconfig
    src = _kubeconfig(tmp_path)
    monkeypatch.chdir("/")  # relative file names are read relative to the kubeconfig, as kubectl does
    os.umask(0o022)
    out = scoped_kubeconfig(src, "staging", "social", tmp_path / "priv" / "kubeconfig")
    cfg = yaml.safe_load(out.read_text())
    assert [c["name"] for c in cfg["contexts"]] == ["staging"] and len(cfg["clusters"]) == len(cfg["users"]) == 1
    assert cfg["contexts"][0]["context"]["namespace"] == "social"
    assert "prod" not in out.read_text()
    assert cfg["clusters"][0]["cluster"]["certificate-authority-data"] and "certificate-authority" not in \
        cfg["clusters"][0]["cluster"]
    assert "client-key" not in cfg["users"][0]["user"] and cfg["users"][0]["user"]["client-key-data"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("text", ["kubectl --context prod scale deployment --all --replicas=0",
                                  "kubectl get pods --context=prod", "helm --kube-context prod uninstall x",
                                  "KUBECONFIG=$HOME/.kube/config kubectl get pods",
                                  "kubectl --kubeconfig ~/.kube/config get pods",
                                  "kubectl -s https://10.0.0.1 get pods"])
def test_a_runbook_command_naming_another_cluster_is_a_finding_and_is_not_run(tmp_path, text):
    from rollback_drill.evidence.redaction import Redactor
    from rollback_drill.observe.timeline import Timeline
    from rollback_drill.runbook.executor import ExecContext, run_commands
    from rollback_drill.runbook.model import Command
    marker = tmp_path / "ran"
    ctx = ExecContext(tmp_path, {"PATH": os.environ["PATH"]}, Timeline(), Redactor(), "h", "http://127.0.0.1:1",
                      context="staging")
    (rec,) = run_commands(ctx, [Command(f"{text}; touch {marker}", 7)], 1)
    assert not marker.exists() and rec.exit_code == 126 and rec.note.startswith("not run")
    assert [f.kind for f in ctx.findings] == ["foreign_target"] and ctx.findings[0].line == 7


def test_a_command_naming_the_allowed_context_runs(tmp_path):
    from rollback_drill.runbook.executor import reaches_elsewhere
    assert reaches_elsewhere("kubectl --context staging get pods", "staging") == ""
    assert reaches_elsewhere("kubectl get pods  # --context prod in a comment", "staging") == ""


def _fake_real_gcloud(tmp_path: Path) -> Path:
    d = tmp_path / "real-bin"
    d.mkdir()
    g = d / "gcloud"
    g.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/real-gcloud.log\necho ya29.fake-access-token\n")
    g.chmod(0o755)
    return d


def test_the_gcloud_stand_in_hands_everything_but_sql_to_the_real_gcloud(tmp_path):
    import subprocess
    from rollback_drill.runbook.substitutions import prepare_shims
    real = _fake_real_gcloud(tmp_path)
    path = f"{real}{os.pathsep}{os.environ['PATH']}"
    shims = prepare_shims(tmp_path / "shims", path)
    env = dict(os.environ, PATH=f"{shims}{os.pathsep}{path}")
    tok = subprocess.run(["gcloud", "config", "config-helper", "--format=json"], env=env, capture_output=True,
                         text=True)
    assert tok.returncode == 0 and "ya29.fake-access-token" in tok.stdout
    sql = subprocess.run(["gcloud", "--project", "prod", "sql", "backups", "restore", "1", "--restore-instance=x"],
                         env=env, capture_output=True, text=True)
    assert sql.returncode == 2 and "stand-in" in sql.stderr  # never reaches the real gcloud (nor Cloud SQL)
    assert (tmp_path / "real-gcloud.log").read_text().splitlines() == ["config config-helper --format=json"]


def test_without_a_real_gcloud_other_commands_fail_as_a_missing_gcloud(tmp_path):
    import subprocess
    from rollback_drill.runbook.substitutions import prepare_shims
    shims = prepare_shims(tmp_path / "shims", "/nonexistent")
    p = subprocess.run([str(shims / "gcloud"), "auth", "print-access-token"], capture_output=True, text=True)
    assert p.returncode == 127 and "not found" in p.stderr


def test_a_team_context_has_no_stand_in_on_path(tmp_path):
    from rollback_drill.evidence.redaction import Redactor
    from rollback_drill.observe.timeline import Timeline
    from rollback_drill.runbook.executor import ExecContext
    ctx = ExecContext.create(tmp_path, {"PATH": "/usr/bin"}, Timeline(), Redactor(), "h", "http://127.0.0.1:1", "",
                             None, tmp_path / "scratch", standin=False)
    assert ctx.env["PATH"] == "/usr/bin" and not (tmp_path / "scratch" / "shims").exists()


# ---- a backup id from the cluster never becomes shell syntax --------------------------------------------
def test_a_backup_id_with_shell_syntax_is_never_run(tmp_path, monkeypatch):
    from rollback_drill.evidence.redaction import Redactor
    from rollback_drill.observe.timeline import Timeline
    from rollback_drill.runbook.executor import ExecContext, run_commands
    from rollback_drill.runbook.model import Command
    monkeypatch.chdir(tmp_path)
    ctx = ExecContext.create(tmp_path, {"PATH": os.environ["PATH"]}, Timeline(), Redactor(), "h",
                             "http://127.0.0.1:1", "127.0.0.1", f"1; touch {tmp_path}/PWNED; #", tmp_path / "s")
    run_commands(ctx, [Command("gcloud sql backups restore [BACKUP_ID] --backup-instance=mastodon-db", 3)], 3)
    assert not (tmp_path / "PWNED").exists()
    assert any("backup id" in f.action for f in ctx.findings)


# ---- 3. URLs: strict, parsed, one check everywhere -----------------------------------------------
@pytest.mark.parametrize("url", ["http://127.0.0.1.nip.io", "http://127.evil.com/", "file://127.0.0.1/etc/passwd",
                                 "http://user:pw@127.0.0.1:8088", "http://10.0.0.1:8088", "gopher://127.0.0.1"])
def test_the_drill_s_own_ingress_is_a_loopback_address_parsed_not_a_prefix(url):
    with pytest.raises(Untrusted):
        untrusted.target_origin(url, own_ingress=True)


def test_the_allow_list_is_keyed_by_scheme_host_and_port(monkeypatch):
    from rollback_drill.drill.targets import Refused, check_target
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", "https://staging.example")
    assert check_target("https://staging.example/") == "https://staging.example"
    assert check_target("https://staging.example:443") == "https://staging.example"
    for other in ("https://staging.example:8443", "http://staging.example", "https://staging.example.evil.com",
                  "https://127.0.0.1"):
        with pytest.raises(Refused):
            check_target(other)
    with pytest.raises(Untrusted):  # a staging target is never exempt because it is local
        untrusted.target_origin("http://127.0.0.1:9", own_ingress=False)


def test_the_ingress_url_override_must_be_loopback(monkeypatch):
    from rollback_drill.cluster import ClusterError
    from rollback_drill.cluster.existing import ExistingCluster
    c = ExistingCluster.__new__(ExistingCluster)
    monkeypatch.setenv("ROLLBACK_DRILL_INGRESS_URL", "http://staging.example")
    with pytest.raises(ClusterError, match="loopback"):
        _ = c.ingress_url
    monkeypatch.setenv("ROLLBACK_DRILL_INGRESS_URL", "http://127.0.0.1:8080")
    assert c.ingress_url == "http://127.0.0.1:8080"


def test_the_deploy_wait_refuses_a_url_nobody_allowed(monkeypatch):
    from rollback_drill.sut.deploy import _wait_http
    monkeypatch.delenv("ROLLBACK_DRILL_ALLOWED_TARGETS", raising=False)
    with pytest.raises(Untrusted):
        _wait_http("http://staging.example/health", "h", "x", timeout=1)


# ---- files with secrets are created with their final mode ---------------------------------------------
def test_credentials_are_0600_from_creation(tmp_path):
    from rollback_drill.sut.datastores import Credentials
    old = os.umask(0)
    try:
        Credentials.load_or_create(tmp_path / "credentials.json")
        untrusted.write_private(tmp_path / "x", "secret")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "x").stat().st_mode) == 0o600


def test_the_runbook_reader_refuses_a_sidecar_name_that_is_not_a_kubernetes_name(tmp_path):
    from rollback_drill import DEFAULT_RUNBOOK
    from rollback_drill.runbook.model import RunbookError, load_runbook
    rb = tmp_path / "rb.md"
    rb.write_text(DEFAULT_RUNBOOK.read_text(encoding="utf-8"), encoding="utf-8")
    for key, value in (("namespace", "../../etc"), ("helm_release", "a;b"), ("production_host", "x y"),
                       ("old_deployments", ["a", "b", "../c"])):
        (tmp_path / "rb.drill.yaml").write_text(yaml.safe_dump({key: value}))
        with pytest.raises(RunbookError, match=key):
            load_runbook(rb)
