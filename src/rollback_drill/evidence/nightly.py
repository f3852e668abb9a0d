"""The nightly gate: green where the runbook works, red only on a change.

Why: the project's runbook has known findings and known surviving mutants — they are the runbook's
state, not a failure — so a night that fails on them is red every night and means nothing. The team
acknowledges them in a baseline kept in the repository (like a lint baseline: each entry with its
reason), and a night is red only when something changed since:

- a finding not in the baseline (keyed by class, line and command, never by message text) that no
  earlier night ever saw (on the first night, with no history, there is nothing it changed since:
  what the baseline lacks is listed for the team to acknowledge, the night stays green) — one seen on some nights and not others is timing-dependent: reported with
  how often it was seen, never "new" because of timing alone;
- a surviving mutant not in the baseline;
- a verdict of the same scenario (level, trigger, profile) other than the baseline's;
- a recovery time of the same scenario beyond its own spread over earlier nights (median + 3 x the
  median absolute deviation, at least 20 % and 2 s above the median, with >= 3 earlier nights); with
  only 1 or 2 earlier nights the spread is unknown, so the bar is wide and says so: more than 50 % and
  10 s beyond the worst earlier night (a team's second night already catches a step that adds tens of
  seconds; machine noise on a 6-10 s recovery is a few seconds).

The baseline names the harness version and the profile it was made with: a night under another
harness or profile says so first, so a change of the harness is told apart from a change of the
runbook. Each night appends one line to the nightly history (scenario outcomes and finding keys).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rollback_drill import __version__ as HARNESS_VERSION

SPREAD_MADS, MIN_REL, MIN_ABS_S, MIN_NIGHTS = 3.0, 0.20, 2.0, 3
# fewer than MIN_NIGHTS earlier nights: no spread to read, a wide bar over the worst of them
FEW_REL, FEW_ABS_S = 0.50, 10.0


class GateError(ValueError):
    """A baseline or report folder the gate cannot read (exit 2, one line)."""


def scenario_key(s: dict, profile: str) -> str | None:
    """Level, trigger and profile of a drill scenario, and its name (a suite has the as-written drill and
    the must-fail one of the same level and trigger); None for mutant drills (judged as survivors)."""
    name = str(s.get("name", ""))
    if name.startswith("mutant ") or not s.get("level"):
        return None
    trig = (s.get("trigger") or {}).get("id", "-")
    return f"L{s['level']['number']}/{trig}/{(s.get('profile') or {}).get('name', profile)}: {name}"


def finding_key(f: dict) -> str:
    """A finding by its class, line and command (its message may be reworded between versions)."""
    return f"{f.get('kind', 'failed')}|{f.get('line')}|{' '.join(str(f.get('command', '')).split())}"


def survivor_key(level: int, trigger: str, s: dict) -> str:
    """A surviving mutant by level, trigger and the step it removed or changed (bench or mutate format)."""
    step = s.get("step") if isinstance(s.get("step"), str) else ""
    if isinstance(s.get("mutant"), dict):
        m = s["mutant"]
        step = f"{m.get('kind')} line {m.get('line')}: {' '.join(str(m.get('original', '')).split())}"
    return f"L{level}/{trigger}|{' '.join(step.split())}"


@dataclass
class Night:
    """What one night's reports say, keyed for comparison."""

    verdicts: dict[str, str] = field(default_factory=dict)
    recovery_s: dict[str, list[float]] = field(default_factory=dict)
    findings: dict[str, str] = field(default_factory=dict)  # key -> the scenario it came from
    survivors: set[str] = field(default_factory=set)
    profiles: set[str] = field(default_factory=set)

    def to_history(self, night_id: str) -> dict:
        return {"night": night_id, "harness": HARNESS_VERSION, "verdicts": self.verdicts,
                "recovery_s": self.recovery_s, "findings": sorted(self.findings), "survivors": sorted(self.survivors)}


def read_night(reports: Path) -> Night:
    """Every complete journal and mutation record under `reports`."""
    night = Night()
    if not reports.is_dir():
        raise GateError(f"{reports}: not a folder of reports (expected reports/<run>/journal.json)")
    for jf in sorted(reports.rglob("journal.json")):
        try:
            j = json.loads(jf.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise GateError(f"{jf}: not readable JSON ({e})") from None
        profile = ((j.get("environment") or {}).get("config") or {}).get("profile", "local")
        for s in j.get("scenarios") or []:
            key = scenario_key(s, profile)
            if key is None:
                continue
            night.profiles.add(key.split(": ", 1)[0].rsplit("/", 1)[1])
            night.verdicts[key] = _worse(night.verdicts.get(key), s.get("verdict", "unknown"))
            rec = (s.get("durations") or {}).get("recovery_s")
            if rec is not None:
                night.recovery_s.setdefault(key, []).append(float(rec))
            for f in s.get("findings") or []:
                night.findings.setdefault(finding_key(f), key)
    for mf in sorted(reports.rglob("mutation*.json")):
        try:
            m = json.loads(mf.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise GateError(f"{mf}: not readable JSON ({e})") from None
        for lv in m.get("levels") or [m]:
            for s in lv.get("survivors") or []:
                if not s.get("optional") and not (s.get("mutant") or {}).get("optional"):
                    night.survivors.add(survivor_key(lv.get("level"), lv.get("trigger", "-"), s))
    return night


def _worse(a: str | None, b: str) -> str:
    """The same scenario twice in a night: the verdict that is not `passed` wins (it must be seen)."""
    return b if a in (None, "passed") else a


@dataclass
class Baseline:
    harness: str
    profile: str
    verdicts: dict[str, str]
    findings: dict[str, str]  # key -> reason
    survivors: dict[str, str]  # key -> reason


def load_baseline(path: Path) -> Baseline:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"{path}: no baseline; write one with 'rollback-drill gate --write-baseline' and give "
                        f"each entry its reason") from None
    except (OSError, yaml.YAMLError) as e:
        raise GateError(f"{path}: not readable YAML ({str(e).splitlines()[0]})") from None
    keys = {"harness", "profile", "verdicts", "findings", "survivors"}
    if not isinstance(data, dict) or set(data) - keys:
        raise GateError(f"{path}: expected a mapping with keys {', '.join(sorted(keys))}")
    out = {}
    for k in ("findings", "survivors"):
        entries = data.get(k) or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) and set(e) == {"key", "reason"}
                                                    for e in entries):
            raise GateError(f"{path}: {k}: expected a list of {{key, reason}}")
        missing = [e["key"] for e in entries if not str(e["reason"] or "").strip()]
        if missing:
            raise GateError(f"{path}: {k} entry {missing[0]!r} has no reason: say why it is acknowledged")
        out[k] = {str(e["key"]): str(e["reason"]) for e in entries}
    return Baseline(str(data.get("harness", "")), str(data.get("profile", "local")),
                    {str(k): str(v) for k, v in (data.get("verdicts") or {}).items()}, out["findings"],
                    out["survivors"])


