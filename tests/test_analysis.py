"""Pure logic of the runbook analysis: each class of finding on the project's runbook, and silence
on a corrected copy. The live classes run on a LiveState built here (data, not a fake cluster);
tests/cluster/test_analysis_live.py runs them on the real one."""

import shutil
from dataclasses import replace
from types import SimpleNamespace as NS

import pytest

from rollback_drill import DEFAULT_RUNBOOK, FIXTURES
from rollback_drill.runbook import analysis as A
from rollback_drill.runbook.model import load_runbook, parse_runbook_text

TEXT = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
RB = load_runbook(DEFAULT_RUNBOOK)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The fixtures as the drill's working copy has them (secrets.env is written at deploy time)."""
    w = tmp_path_factory.mktemp("work")
    for item in ("k8s", "backup"):
        shutil.copytree(FIXTURES / item, w / item)
    (w / "k8s" / "overlays" / "production" / "secrets.env").write_text("DB_PASS=x\n")
    return w


def corrected(old: str, new: str) -> object:
    assert old in TEXT, old
    return parse_runbook_text(TEXT.replace(old, new, 1), "corrected.md")


L1_FIXED_WAITS = ("kubectl wait --for=condition=ready pod -l app=mastodon-web --timeout=60s",
                  "kubectl rollout status deployment/mastodon-web --timeout=60s\n"
                  "kubectl rollout status deployment/mastodon-streaming --timeout=60s\n"
                  "kubectl rollout status deployment/mastodon-worker --timeout=60s")


def test_no_wait_level1_streaming_and_worker_are_never_waited_for(workdir):
    found = A.missing_waits(RB.level(1), workdir, "Level 1")
    assert {(f.line, f.kind) for f in found} == {(38, "no_wait"), (39, "no_wait")}
    assert all("before line 45" in f.problem for f in found)
    assert A.missing_waits(corrected(*L1_FIXED_WAITS).level(1), workdir, "Level 1") == []


def test_no_wait_level3_restarts_the_stack_and_checks_it_at_once(workdir):
    found = A.missing_waits(RB.level(3), workdir, "Level 3")
    assert {f.problem.split(" but")[0] for f in found} >= {"brings back mastodon-web"}
    assert any("checks it" in f.problem for f in found)


def test_placeholders_and_example_values(workdir):
    found = A.placeholders(RB.level(3).commands, "Level 3", A.example_values(TEXT))
    assert sorted(f.problem[:35] for f in found) == [
        "placeholder left in the command: YO", "the example value 1234567890123 (gi"]
    fixed = corrected("gcloud sql backups restore 1234567890123 \\\n  --backup-instance=mastodon-db \\\n"
                      "  --project=YOUR_PROJECT_ID",
                      "gcloud sql backups restore \"$BACKUP_ID\" \\\n  --restore-instance=mastodon-db \\\n"
                      "  --backup-instance=mastodon-db")
    assert A.placeholders(fixed.level(3).commands, "Level 3", A.example_values(TEXT)) == []


def _live(**kw):
    base = dict(deployments={"mastodon-web": 0, "mastodon-streaming": 0, "mastodon-worker": 0,
                             "mastodon-helm-web": 1, "mastodon-helm-streaming": 1,
                             "mastodon-helm-sidekiq-all-queues": 1},
                serving={"mastodon-helm-web", "mastodon-helm-streaming"}, releases={"mastodon-helm"})
    base.update(kw)
    live = A.LiveState(**base)
    live.objects = {"deployment": set(live.deployments), "service": {"mastodon-web", "mastodon-helm-web"},
                    "ingress": {"mastodon"}}
    live.app_labels = {d: {"app": d} if "helm" not in d else {"app.kubernetes.io/component": d} for d in live.deployments}
    return live


def test_status_checks_of_the_wrong_or_a_missing_stack():
    status = RB.step_meaning("status")
    found = [f for c in status.commands for f in A.check_objects(c, _live(), "手順1", looks_only=True)]
    problems = {(f.line, f.problem.split(" ")[1]) for f in found}
    logs_web = next(c.line for c in status.commands if c.text == "kubectl logs deployment/mastodon-web --tail=100")
    assert (logs_web, "mastodon-web") in problems  # the old web has no running pod in the migrated state
    assert any("mastodon-sidekiq-all-queues does not exist" in f.problem for f in found)
    assert any("mastodon-helm-sidekiq-all-queues" in f.action for f in found)
    fixed = corrected("kubectl logs deployment/mastodon-sidekiq-all-queues --tail=100",
                      "kubectl logs deployment/mastodon-helm-sidekiq-all-queues --tail=100")
    c = next(c for c in fixed.step_meaning("status").commands if "sidekiq" in c.text)
    assert A.check_objects(c, _live(), "手順1", looks_only=True) == []


