"""Drills on an existing, allow-listed context: the real local cluster addressed through its kubeconfig
context, as a team's staging would be (issue 13).

- `--sut stub`: the harness builds the stub in a namespace it creates and deletes afterwards.
- `--sut existing`: a release the test installs first as a team would (plain `kubectl apply -k`,
  `kubectl exec … migrate`, `helm install`, the Ingress re-pointed, the old stack scaled to 0), in
  its own namespace and host, with its own runbook copy and sidecar; the configuration-mistake faults
  are applied to it with `helm upgrade --reuse-values` and put back by the harness.

Load and probes go to 127.0.0.1 only (the local Ingress, allowed explicitly as a target).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rollback_drill import DEFAULT_RUNBOOK, FIXTURES
from rollback_drill.cluster.kube import current_context
from rollback_drill.runbook.model import load_runbook
from rollback_drill.sut.datastores import Credentials
from rollback_drill.sut.deploy import LOCAL, PRE_MIGRATION_VERSION
from rollback_drill.sut.images import datastore_image, stub_image
from rollback_drill.sut.incluster import SECRET, manifests


TEAM_NS, TEAM_HOST = "team-mastodon", "team.rollback-drill.test"


@pytest.fixture(scope="module")
def staging_env(cluster, tmp_path_factory):
    """The environment a team sets for a drill of its staging context (allow-lists, kubeconfig)."""
    for im in (datastore_image("postgres"), datastore_image("redis"), stub_image()):
        cluster.load_image(im.archive, im.name)  # stands in for the team's registry: the node has the images
    context = current_context(cluster.kubeconfig)  # the drill cluster's own context, addressed as a team's
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig), ROLLBACK_DRILL_ALLOWED_CONTEXTS=context,
               ROLLBACK_DRILL_ALLOWED_TARGETS=cluster.ingress_url, DRILL_CONTEXT=context)
    if cluster.bin_dir:
        env["PATH"] = f"{cluster.bin_dir}{os.pathsep}{env['PATH']}"
    return env


def drill(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rollback_drill", "run", "--provider", "existing", "--context",
                           env["DRILL_CONTEXT"], "--target-url", env["ROLLBACK_DRILL_ALLOWED_TARGETS"], *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def journal_of(out: str) -> dict:
    path = [line.split("journal: ", 1)[1] for line in out.splitlines() if line.startswith("journal: ")][-1]
    return json.loads(Path(path).read_text())


def sh(env: dict, *cmd: str, cwd: Path | None = None, input: str | None = None) -> str:
    p = subprocess.run(list(cmd), capture_output=True, text=True, env=env, cwd=cwd, input=input, timeout=300)
    assert p.returncode == 0, f"{' '.join(cmd)}: {p.stderr[-800:]}"
    return p.stdout


def ns_exists(env: dict, ns: str) -> bool:
    return subprocess.run(["kubectl", "get", "namespace", ns], capture_output=True, env=env).returncode == 0


# ---- (a) the stub in a fresh namespace ---------------------------------------------------------------
@pytest.mark.parametrize("level, trigger", [(1, "C1"), pytest.param(2, "C2", marks=pytest.mark.nightly)])
def test_the_stub_in_a_fresh_namespace_passes_and_the_namespace_is_gone_after(staging_env, level, trigger):
    ns = f"drill-stub-l{level}"
    plan = drill(staging_env, "--sut", "stub", "--namespace", ns, "--level", str(level), "--trigger", trigger)
    assert plan.returncode == 2 and "nothing was changed" in plan.stdout and not ns_exists(staging_env, ns)
    assert f"create namespace {ns}" in plan.stdout
    for c in load_runbook(DEFAULT_RUNBOOK).level(level).commands:  # every command of the level, with its line
        assert f"line {c.line}: {c.text}" in plan.stdout, (c.line, plan.stdout[-2000:])
    r = drill(staging_env, "--sut", "stub", "--namespace", ns, "--level", str(level), "--trigger", trigger, "--yes")
    assert r.returncode in (0, 3), r.stdout[-3000:] + r.stderr[-2000:]
    res = journal_of(r.stdout)["scenarios"][-1]
    assert res["verdict"] == "passed" and res["detection"]["fired"]
    assert res["harness_changes"]["reverted"] == [f"namespace {ns} deleted"], res["harness_changes"]
    assert not res["harness_changes"]["not_reverted"]
    assert not ns_exists(staging_env, ns)


# ---- (b) the team's own release ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def team(staging_env, tmp_path_factory):
    """The team's repository (runbook + sidecar, k8s/, backup/, chart) and its release, installed with plain
    kubectl and helm. Removed after the module."""
    env = staging_env
    repo = tmp_path_factory.mktemp("team-repo")
    for item in ("k8s", "backup", "helm", "migrated"):
        shutil.copytree(FIXTURES / item, repo / item)
    for f in list(repo.rglob("*.yaml")):
        f.write_text(f.read_text().replace(LOCAL.host, TEAM_HOST))
    (repo / "rollback-runbook.ja.md").write_text(DEFAULT_RUNBOOK.read_text().replace(LOCAL.host, TEAM_HOST))
    (repo / "rollback-runbook.ja.drill.yaml").write_text(yaml.safe_dump(
        {"namespace": TEAM_NS, "helm_release": "mastodon-helm", "production_host": TEAM_HOST, "helm_chart": "helm/mastodon"}))
    image = stub_image().name
    repo_name, tag = image.rsplit(":", 1)
    kust = repo / "k8s" / "overlays" / "production" / "kustomization.yaml"
    kust.write_text(kust.read_text().replace("IMAGE_TAG", tag))
    creds = Credentials.load_or_create(repo / "credentials.json")
    (repo / "k8s" / "overlays" / "production" / "secrets.env").write_text(
        f"DB_PASS={creds.db_password}\nREDIS_PASSWORD={creds.redis_password}\nSECRET_KEY_BASE={creds.secret_key_base}\n"
        f"SEED_PASSWORD={creds.seed_password}\nREDIS_HOST=redis\n")
    (repo / "values.yaml").write_text(yaml.safe_dump({
        "image": {"repository": repo_name, "tag": tag},
        "mastodon": {"localDomain": TEAM_HOST, "secrets": {"secret_key_base": creds.secret_key_base},
                     "s3": {"enabled": True, "access_key": "team-media", "bucket": "media",
                            "access_secret": "team-media-secret-0123456789"}},
        "postgresql": {"auth": {"password": creds.db_password}}, "redis": {"auth": {"password": creds.redis_password}},
        "ingress": {"enabled": False}}))  # the team's migration applied its own Ingress file (migrated/)
    sh(env, "kubectl", "create", "namespace", TEAM_NS)
    k = ["-n", TEAM_NS]
    sh(env, "kubectl", *k, "create", "secret", "generic", SECRET, f"--from-literal=db-password={creds.db_password}",
       f"--from-literal=redis-password={creds.redis_password}")
    sh(env, "kubectl", *k, "apply", "-f", "-", input=yaml.safe_dump_all(
        manifests(datastore_image("postgres").name, datastore_image("redis").name)))
    sh(env, "kubectl", *k, "rollout", "status", "statefulset/postgres", "--timeout=180s")
    sh(env, "kubectl", *k, "rollout", "status", "statefulset/redis", "--timeout=180s")
    for _ in range(60):  # the database of the application (a team's DBA created it long ago)
        p = subprocess.run(["kubectl", *k, "exec", "postgres-0", "--", "sh", "-c",
                            'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U mastodon -d postgres -c '
                            '"CREATE DATABASE mastodon OWNER mastodon"'], capture_output=True, env=env)
        if p.returncode == 0:
            break
        time.sleep(1)
    sh(env, "kubectl", *k, "apply", "-k", "k8s/overlays/production", cwd=repo)
    for d in LOCAL.old_stack:
        sh(env, "kubectl", *k, "rollout", "status", f"deployment/{d}", "--timeout=180s")
    sh(env, "kubectl", *k, "exec", "deployment/mastodon-web", "--", "mastodon-stub", "migrate", PRE_MIGRATION_VERSION)
    sh(env, "kubectl", *k, "apply", "-f", "backup/ingress-mastodon.yaml", cwd=repo)
    sh(env, "helm", "install", "mastodon-helm", "helm/mastodon", *k, "-f", "values.yaml", "--wait", "--timeout",
       "180s", cwd=repo)
    migrate_again(env, repo)
    yield {"repo": repo, "password": creds.seed_password}
    sh(env, "kubectl", "delete", "namespace", TEAM_NS, "--wait=true", "--timeout=300s")


def migrate_again(env: dict, repo: Path) -> None:
    """The team's migration (again after a drill rolled it back): traffic to the release, old stack to 0."""
    k = ["-n", TEAM_NS]
    for d in LOCAL.helm_stack:
        sh(env, "kubectl", *k, "scale", f"deployment/{d}", "--replicas=1")
        sh(env, "kubectl", *k, "rollout", "status", f"deployment/{d}", "--timeout=180s")
    sh(env, "kubectl", *k, "apply", "-f", "migrated/ingress-mastodon.yaml", cwd=repo)
    sh(env, "kubectl", *k, "scale", "deployment", *LOCAL.old_stack, "--replicas=0")
    sh(env, "kubectl", *k, "wait", "--for=delete", "pod", "-l", LOCAL.old_selector, "--timeout=120s")


