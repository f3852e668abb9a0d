"""A configuration mistake must reach the pods before it is called a fault (issue 18): the pure parts —
what the pods read, why a value renders nothing, the team's values edited in place."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from rollback_drill import FIXTURES
from rollback_drill.sut.faults import CONFIG
from rollback_drill.sut.mistakes import LOST_QUEUE, no_op_reason, tailored, what_pods_read

WORKERS = [{"name": "default", "concurrency": 10, "replicas": 3, "queues": ["default", "push"],
            "resources": {"limits": {"memory": "1Gi"}}, "affinity": {"nodeAffinity": {"x": 1}}},
           {"name": "scheduler", "concurrency": 5, "replicas": 1, "queues": ["scheduler", "mailers"]}]


def test_the_sidekiq_mistake_keeps_the_team_s_workers_and_changes_only_their_queues():
    f = tailored(CONFIG["jobs"], {"mastodon": {"sidekiq": {"workers": WORKERS}}})
    new = f.values["mastodon.sidekiq.workers"]
    assert [w["name"] for w in new] == ["default", "scheduler"]
    assert new[0]["resources"] == WORKERS[0]["resources"] and new[0]["affinity"] == WORKERS[0]["affinity"]
    assert new[0]["replicas"] == 3 and new[0]["concurrency"] == 10
    assert new[0]["queues"] == [LOST_QUEUE] and new[1]["queues"] == ["scheduler"]
    assert WORKERS[0]["queues"] == ["default", "push"]  # the team's values themselves untouched
    assert "default, scheduler" in f.description


@pytest.mark.parametrize("values, path, named", [
    ({"postgresql": {"auth": {"existingSecret": "team-db"}}}, "postgresql.auth.password",
     "postgresql.auth.existingSecret=team-db"),
    ({"mastodon": {"secrets": {"existingSecret": "team-app"}}}, "mastodon.secrets.secret_key_base",
     "mastodon.secrets.existingSecret=team-app"),
    ({"mastodon": {"s3": {"enabled": False}}}, "mastodon.s3.access_secret", "mastodon.s3.enabled=false"),
    ({"mastodon": {"s3": {"enabled": True, "existingSecret": "team-s3"}}}, "mastodon.s3.access_secret",
     "mastodon.s3.existingSecret=team-s3"),
])
def test_the_value_that_makes_a_mistake_a_no_op_is_named(values, path, named):
    assert named in no_op_reason(values, [path])


def test_rollme_alone_is_not_a_change_for_the_pods():
    def dep(rev: int, pw_secret: str) -> dict:
        return {"kind": "Deployment", "metadata": {"name": "w"}, "spec": {"replicas": 1, "template": {
            "metadata": {"annotations": {"rollme": str(rev)}},
            "spec": {"containers": [{"env": [{"name": "DB_PASS", "valueFrom": {"secretKeyRef": {"name": pw_secret}}}]}]}}}}
    assert what_pods_read([dep(1, "a")]) == what_pods_read([dep(2, "a")])
    assert what_pods_read([dep(1, "a")]) != what_pods_read([dep(1, "b")])


def _template(helm: str, *sets: str) -> list[dict]:
    out = subprocess.run([helm, "template", "mastodon-helm", str(FIXTURES / "helm" / "mastodon"), "--set",
                          "image.tag=x", "--set", "mastodon.secrets.secret_key_base=k", "--set",
                          "redis.auth.password=r", *sets], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_the_stub_chart_honours_existing_secret_as_the_official_chart_does(helm_binary):
    """With postgresql.auth.existingSecret the DB password given with --set renders nothing the pods read."""
    base = ("--set", "postgresql.auth.existingSecret=team-db", "--set", "postgresql.auth.password=right")
    a = what_pods_read(_template(helm_binary, *base))
    b = what_pods_read(_template(helm_binary, *base[:2], "--set", "postgresql.auth.password=wrong"))
    assert a == b
    c = what_pods_read(_template(helm_binary, "--set", "postgresql.auth.password=right"))
    d = what_pods_read(_template(helm_binary, "--set", "postgresql.auth.password=wrong"))
    assert c != d


def test_the_stub_chart_renders_ldap_sign_in_like_the_official_chart(helm_binary):
    docs = _template(helm_binary, "--set", "postgresql.auth.password=p", "--set-json",
                     'externalAuth.ldap={"enabled":true,"host":"127.0.0.1","port":1}')
    env = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-env"))["data"]
    assert (env["LDAP_ENABLED"], env["LDAP_HOST"], env["LDAP_PORT"]) == ("true", "127.0.0.1", "1")


@pytest.fixture(scope="module")
def helm_binary() -> str:
    """The helm the harness builds (scripts/setup.sh); its absence is a failed set-up, not a skip."""
    from rollback_drill.cluster.local import LocalCluster
    path = LocalCluster().bin_dir / "helm"
    assert path.exists(), f"{path} is missing: run 'bash scripts/setup.sh'"
    return str(path)


class _RenderingKube:
    """Answers `helm upgrade --dry-run -o json` with manifests rendered by `helm template` of the stub
    chart (the real renderer; only the release's stored values are given here instead of read)."""

    def __init__(self, helm: str, *base_sets: str) -> None:
        self.helm_path, self.base = helm, base_sets

    def helm(self, *args: str, **kw):
        import json as _json
        sets = [a for i, a in enumerate(args) if i and args[i - 1] == "--set-json"]
        flags = [x for s in sets for x in ("--set-json", s)]
        out = subprocess.run([self.helm_path, "template", "mastodon-helm", str(FIXTURES / "helm" / "mastodon"),
                              "--set", "image.tag=x", "--set", "mastodon.secrets.secret_key_base=k", "--set",
                              "redis.auth.password=r", "--set", "postgresql.auth.password=p", *self.base, *flags],
                             capture_output=True, text=True, check=True).stdout
        return subprocess.CompletedProcess(args, 0, _json.dumps({"manifest": out}), "")


def test_a_streaming_port_mistake_that_the_chart_s_own_ingress_follows_is_refused(helm_binary):
    from rollback_drill.sut.application import Application
    from rollback_drill.sut.mistakes import NoOpMistake, prove
    kube = _RenderingKube(helm_binary, "--set", "ingress.enabled=true")
    with pytest.raises(NoOpMistake, match="follows it"):
        prove(kube, Application(), Path("chart"), CONFIG["streaming"], {})
    # with the team's own Ingress (the chart's off), the same mistake breaks streaming: it is a fault
    changed = prove(_RenderingKube(helm_binary, "--set", "ingress.enabled=false"), Application(), Path("chart"),
                    CONFIG["streaming"], {})
    assert any(k.startswith("Deployment/") for k in changed)


def test_a_db_mistake_behind_an_existing_secret_is_refused_naming_it(helm_binary):
    from rollback_drill.sut.application import Application
    from rollback_drill.sut.mistakes import NoOpMistake, prove
    kube = _RenderingKube(helm_binary, "--set", "postgresql.auth.existingSecret=team-db")
    with pytest.raises(NoOpMistake, match="postgresql.auth.existingSecret=team-db"):
        prove(kube, Application(), Path("chart"), CONFIG["db"], {"postgresql": {"auth": {"existingSecret": "team-db"}}})


def test_the_plan_says_what_helm_rollback_restarts():
    from rollback_drill.sut.mistakes import restarts_on_rollback
    assert "every pod of the release restarts" in restarts_on_rollback({"revisionPodAnnotation": True})
    assert "every pod" not in restarts_on_rollback({})
