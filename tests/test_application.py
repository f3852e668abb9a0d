"""The application's names come from the sidecar and flags; every harness change is put back once."""

import pytest

from rollback_drill.runbook.model import RunbookError, load_runbook
from rollback_drill.sut.application import Application, from_sidecar
from rollback_drill.sut.changes import ChangeLog


def test_the_project_names_are_the_defaults_and_the_chart_names_follow_the_release():
    app = Application()
    assert app.helm_stack == ("mastodon-helm-web", "mastodon-helm-streaming", "mastodon-helm-sidekiq-all-queues")
    assert Application(release="social").helm_stack[0] == "social-mastodon-web"  # the chart's fullname rule
    assert app.counterparts()["mastodon-web"] == "mastodon-helm-web"
    assert app.counterparts()["mastodon-helm-sidekiq-all-queues"] == "mastodon-worker"


def test_flags_win_over_the_sidecar():
    app = from_sidecar({"namespace": "social", "helm_release": "masto", "production_host": "social.example",
                        "old_deployments": ["w", "s", "k"]}, namespace="staging-social")
    assert (app.namespace, app.release, app.host, app.old_stack) == ("staging-social", "masto", "social.example",
                                                                     ("w", "s", "k"))


def test_bad_sidecar_names_are_one_clear_error(tmp_path):
    rb = tmp_path / "rb.md"
    rb.write_text((__import__("rollback_drill").DEFAULT_RUNBOOK).read_text())
    (tmp_path / "rb.drill.yaml").write_text("old_deployments: [web]\n")
    with pytest.raises(RunbookError, match="three Deployment names"):
        load_runbook(rb)
    (tmp_path / "rb.drill.yaml").write_text("config_faults: {db: wrong}\n")
    with pytest.raises(RunbookError, match="config_faults"):
        load_runbook(rb)


def test_every_change_is_put_back_once_newest_first_and_a_failure_is_said():
    log, done = ChangeLog(), []
    log.record("created namespace x", lambda: done.append("ns") or "namespace x deleted")
    log.record("broke a value", lambda: (_ for _ in ()).throw(RuntimeError("helm said no")))
    log.record("looked only", None)
    log.record("upgraded release", lambda: done.append("rel") or "rolled back")
    assert log.revert() == ["rolled back", "namespace x deleted"]
    assert done == ["rel", "ns"]
    assert log.revert() == [] and done == ["rel", "ns"]  # once
    d = log.to_dict()
    assert d["changes"] == ["created namespace x", "broke a value", "looked only", "upgraded release"]
    assert d["not_reverted"] == ["broke a value (RuntimeError: helm said no)"]


def test_the_plan_names_every_change_its_undo_every_runbook_command_and_the_load_bounds(tmp_path):
    from rollback_drill import DEFAULT_RUNBOOK
    from rollback_drill.observe.load import LoadConfig
    from rollback_drill.drill.staging import plan_lines
    from rollback_drill.sut.existing import Staging
    from rollback_drill.sut.faults import CONFIG
    rb = load_runbook(DEFAULT_RUNBOOK)
    st = Staging("staging", tmp_path / "kubeconfig", "existing", Application(namespace="social"),
                 "https://staging-lb.example", tmp_path)
    text = "\n".join(plan_lines(st, rb, 1, CONFIG["db"], LoadConfig(), 7))
    assert "helm upgrade mastodon-helm --reuse-values --no-hooks: postgresql.auth.password=<a wrong value>" in text
    assert "put back with helm rollback mastodon-helm 7" in text
    assert "migration-typo" not in text  # the plan names the path, not the value
    for c in rb.level(1).commands:
        assert f"line {c.line}: {c.text}" in text
    assert "6 users x 5 req/s for at most 900 s" in text and "to https://staging-lb.example (Host: ykzts.technology)" in text
    stub = Staging("staging", tmp_path / "kubeconfig", "stub", Application(namespace="drill-1"), "https://lb", tmp_path,
                   image="reg/stub:1", postgres_image="postgres:15", redis_image="redis:7")
    text = "\n".join(plan_lines(stub, rb, 2, None, LoadConfig(), None))
    assert "create namespace drill-1 (must not exist)" in text and "deleting namespace drill-1" in text
    assert "postgres:15" in text and "reg/stub:1" in text