def team_drill(env: dict, team: dict, *args: str, **kw):
    e = dict(env, ROLLBACK_DRILL_PROBE_USER="alice@example.com", ROLLBACK_DRILL_PROBE_PASSWORD=team["password"])
    return drill(e, "--sut", "existing", "--runbook", str(team["repo"] / "rollback-runbook.ja.md"),
                 "--workdir", str(team["repo"]), *args, **kw)


def helm_values(env: dict) -> dict:
    return json.loads(sh(env, "helm", "get", "values", "mastodon-helm", "-n", TEAM_NS, "-o", "json"))


@pytest.mark.parametrize("trigger, fault", [
    ("C2", "config-db-password"),
    pytest.param("C3", "config-ldap-unreachable", marks=pytest.mark.nightly),
    pytest.param("H3", "config-sidekiq-queues", marks=pytest.mark.nightly),
    pytest.param("H4", "config-s3-credentials", marks=pytest.mark.nightly),
    pytest.param("M2", "config-streaming-port", marks=pytest.mark.nightly)])
def test_a_configuration_mistake_in_the_teams_release_is_detected_and_removed_by_level_1(staging_env, team,
                                                                                         trigger, fault):
    before = helm_values(staging_env)
    files = sorted(p for p in team["repo"].rglob("*"))
    r = team_drill(staging_env, team, "--level", "1", "--trigger", trigger, "--yes")
    try:
        assert r.returncode in (0, 3), r.stdout[-3000:] + r.stderr[-2000:]
        res = journal_of(r.stdout)["scenarios"][-1]
        assert res["fault"]["name"] == fault and res["detection"]["fired"], res["detection"]
        assert res["verdict"] == "passed"
        assert any(x.startswith("helm rollback mastodon-helm") for x in res["harness_changes"]["reverted"])
        assert helm_values(staging_env) == before  # the mistake is gone from the release: put back as found
        assert sorted(p for p in team["repo"].rglob("*")) == files  # nothing written into the team's folder
    finally:
        migrate_again(staging_env, team["repo"])