def test_an_alternative_naming_a_release_that_is_not_there_and_silence_without_it():
    found = A.alternatives(RB.level(2).commands, _live(), "Level 2", {"mastodon-helm"})
    assert [(f.kind, f.line) for f in found] == [("alternative", RB.level(2).commands[0].line)]
    fixed = corrected("# Helm releaseの削除\nhelm uninstall mastodon\n\n# または特定のリリース名の場合\n"
                      "helm uninstall mastodon-helm", "# Helm releaseの削除\nhelm uninstall mastodon-helm")
    assert A.alternatives(fixed.level(2).commands, _live(), "Level 2", {"mastodon-helm"}) == []


def test_all_lists_what_it_touches_and_flags_what_is_not_the_application():
    cmd = next(c for c in RB.level(3).commands if "--all" in c.text)
    app = set(_live().deployments)
    (f,) = A.scope_listing(cmd, _live(), app, "Level 3")
    assert f.severity == "low" and "mastodon-helm-web" in f.problem
    live = _live(deployments={**_live().deployments, "postgres": 1})
    live.objects["deployment"].add("postgres")
    (f,) = A.scope_listing(cmd, live, app, "Level 3")
    assert f.severity == "high" and "outside the application: postgres" in f.problem
    assert A.scope_listing(corrected("kubectl scale deployment --all --replicas=0",
                                     "kubectl scale deployment mastodon-web --replicas=0").level(3).commands[0],
                           live, app, "Level 3") == []


def test_stated_durations_against_measured():
    assert A.stated_duration("Podの起動を待つ（30秒-1分）") == (30, 60)
    assert A.stated_duration("5. 復元が完了するまで待つ（15-30分）") == (900, 1800)
    assert A.stated_duration("Wait for the pods to start (30 s – 1 min)") == (30, 60)
    l1 = RB.level(1)
    wait = next(c for c in l1.commands if c.text.startswith("kubectl wait"))
    rec = NS(line=wait.line, start=10.0, end=12.5)
    (f,) = A.durations(l1.commands, [rec], "Level 1")
    assert f.kind == "duration" and f.severity == "low" and "took 2.5 s" in f.problem
    slow = NS(line=wait.line, start=10.0, end=95.0)
    assert A.durations(l1.commands, [slow], "Level 1")[0].severity == "medium"
    ok = NS(line=wait.line, start=10.0, end=50.0)
    assert A.durations(l1.commands, [ok], "Level 1") == []


def test_a_block_under_one_stated_duration_is_measured_as_a_whole():
    rb = corrected(*L1_FIXED_WAITS)
    block = [c for c in rb.level(1).commands if c.text.startswith("kubectl rollout status")]
    recs = [NS(line=c.line, start=10.0 + 12 * i, end=22.0 + 12 * i) for i, c in enumerate(block)]  # 36 s in all
    assert A.durations(rb.level(1).commands, recs, "Level 1") == []
    (f,) = A.durations(rb.level(1).commands, recs[:1], "Level 1")
    assert f.severity == "low" and "took 12.0 s" in f.problem


def _pod_state(pods: dict[str, dict], deployments: dict[str, dict]):
    """Data shaped like the kubernetes client's answers: pods by uid -> labels, deployments -> labels."""
    from datetime import datetime, timedelta, timezone
    made = datetime.now(timezone.utc) - timedelta(seconds=1)

    def pod(uid, labels):
        return NS(metadata=NS(uid=uid, labels=labels, deletion_timestamp=None, creation_timestamp=made))

    def list_pod(ns, label_selector=""):
        k, _, v = label_selector.partition("=")
        return NS(items=[pod(u, lb) for u, lb in pods.items() if lb.get(k) == v])

    def list_dep(ns):
        return NS(items=[NS(metadata=NS(name=n), spec=NS(template=NS(metadata=NS(labels=lb))))
                         for n, lb in deployments.items()])
    return NS(ns="mastodon", core=NS(list_namespaced_pod=list_pod), apps=NS(list_namespaced_deployment=list_dep))


def test_a_wait_on_pod_labels_races_the_pods_it_waits_for():
    wait = next(c for c in RB.level(1).commands if c.text.startswith("kubectl wait"))
    earlier = tuple(RB.level(1).commands[:3])
    deps = {"mastodon-web": {"app": "mastodon-web"}}
    # nothing matches: kubectl fails at once
    (f,) = A.wait_race(wait, _pod_state({}, deps), "Level 1", earlier, set())
    assert f.kind == "wait_race" and "0 pods matched" in f.observed
    # the pods exist only because the scale-up just made them: passed by luck, still a finding
    state = _pod_state({"u1": {"app": "mastodon-web"}}, deps)
    (f,) = A.wait_race(wait, state, "Level 1", earlier, level_pods=set())
    assert "found its pods by luck" in f.problem and "all created during this level" in f.observed
    assert "rollout status deployment/mastodon-web" in f.action
    # pods that were running before the level began: no race
    assert A.wait_race(wait, state, "Level 1", earlier, level_pods={"u1"}) == []
    # an earlier wait on the Deployment: the pods existed by construction
    fixed = corrected(L1_FIXED_WAITS[0], L1_FIXED_WAITS[1] + "\n" + L1_FIXED_WAITS[0]).level(1).commands
    assert A.wait_race(fixed[6], state, "Level 1", tuple(fixed[:6]), level_pods=set()) == []