def baseline_of(night: Night, reason: str) -> dict:
    """A baseline acknowledging everything this night shows (each reason still to be written by a person)."""
    return {"harness": HARNESS_VERSION, "profile": ",".join(sorted(night.profiles)) or "local",
            "verdicts": dict(sorted(night.verdicts.items())),
            "findings": [{"key": k, "reason": reason} for k in sorted(night.findings)],
            "survivors": [{"key": k, "reason": reason} for k in sorted(night.survivors)]}


def read_history(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as e:
        raise GateError(f"{path}: the nightly history is unreadable ({e}); move it aside") from None


def regression(key: str, now: float, past: list[float]) -> str | None:
    """A recovery time beyond the scenario's own spread over earlier nights, or None (no earlier night)."""
    if not past:
        return None
    if len(past) < MIN_NIGHTS:
        worst = max(past)
        limit = max(worst * (1 + FEW_REL), worst + FEW_ABS_S)
        if now > limit:
            return (f"{key}: recovery {now:.1f} s is beyond the worst of {len(past)} earlier night(s) ({worst:.1f} s) "
                    f"by more than {FEW_REL:.0%} and {FEW_ABS_S:.0f} s (limit {limit:.1f} s; too few nights for "
                    f"a spread, {MIN_NIGHTS} are needed)")
        return None
    med = statistics.median(past)
    mad = statistics.median(abs(x - med) for x in past)
    limit = max(med + SPREAD_MADS * mad, med * (1 + MIN_REL), med + MIN_ABS_S)
    if now > limit:
        return (f"{key}: recovery {now:.1f} s is beyond its own spread over {len(past)} earlier nights (median "
                f"{med:.1f} s, MAD {mad:.1f} s, limit {limit:.1f} s)")
    return None


def compare(night: Night, base: Baseline, history: list[dict]) -> tuple[list[str], list[str]]:
    """(changes that turn the night red, notes that do not)."""
    changes, notes = [], []
    if base.harness != HARNESS_VERSION:
        notes.append(f"the baseline was made with harness {base.harness}, this night ran {HARNESS_VERSION}: a "
                     f"change below may be the harness's, not the runbook's")
    seen_before = [set(e.get("findings") or []) for e in history]
    first_night = not history  # nothing to have changed since: what the baseline lacks is listed, not red
    for key, scenario in sorted(night.findings.items()):
        if key in base.findings:
            continue
        k = sum(key in s for s in seen_before)
        if first_night:
            notes.append(f"first night: finding not in the baseline (acknowledge it with its reason, or fix the "
                         f"runbook): {key} in {scenario}")
        elif k:
            notes.append(f"intermittent finding (seen {k} of {len(seen_before)} earlier nights, timing-dependent): "
                         f"{key} in {scenario}")
        else:
            changes.append(f"new finding in {scenario}: {key}")
    for key in sorted(set(base.findings) - set(night.findings)):
        notes.append(f"acknowledged finding not seen tonight (fixed in the runbook? then drop it from the "
                     f"baseline): {key}")
    for key in sorted(night.survivors - set(base.survivors)):
        (notes if first_night else changes).append(f"{'first night: ' if first_night else ''}new surviving mutant: "
                                                   f"{key}")
    for key, verdict in sorted(night.verdicts.items()):
        want = base.verdicts.get(key)
        if want is None:
            notes.append(f"{key}: {verdict} (not in the baseline)")
        elif verdict != want:
            changes.append(f"{key}: verdict {verdict}, the baseline's is {want}")
    for key, xs in sorted(night.recovery_s.items()):
        # each earlier night's slowest of this scenario, like tonight's: a night is one sample
        past = [max(ys) for e in history if (ys := (e.get("recovery_s") or {}).get(key))]
        r = regression(key, max(xs), past)
        if r:
            changes.append(r)
    return changes, notes


def summary(changes: list[str], notes: list[str], nights: int) -> str:
    """The night's summary (Markdown): what changed since the earlier nights."""
    out = [f"## Nightly gate: {'RED' if changes else 'green'} ({nights} earlier night(s) in the history)", ""]
    out += [f"- **change**: {c}" for c in changes] or ["- no change against the baseline and the history"]
    out += [f"- note: {n}" for n in notes]
    return "\n".join(out) + "\n"