@pytest.mark.nightly  # the suite's 10 minutes: Ctrl-C's put-back is in the suite on the drill cluster
# (test_interrupts), the team release's put-back after a kill below
def test_an_aborted_drill_leaves_the_release_values_as_they_were(staging_env, team):
    before = helm_values(staging_env)
    e = dict(staging_env, ROLLBACK_DRILL_PROBE_USER="alice@example.com",
             ROLLBACK_DRILL_PROBE_PASSWORD=team["password"], PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "rollback_drill", "run", "--provider", "existing", "--context",
                          e["DRILL_CONTEXT"],
                          "--target-url", e["ROLLBACK_DRILL_ALLOWED_TARGETS"], "--sut", "existing", "--runbook",
                          str(team["repo"] / "rollback-runbook.ja.md"), "--workdir", str(team["repo"]),
                          "--level", "1", "--trigger", "C2", "--yes"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=e)
    out = []
    for line in p.stdout:
        out.append(line)
        if line.startswith("drill: injected"):
            assert helm_values(staging_env) != before  # the mistake is in the release now
            p.send_signal(signal.SIGINT)
            break
    rest, _ = p.communicate(timeout=400)
    text = "".join(out) + rest
    try:
        assert p.returncode == 4, text[-3000:]
        assert "interrupted by SIGINT" in text and "put back: helm rollback mastodon-helm" in text, text[-3000:]
        assert helm_values(staging_env) == before
    finally:
        migrate_again(staging_env, team["repo"])