class MigratedKube:
    """A team's namespace as read through the API (no cluster): Deployments with replicas, the Ingress."""

    namespace = "social"

    def __init__(self, deployments: dict[str, int], ingress_backends: list[str], release: bool = True):
        self.deps, self.backends, self.release = deployments, ingress_backends, release

    def namespace_exists(self):
        return True

    def helm_release_deployed(self, release):
        return self.release

    def deployments(self):
        return dict(self.deps)

    def read(self, kind, name):
        from types import SimpleNamespace
        if kind == "ingress":
            return {"spec": {"rules": [{"http": {"paths": [{"backend": {"service": {"name": b}}}
                                                           for b in self.backends]}}]}}
        if kind == "deployment" and name not in self.deps:
            return None
        return SimpleNamespace()

    def as_dict(self, obj):
        return obj

    def kubectl(self, *args, **kw):
        import subprocess
        return subprocess.CompletedProcess(args, 0, "", "")


def test_every_difference_from_the_migrated_state_is_listed(tmp_path):
    import shutil

    from rollback_drill import DEFAULT_RUNBOOK, FIXTURES
    from rollback_drill.drill.staging import differences
    rb = load_runbook(DEFAULT_RUNBOOK)
    for item in ("backup", "k8s"):
        shutil.copytree(FIXTURES / item, tmp_path / item)
    app = Application(namespace="social")
    migrated = {**{d: 0 for d in app.old_stack}, **{d: 1 for d in app.helm_stack}}
    assert differences(MigratedKube(migrated, ["mastodon-helm-web", "mastodon-helm-streaming"]), app, rb, 1,
                       tmp_path) == []
    not_migrated = {**migrated, "mastodon-web": 1, "mastodon-helm-web": 0}
    del not_migrated["mastodon-worker"]
    found = differences(MigratedKube(not_migrated, ["mastodon-web"], release=False), app, rb, 1, tmp_path)
    assert "Helm release mastodon-helm is not deployed in social" in found
    assert "Deployment mastodon-helm-web has 0 replicas: the migrated state serves from the release" in found
    assert "Deployment mastodon-web has 1 replicas: after the migration the old stack is scaled to 0" in found
    assert "Deployment mastodon-worker (the old stack the rollback scales up) does not exist" in found
    assert "Ingress mastodon routes to ['mastodon-web'], not to the release's Services" in found
    (tmp_path / "backup" / "ingress-mastodon.yaml").write_text((FIXTURES / "migrated" / "ingress-mastodon.yaml")
                                                                .read_text())
    wrong_backup = differences(MigratedKube(migrated, ["mastodon-helm-web"]), app, rb, 1, tmp_path)
    assert any("routes to ['mastodon-helm-streaming', 'mastodon-helm-web'], not to the old stack" in d
               for d in wrong_backup), wrong_backup


def test_the_system_under_test_is_chosen_by_sut_and_refuses_before_anything_changes(tmp_path):
    """One interface (sut/system.py): `--sut existing` is the team's release, checked against the state
    the runbook's level assumes (every difference, exit 2); `--sut stub` is the stub in a namespace of
    ours, refused when that namespace is there already. check() reads only."""
    import shutil

    from rollback_drill import DEFAULT_RUNBOOK, FIXTURES
    from rollback_drill.drill.staging import system_under_test
    from rollback_drill.sut.existing import NotAsAssumed, Staging
    from rollback_drill.sut.system import StubInNamespace, TeamRelease
    rb = load_runbook(DEFAULT_RUNBOOK)
    for item in ("backup", "k8s"):
        shutil.copytree(FIXTURES / item, tmp_path / item)
    app = Application(namespace="social")
    st = Staging("staging", tmp_path / "kubeconfig", "existing", app, "https://staging.example", tmp_path)
    migrated = {**{d: 0 for d in app.old_stack}, **{d: 1 for d in app.helm_stack}}
    team = system_under_test(st, MigratedKube(migrated, ["mastodon-helm-web", "mastodon-helm-streaming"]), rb, 1, print)
    assert isinstance(team, TeamRelease) and team.ingress_before == ["mastodon-streaming", "mastodon-web"]
    team.check()  # the migrated state: nothing to refuse
    assert "team's release mastodon-helm in namespace social on context 'staging'" in team.describe()
    off = system_under_test(st, MigratedKube({**migrated, "mastodon-helm-web": 0}, ["mastodon-helm-web"]), rb, 1, print)
    with pytest.raises(NotAsAssumed) as e:
        off.check()
    assert "Deployment mastodon-helm-web has 0 replicas" in str(e.value)
    stub = system_under_test(Staging("staging", tmp_path / "kubeconfig", "stub", app, "https://staging.example",
                                     tmp_path), MigratedKube(migrated, []), rb, 1, print)
    assert isinstance(stub, StubInNamespace)
    with pytest.raises(NotAsAssumed, match="namespace social already exists"):
        stub.check()