def test_no_namespace_is_one_finding_per_step_and_ordering():
    found = A.no_namespace(RB.level(1).commands, "mastodon", "Level 1")
    assert len(found) == 1 and "8 kubectl/helm commands" in found[0].problem
    assert A.no_namespace(corrected("kubectl scale deployment mastodon-web --replicas=1",
                                    "kubectl -n mastodon scale deployment mastodon-web --replicas=1").level(1).commands[:1],
                          "mastodon", "Level 1") == []
    mixed = [A.Finding(9, "x", "p", "a", severity="low"), A.Finding(3, "y", "q", "a", severity="high")]
    assert [f.severity for f in A.ordered(mixed)] == ["high", "low"]


def test_removing_a_stack_that_still_serves_users_is_found_and_silent_once_traffic_moved():
    """Without the procedure's context (a stack not serving when the step began): the evidence alone."""
    live = A.LiveState(app_labels={"mastodon-helm-web": {"app.kubernetes.io/instance": "mastodon-helm"},
                                   "mastodon-web": {"app": "mastodon-web"}})
    scale_down = next(c for c in RB.level(1).commands if c.text.startswith("kubectl scale deployment mastodon-helm-web"))
    still = {"mastodon-helm-web-5d8f9c7b6-x2k4p": 12, "mastodon-web-65b54bb955-wgn7c": 3}
    (f,) = A.removes_serving(scale_down, live, still, 2.0, "Level 1")
    assert f.kind == "removes_serving" and f.severity == "high" and "12 answers from mastodon-helm-web" in f.observed
    moved = {"mastodon-web-65b54bb955-wgn7c": 15}
    assert A.removes_serving(scale_down, live, moved, 2.0, "Level 1") == []
    uninstall = next(c for c in RB.level(2).commands if c.text == "helm uninstall mastodon-helm")
    assert [x.observed for x in A.removes_serving(uninstall, live, still, 2.0, "Level 2")] == [
        "12 answers from mastodon-helm-web pods to requests sent in the 2 s before the command"]


def test_removing_the_stack_that_served_when_the_level_began_is_decided_by_the_procedure_not_the_race():
    """Level 1 scales the Helm stack down right after its Ingress switch with nothing waiting for traffic
    to move: a finding whether or not this cluster's Ingress happened to be quicker than the command
    (the same drill always gives the same finding); a wait after the switch makes it depend on what
    users got; removing the serving stack before any switch (Level 2's uninstall) is always one."""
    live = A.LiveState(app_labels={"mastodon-helm-web": {"app.kubernetes.io/instance": "mastodon-helm"},
                                   "mastodon-helm-streaming": {"app.kubernetes.io/instance": "mastodon-helm"},
                                   "mastodon-web": {"app": "mastodon-web"}})
    cmds = RB.level(1).commands
    switch = next(c for c in cmds if c.text == "kubectl apply -f backup/ingress-mastodon.yaml")
    i = next(i for i, c in enumerate(cmds) if c.text.startswith("kubectl scale deployment mastodon-helm-web"))
    at_start = {"mastodon-helm-web", "mastodon-helm-streaming"}
    moved = {"mastodon-web-65b54bb955-wgn7c": 15}
    for answers in (moved, {}):  # traffic already moved here, or nothing answered: the same finding
        (f,) = A.removes_serving(cmds[i], live, answers, 2.0, "Level 1", at_start, cmds[:i], {switch.line})
        assert f"nothing between the traffic switch (line {switch.line})" in f.problem
        assert f.observed.startswith("not seen on this cluster") and "served users when the step began" in f.observed
    waited = (*cmds[:i], replace(cmds[0], text="sleep 300", line=46))
    assert A.removes_serving(cmds[i], live, moved, 2.0, "Level 1", at_start, waited, {switch.line}) == []
    still = {"mastodon-helm-web-5d8f9c7b6-x2k4p": 4}
    (f,) = A.removes_serving(cmds[i], live, still, 2.0, "Level 1", at_start, waited, {switch.line})
    assert "traffic had not moved yet" in f.problem and f.observed.startswith("4 answers")
    worker = next(c for c in cmds if "sidekiq" in c.text and "--replicas=0" in c.text)  # never behind the Ingress
    assert A.removes_serving(worker, live, moved, 2.0, "Level 1", at_start, cmds[:i], {switch.line}) == []
    uninstall = next(c for c in RB.level(2).commands if c.text == "helm uninstall mastodon-helm")
    found = A.removes_serving(uninstall, live, {}, 2.0, "Level 2", at_start, (), set())
    assert sorted(f.problem.split(" while")[0] for f in found) == [
        "takes away mastodon-helm-streaming", "takes away mastodon-helm-web"]
    assert all("no traffic switch comes before it" in f.problem for f in found)