def test_a_killed_drill_leaves_a_record_the_next_drill_refuses_on_until_put_back_restores_the_values(staging_env, team):
    """SIGKILL puts nothing back; the pending record it leaves makes the next drill refuse, and
    `rollback-drill put-back` restores the release's values."""
    before = helm_values(staging_env)
    e = dict(staging_env, ROLLBACK_DRILL_PROBE_USER="alice@example.com",
             ROLLBACK_DRILL_PROBE_PASSWORD=team["password"], PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "rollback_drill", "run", "--provider", "existing", "--context",
                          e["DRILL_CONTEXT"], "--target-url", e["ROLLBACK_DRILL_ALLOWED_TARGETS"], "--sut", "existing",
                          "--runbook", str(team["repo"] / "rollback-runbook.ja.md"), "--workdir", str(team["repo"]),
                          "--level", "1", "--trigger", "C2", "--yes"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=e)
    for line in p.stdout:
        if line.startswith("drill: injected"):
            p.kill()
            break
    p.communicate(timeout=60)
    try:
        assert helm_values(staging_env) != before  # nothing could put it back
        r = team_drill(staging_env, team, "--level", "1", "--trigger", "C2", "--yes")
        lines = (r.stdout + r.stderr).strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "was killed before it put back" in lines[0], r.stdout
        assert f"rollback-drill put-back --context {e['DRILL_CONTEXT']}" in lines[0]
        pb = subprocess.run([sys.executable, "-m", "rollback_drill", "put-back", "--context", e["DRILL_CONTEXT"]],
                            capture_output=True, text=True, env=staging_env, timeout=400)
        assert pb.returncode == 0 and "put back: helm rollback mastodon-helm" in pb.stdout, pb.stdout + pb.stderr
        assert helm_values(staging_env) == before
        again = subprocess.run([sys.executable, "-m", "rollback_drill", "put-back", "--context", e["DRILL_CONTEXT"]],
                               capture_output=True, text=True, env=staging_env, timeout=60)
        assert again.returncode == 0 and "nothing to put back" in again.stdout
    finally:
        migrate_again(staging_env, team["repo"])


def test_a_release_not_in_the_migrated_state_is_refused_with_the_differences(staging_env, team):
    k = ["-n", TEAM_NS]
    sh(staging_env, "kubectl", *k, "scale", "deployment/mastodon-web", "--replicas=1")
    try:
        r = team_drill(staging_env, team, "--level", "1", "--trigger", "C2", "--yes")
        assert r.returncode == 2, r.stdout + r.stderr
        lines = (r.stdout + r.stderr).strip().splitlines()
        assert len(lines) == 1 and "not what the runbook assumes" in lines[0]
        assert "(1) Deployment mastodon-web has 1 replicas" in lines[0]
        assert helm_values(staging_env)["postgresql"]["auth"]["password"]  # nothing was upgraded
        pre = subprocess.run([sys.executable, "-m", "rollback_drill", "preflight", "--context",
                              staging_env["DRILL_CONTEXT"], "--runbook", str(team["repo"] / "rollback-runbook.ja.md"),
                              "--workdir", str(team["repo"])], capture_output=True, text=True, env=staging_env)
        assert "just-migrated state (what `run --sut existing` needs): 1 difference(s)" in pre.stdout, pre.stdout
        assert "[!!] Deployment mastodon-web has 1 replicas" in pre.stdout
    finally:
        sh(staging_env, "kubectl", *k, "scale", "deployment/mastodon-web", "--replicas=0")


@pytest.mark.nightly
def test_a_level_1_that_never_switches_the_ingress_back_fails_on_the_teams_release(staging_env, team):
    """The must-fail drill on a team's release: its runbook copy lost the Ingress switch-back, so the
    old stack runs but users still reach the broken release (then nothing): not passed, exit 1, and
    the release's values are put back all the same."""
    repo = team["repo"]
    broken = repo / "rollback-runbook.broken.ja.md"
    level_1, rest = (repo / "rollback-runbook.ja.md").read_text().split("### Level 2", 1)
    assert "kubectl apply -f backup/ingress-mastodon.yaml\n" in level_1
    broken.write_text(level_1.replace("kubectl apply -f backup/ingress-mastodon.yaml\n", "") + "### Level 2" + rest)
    shutil.copy(repo / "rollback-runbook.ja.drill.yaml", repo / "rollback-runbook.broken.ja.drill.yaml")
    before = helm_values(staging_env)
    e = dict(staging_env, ROLLBACK_DRILL_PROBE_USER="alice@example.com", ROLLBACK_DRILL_PROBE_PASSWORD=team["password"])
    r = drill(e, "--sut", "existing", "--runbook", str(broken), "--workdir", str(repo), "--level", "1",
              "--trigger", "C2", "--yes")
    try:
        assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]
        res = journal_of(r.stdout)["scenarios"][-1]
        assert res["detection"]["fired"] and res["verdict"] != "passed", res["verdict"]
        assert res["recovery"]["t_recovered"] is None, res["recovery"]
        assert helm_values(staging_env) == before
    finally:
        broken.unlink()
        (repo / "rollback-runbook.broken.ja.drill.yaml").unlink()
        migrate_again(staging_env, repo)


