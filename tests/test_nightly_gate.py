"""The nightly gate (issue 22): red only on a change — a new finding, a new survivor, a changed verdict,
a recovery-time regression of the same scenario beyond its own spread; known findings and survivors
(the acknowledged baseline) and timing-dependent findings keep the night green."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rollback_drill.evidence import nightly as N


def _journal(d: Path, recovery: float = 6.0, findings=(), verdict: str = "passed", name: str = "Level 1 under C1"):
    d.mkdir(parents=True, exist_ok=True)
    (d / "journal.json").write_text(json.dumps({"environment": {"config": {"profile": "local"}}, "scenarios": [
        {"name": name, "level": {"number": 1}, "trigger": {"id": "C1"}, "verdict": verdict,
         "durations": {"recovery_s": recovery}, "findings": [dict(f) for f in findings]},
        {"name": "mutant delete:4: ...", "level": {"number": 1}, "trigger": {"id": "C1"}, "verdict": "passed",
         "durations": {"recovery_s": 99.0}, "findings": [{"kind": "failed", "line": 1, "command": "x"}]}]}))


KNOWN = {"kind": "no_wait", "line": 45, "command": "kubectl apply -f backup/ingress-mastodon.yaml", "problem": "a"}
NEW = {"kind": "failed", "line": 37, "command": "kubectl scale deployment mastodon-web --replicas=1", "problem": "b"}


def _baseline(tmp_path: Path, night: N.Night) -> N.Baseline:
    p = tmp_path / "baseline.yaml"
    p.write_text(yaml.safe_dump(N.baseline_of(night, "known since 11-30: the runbook lacks a wait")))
    return N.load_baseline(p)


def _nights(tmp_path: Path, recoveries: list[float]) -> list[dict]:
    out = []
    for i, r in enumerate(recoveries):
        _journal(tmp_path / f"n{i}" / "run", r, [KNOWN])
        out.append(N.read_night(tmp_path / f"n{i}").to_history(f"n{i}"))
    return out


def test_known_findings_and_mutant_drills_keep_the_night_green(tmp_path):
    _journal(tmp_path / "r" / "run", 6.0, [KNOWN])
    night = N.read_night(tmp_path / "r")
    assert list(night.verdicts) == ["L1/C1/local: Level 1 under C1"]  # the mutant drill is judged as a survivor, not a scenario
    changes, _ = N.compare(night, _baseline(tmp_path, night), [])
    assert changes == []


def test_a_new_finding_turns_the_night_red_keyed_by_class_line_and_command(tmp_path):
    _journal(tmp_path / "a" / "run", 6.0, [KNOWN])
    base = _baseline(tmp_path, N.read_night(tmp_path / "a"))
    reworded = dict(KNOWN, problem="the same finding, reworded")
    _journal(tmp_path / "b" / "run", 6.0, [reworded, NEW])
    history = [N.read_night(tmp_path / "a").to_history("a")]
    changes, _ = N.compare(N.read_night(tmp_path / "b"), base, history)
    assert len(changes) == 1 and "new finding" in changes[0] and "|37|" in changes[0]
    first, notes = N.compare(N.read_night(tmp_path / "b"), base, [])  # the first night: listed, not red
    assert first == [] and any("first night" in n and "|37|" in n for n in notes)


def test_a_finding_seen_on_some_earlier_nights_is_intermittent_not_new(tmp_path):
    _journal(tmp_path / "a" / "run", 6.0, [KNOWN])
    base = _baseline(tmp_path, N.read_night(tmp_path / "a"))
    _journal(tmp_path / "h" / "run", 6.0, [KNOWN, NEW])
    history = [N.read_night(tmp_path / "h").to_history("h"), N.read_night(tmp_path / "a").to_history("a")]
    _journal(tmp_path / "b" / "run", 6.0, [KNOWN, NEW])
    changes, notes = N.compare(N.read_night(tmp_path / "b"), base, history)
    assert changes == [] and any("seen 1 of 2 earlier nights" in n for n in notes)


def test_a_slower_recovery_of_the_same_scenario_beyond_its_spread_is_red(tmp_path):
    history = _nights(tmp_path, [5.8, 6.1, 6.0, 5.9])
    _journal(tmp_path / "ok" / "run", 7.5, [KNOWN])
    base = _baseline(tmp_path, N.read_night(tmp_path / "ok"))
    assert N.compare(N.read_night(tmp_path / "ok"), base, history)[0] == []  # within 2 s of the median
    _journal(tmp_path / "slow" / "run", 14.0, [KNOWN])
    changes, _ = N.compare(N.read_night(tmp_path / "slow"), base, history)
    assert len(changes) == 1 and changes[0].startswith("L1/C1/local: Level 1 under C1: recovery 14.0 s")


def test_a_changed_verdict_and_a_new_survivor_are_red(tmp_path):
    _journal(tmp_path / "a" / "run", 6.0, [KNOWN])
    base = _baseline(tmp_path, N.read_night(tmp_path / "a"))
    _journal(tmp_path / "b" / "run", 6.0, [KNOWN], verdict="not_recovered")
    (tmp_path / "b" / "mutation.json").write_text(json.dumps({"levels": [{"level": 1, "trigger": "C1", "survivors": [
        {"id": "delete:4", "step": "delete line 42: kubectl wait", "optional": False},
        {"id": "delete:6", "step": "delete line 48: kubectl scale", "optional": True}]}]}))
    changes, _ = N.compare(N.read_night(tmp_path / "b"), base, [N.read_night(tmp_path / "a").to_history("a")])
    assert any("verdict not_recovered" in c for c in changes)
    assert [c for c in changes if "surviving mutant" in c] == ["new surviving mutant: L1/C1|delete line 42: kubectl wait"]


def test_a_baseline_entry_without_a_reason_is_refused(tmp_path):
    p = tmp_path / "baseline.yaml"
    p.write_text(yaml.safe_dump({"harness": "0.1.0", "profile": "local", "verdicts": {},
                                 "findings": [{"key": "x", "reason": ""}], "survivors": []}))
    with pytest.raises(N.GateError, match="has no reason"):
        N.load_baseline(p)


def test_with_one_or_two_earlier_nights_a_much_slower_recovery_is_red_and_says_the_spread_is_unknown(tmp_path):
    history = _nights(tmp_path, [6.4])
    _journal(tmp_path / "same" / "run", 12.0, [KNOWN])  # machine noise: within 50 % and 10 s of the worst
    base = _baseline(tmp_path, N.read_night(tmp_path / "same"))
    assert N.compare(N.read_night(tmp_path / "same"), base, history)[0] == []
    _journal(tmp_path / "slow" / "run", 31.5, [KNOWN])  # a step that sleeps 25 s
    changes, _ = N.compare(N.read_night(tmp_path / "slow"), base, history)
    assert len(changes) == 1 and changes[0].startswith("L1/C1/local: Level 1 under C1: recovery 31.5 s")
    assert "worst of 1 earlier night(s) (6.4 s)" in changes[0] and "too few nights for a spread" in changes[0]
    assert N.compare(N.read_night(tmp_path / "slow"), base, [])[0] == []  # no earlier night: nothing to compare


def test_an_earlier_night_with_the_scenario_twice_counts_once_with_its_slowest(tmp_path):
    _journal(tmp_path / "a" / "r1", 6.0, [KNOWN])
    _journal(tmp_path / "a" / "r2", 20.0, [KNOWN])  # the same scenario twice in one night
    history = [N.read_night(tmp_path / "a").to_history("a")]
    _journal(tmp_path / "b" / "run", 29.0, [KNOWN])
    base = _baseline(tmp_path, N.read_night(tmp_path / "b"))
    assert N.compare(N.read_night(tmp_path / "b"), base, history)[0] == []  # 29 < 20 + 10: not beyond the worst
