"""Pure logic of mutation testing: which mutants a level gets, and how a drill's result judges them."""

import pytest

from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.drill.mutate import judge, mutants, neutered, read_only_twin, repoint
from rollback_drill.runbook.model import load_runbook
from rollback_drill.sut.deploy import LOCAL

PAIRS = LOCAL.counterparts()
RB = load_runbook(DEFAULT_RUNBOOK)


def test_level1_gets_one_deletion_per_command_and_a_repoint_per_named_object():
    ms = mutants(RB.level(1), PAIRS)
    deletions = [m for m in ms if m.kind == "delete"]
    assert len(deletions) == len(RB.level(1).commands) == 8
    repoints = {m.original: m.mutated for m in ms if m.kind == "repoint"}
    assert repoints["kubectl scale deployment mastodon-web --replicas=1"] == \
        "kubectl scale deployment mastodon-helm-web --replicas=1"
    assert repoints["kubectl scale deployment mastodon-helm-sidekiq-all-queues --replicas=0"] == \
        "kubectl scale deployment mastodon-worker --replicas=0"
    assert "kubectl apply -f backup/ingress-mastodon.yaml" not in repoints
    optional = {m.original for m in deletions if m.optional}
    assert optional == {c.text for c in RB.level(1).commands if "helm" in c.text}  # 新環境をスケールダウン（オプション）


def test_repoint_swaps_whole_names_only():
    ann = "kubectl annotate service mastodon-web x='{\"default\": \"mastodon-web-backend-config\"}'"
    assert repoint(ann, PAIRS) == "kubectl annotate service mastodon-helm-web x='{\"default\": \"mastodon-web-backend-config\"}'"
    assert repoint("kubectl get pods", PAIRS) is None


def test_deleting_one_form_of_an_alternative_keeps_the_pair_consistent():
    lv = RB.level(2)
    first = next(i for i, c in enumerate(lv.commands) if lv.commands[i + 1].alternative_to == i)
    m = next(m for m in mutants(lv, PAIRS) if m.id == f"delete:{first + 1}")
    assert m.alternative and m.commands[first].alternative_to is None  # the other form now runs on its own
    assert all(c.alternative_to is None or c.alternative_to < len(m.commands) for c in m.commands)


def test_read_only_twins_and_neutering():
    assert read_only_twin("kubectl apply -f backup/ingress-mastodon.yaml") == "kubectl get -f backup/ingress-mastodon.yaml"
    assert read_only_twin("kubectl scale deployment mastodon-helm-web --replicas=0") == \
        "kubectl get deployment mastodon-helm-web"
    with pytest.raises(ValueError):
        read_only_twin("helm uninstall mastodon-helm")
    cmds, changed = neutered(RB.level(1).commands, lambda c: "apply" in c.text)
    assert len(changed) == 1 and any(c.text == "kubectl get -f backup/ingress-mastodon.yaml" for c in cmds)


def _res(verdict, failing=()):
    return {"verdict": verdict, "checklist": [],
            "recovery": {"conditions": [{"key": k, "label": "l", "detail": d, "holds": False} for k, d in failing]}}


def test_judge_names_what_killed_a_mutant_and_what_a_survivor_means():
    ms = {m.id: m for m in mutants(RB.level(1), PAIRS)}
    killed = judge(ms["delete:5"], _res("not_recovered", [("c", "answered by mastodon-helm-web-x")]), 21.0)
    assert killed.killed and "not_recovered" in killed.killed_by and "(c)" in killed.killed_by
    assert "time limit" in killed.killed_by
    optional = judge(ms["delete:6"], _res("passed"), 21.0)
    assert not optional.killed and optional.expected and not optional.finding
    survivor = judge(ms["delete:4"], _res("passed"), 21.0)
    assert not survivor.killed and not survivor.expected and "no observable effect" in survivor.finding


def _users(verdict, failed):
    return {**_res(verdict), "outage": {"during_rollback": {"failed_requests": failed, "requests": 400,
                                                            "window": [1.0, 20.0]}}}


def test_a_mutant_that_passes_but_costs_the_users_more_than_the_baselines_spread_is_killed():
    from rollback_drill.drill.mutate import UsersBar
    ms = {m.id: m for m in mutants(RB.level(1), PAIRS)}
    bar = UsersBar.of([_users("passed", 40), _users("passed", 70), _users("passed", 55)])
    assert (bar.spread, bar.margin, bar.threshold) == (30, 30, 100)
    hurt = judge(ms["delete:4"], _users("passed", 101), 21.0, bar)
    assert hurt.killed and hurt.killed_by.startswith("the users' outage: 101 failed requests between decision and "
                                                     "recovery, against baselines 40, 70, 55 failed requests (spread 30")
    same = judge(ms["delete:4"], _users("passed", 100), 21.0, bar)
    assert not same.killed and "no observable effect" in same.finding
    # one baseline: the spread is unknown, the stated minimum margin stands in (never a zero margin)
    one = UsersBar.of([_users("passed", 8)])
    assert one.spread is None and one.threshold == 18 and "one baseline: spread unknown" in one.describe()
    assert UsersBar.of([_res("passed")]) is None  # a journal without the window: no bar, said by its absence
    assert judge(ms["delete:4"], _users("passed", 500), 21.0, None).killed is False


def test_a_baseline_that_only_misses_the_target_is_judged_against_and_a_worse_mutant_still_dies():
    from rollback_drill.drill.mutate import usable_baseline
    ms = {m.id: m for m in mutants(RB.level(1), PAIRS)}
    slow = {**_users("target_missed", 30), "durations": {"decision_within_deadline": True}}
    assert usable_baseline(slow)
    assert not usable_baseline({**slow, "checklist": [{"ok": False}]})  # a check hidden behind target_missed
    assert not usable_baseline({**slow, "durations": {"decision_within_deadline": False}})
    same = judge(ms["delete:4"], slow, 300.0, None, "target_missed")
    assert not same.killed and same.killed_by.startswith("survived: the drill target_missed like the baseline")
    worse = judge(ms["delete:5"], _res("not_recovered", [("c", "answered by mastodon-helm-web-x")]), 300.0, None,
                  "target_missed")
    assert worse.killed
    # a passed baseline keeps the old rule: a target_missed mutant is killed
    assert judge(ms["delete:4"], slow, 300.0, None, "passed").killed


def test_a_mutant_better_than_a_slow_baseline_says_so_with_its_numbers():
    from rollback_drill.drill.mutate import UsersBar
    ms = {m.id: m for m in mutants(RB.level(1), PAIRS)}
    bar = UsersBar.of([_users("target_missed", 3925), _users("target_missed", 4021)])
    faster = {**_users("passed", 2348), "durations": {"recovery_s": 96.5, "decision_within_deadline": True}}
    o = judge(ms["delete:4"], faster, 292.0, bar, "target_missed")
    assert not o.killed and o.finding.startswith("line 42: the level passed without this step where, as written, it "
                                                 "missed its target (target_missed): recovery 96.5s without it; "
                                                 "users' failed requests 2348 against the baselines' 3925, 4021")