# ---- issue 18: a mistake that cannot reach the pods is refused; the team's values edited in place ----------
def _upgrade(env: dict, team: dict, *sets: str) -> int:
    """A change of the team's own (as it would make it); returns the revision before it."""
    revision = json.loads(sh(env, "helm", "status", "mastodon-helm", "-n", TEAM_NS, "-o", "json"))["version"]
    sh(env, "helm", "upgrade", "mastodon-helm", "helm/mastodon", "-n", TEAM_NS, "--reuse-values", *sets, "--wait",
       "--timeout", "180s", cwd=team["repo"])
    return revision


def _rollback(env: dict, revision: int) -> None:
    sh(env, "helm", "rollback", "mastodon-helm", str(revision), "-n", TEAM_NS, "--wait", "--timeout", "180s")


@pytest.mark.nightly  # the same refusal is rendered by helm template in every run (tests/test_mistakes.py)
def test_a_db_mistake_on_a_release_with_an_existing_secret_is_refused_as_a_no_op(staging_env, team):
    """With postgresql.auth.existingSecret the pods read DB_PASS from the team's Secret: a --set of
    postgresql.auth.password changes nothing they read, and the drill says so instead of drilling nothing."""
    creds = Credentials.load_or_create(team["repo"] / "credentials.json")
    sh(staging_env, "kubectl", "-n", TEAM_NS, "create", "secret", "generic", "team-db",
       f"--from-literal=password={creds.db_password}")
    revision = _upgrade(staging_env, team, "--set", "postgresql.auth.existingSecret=team-db")
    try:
        before = helm_values(staging_env)
        r = team_drill(staging_env, team, "--level", "1", "--trigger", "C2", "--yes")
        lines = (r.stdout + r.stderr).strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stdout[-2000:] + r.stderr[-2000:]
        assert "postgresql.auth.existingSecret=team-db" in lines[0] and "would change nothing" in lines[0]
        assert helm_values(staging_env) == before  # nothing was upgraded
    finally:
        _rollback(staging_env, revision)
        sh(staging_env, "kubectl", "-n", TEAM_NS, "delete", "secret", "team-db")


@pytest.mark.nightly
def test_the_sidekiq_mistake_keeps_a_custom_worker_list_and_puts_it_back_as_it_was(staging_env, team):
    workers = [{"name": "all-queues", "concurrency": 10, "replicas": 1,
                "queues": ["default", "push", "mailers", "scheduler", "ingress", "fasp"],
                "resources": {"limits": {"memory": "512Mi"}}},
               {"name": "pull", "concurrency": 5, "replicas": 1, "queues": ["pull"],
                "resources": {"limits": {"memory": "256Mi"}}}]
    revision = _upgrade(staging_env, team, "--set-json", f"mastodon.sidekiq.workers={json.dumps(workers)}")
    try:
        before = helm_values(staging_env)
        assert before["mastodon"]["sidekiq"]["workers"] == workers
        r = team_drill(staging_env, team, "--level", "1", "--trigger", "H3", "--yes")
        assert r.returncode in (0, 3), r.stdout[-3000:] + r.stderr[-2000:]
        res = journal_of(r.stdout)["scenarios"][-1]
        assert "(all-queues, pull)" in res["fault"]["description"], res["fault"]
        assert res["verdict"] == "passed" and res["detection"]["fired"]
        assert helm_values(staging_env)["mastodon"]["sidekiq"]["workers"] == workers
    finally:
        migrate_again(staging_env, team["repo"])
        _rollback(staging_env, revision)
