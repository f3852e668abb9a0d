"""Mutation testing of a rollback level: is every step of the procedure seen by the drill?

One drill runs the level as written (the baseline, which must pass); then one drill per mutant:
each command deleted, and each command that names an object of one stack re-pointed at its
counterpart in the other (a scale of the old web Deployment aimed at the Helm one). A mutant is
*killed* when its drill does not pass; the verdict and the recovery condition that failed say
what killed it. A surviving mutant of a step the runbook marks optional (オプション / optional) is
expected, and so is the deletion of one form of an "または" pair whose other form does the job;
any other survivor is a finding: "this step has no observable effect on recovery —
either the drill cannot see what it does, or the runbook does not need it".

The users' side: a mutant can pass every recovery condition and still hurt users more than the
level as written — traffic moved before the pods were ready (a deleted `kubectl wait` on GKE, where
pods boot in tens of seconds), the serving stack scaled down first. Such a mutant is killed too when
its users' failed requests between decision and recovery exceed the baselines' by more than their
spread (`UsersBar`; with one baseline the spread is unknown and a stated minimum margin stands in).

Time limit (as mutation tools do, e.g. PIT): a mutant's recovery wait is capped at
`2 x the baseline's recovery time + 10 s`; a mutant that does not recover by then is killed by
that limit, and the record says so (`--full-wait` waits as a normal drill does).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace

from rollback_drill.runbook.meaning import OPTIONAL_WORDS, norm
from rollback_drill.runbook.model import Command, Level



@dataclass(frozen=True)
class Mutant:
    id: str  # "delete:3", "repoint:3"
    kind: str  # delete | repoint
    index: int  # position of the mutated command in the level
    line: int  # its line in the runbook
    original: str
    mutated: str | None  # the re-pointed command; None for a deletion
    optional: bool  # the runbook marks the step optional
    commands: tuple[Command, ...] = field(repr=False, default=())
    alternative: bool = False  # one form of an "または" pair: the other form may do the same job

    @property
    def label(self) -> str:
        """The mutant's drill's name in the journal and the progress lines."""
        return f"mutant {self.id}: {self.describe()}"

    def describe(self) -> str:
        return (f"delete line {self.line}: {self.original}" if self.kind == "delete"
                else f"line {self.line}: {self.original}  ->  {self.mutated}")


def is_optional(cmd: Command) -> bool:
    return any(w in norm(cmd.comment) for w in OPTIONAL_WORDS)


def _without(commands: tuple[Command, ...], i: int) -> tuple[Command, ...]:
    """The level without command i; "または" alternatives keep pointing at the right command."""
    out = []
    for j, c in enumerate(commands):
        if j == i:
            continue
        alt = c.alternative_to
        if alt is not None:
            alt = None if alt == i else (alt - 1 if alt > i else alt)
        out.append(replace(c, alternative_to=alt))
    return tuple(out)


def repoint(text: str, counterparts: dict[str, str]) -> str | None:
    """The command with every object name swapped for its counterpart; None if it names none."""
    names = sorted(counterparts, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
    new = pattern.sub(lambda m: counterparts[m.group(1)], text)
    return None if new == text else new


def mutants(level: Level, counterparts: dict[str, str]) -> list[Mutant]:
    out: list[Mutant] = []
    paired = {i for i, c in enumerate(level.commands) if c.alternative_to is not None} | \
             {c.alternative_to for c in level.commands if c.alternative_to is not None}
    for i, c in enumerate(level.commands):
        opt = is_optional(c)
        out.append(Mutant(f"delete:{i + 1}", "delete", i, c.line, c.text, None, opt, _without(level.commands, i),
                          alternative=i in paired))
        new = repoint(c.text, counterparts)
        if new is not None:
            cmds = tuple(replace(x, text=new) if j == i else x for j, x in enumerate(level.commands))
            out.append(Mutant(f"repoint:{i + 1}", "repoint", i, c.line, c.text, new, opt, cmds))
    return out


def read_only_twin(text: str) -> str:
    """The same object, only looked at: `kubectl apply -f F` -> `kubectl get -f F`, a scale ->
    `kubectl get deployment X`. Used to neuter a step while keeping the level's shape."""
    m = re.match(r"^\s*kubectl\s+apply\s+(-f|-k)\s+(\S+)", text)
    if m:
        return f"kubectl get {m.group(1)} {m.group(2)}"
    m = re.match(r"^\s*kubectl\s+scale\s+(deployment|deploy|statefulset)\s+(\S+)", text)
    if m:
        return f"kubectl get {m.group(1)} {m.group(2)}"
    raise ValueError(f"no read-only twin for: {text}")


def neutered(commands: tuple[Command, ...], which) -> tuple[tuple[Command, ...], list[str]]:
    """The level with every command `which(cmd)` selects replaced by its read-only twin."""
    out, changed = [], []
    for c in commands:
        if which(c):
            twin = read_only_twin(c.text)
            changed.append(f"line {c.line}: {c.text} -> {twin}")
            c = replace(c, text=twin)
        out.append(c)
    return tuple(out), changed


@dataclass
class MutantOutcome:
    mutant: Mutant
    verdict: str
    killed: bool
    killed_by: str  # the verdict and the failing check, or why it survived
    expected: bool  # killed, or an optional step surviving
    finding: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        m = asdict(self.mutant)
        m.pop("commands", None)
        return {"mutant": m, "step": self.mutant.describe(), "verdict": self.verdict,
                "outcome": "killed" if self.killed else "survived", "killed_by": self.killed_by,
                "expected": self.expected, "finding": self.finding, "seconds": round(self.seconds, 1)}


@dataclass(frozen=True)
class UsersBar:
    """How many failed requests between decision and recovery a mutant may cost the users before it
    counts as killed: the worst baseline's, plus the baselines' spread — at least MIN_MARGIN requests
    and a quarter of the worst baseline (the same drill's own noise), which is what stands in when only
    one baseline ran."""

    baselines: tuple[int, ...]
    MIN_MARGIN = 10
    SHARE = 0.25

    @property
    def spread(self) -> int | None:
        return max(self.baselines) - min(self.baselines) if len(self.baselines) > 1 else None

    @property
    def margin(self) -> int:
        return max(self.spread or 0, self.MIN_MARGIN, round(self.SHARE * max(self.baselines)))

    @property
    def threshold(self) -> int:
        return max(self.baselines) + self.margin

    def describe(self) -> str:
        spread = f"spread {self.spread}" if self.spread is not None else "one baseline: spread unknown"
        return (f"baselines {', '.join(map(str, self.baselines))} failed requests ({spread}; margin {self.margin} = "
                f"max(spread, {self.MIN_MARGIN}, {self.SHARE:g} x worst)); more than {self.threshold} kills")

    def to_dict(self) -> dict:
        return {"baselines_failed_requests": list(self.baselines), "spread": self.spread, "margin": self.margin,
                "threshold": self.threshold, "rule": self.describe()}

    @classmethod
    def of(cls, baselines: list[dict]) -> UsersBar | None:
        counts = [users_failed(b) for b in baselines]
        return None if not counts or any(c is None for c in counts) else cls(tuple(counts))


def users_failed(res: dict) -> int | None:
    """Failed requests between decision and recovery (None: the drill has no such window)."""
    during = (res.get("outage") or {}).get("during_rollback")
    return None if during is None else during["failed_requests"]


def usable_baseline(res: dict) -> bool:
    """A baseline mutants can be judged against: passed — or recovered with every check and the decision
    deadline met, only slower than the level's target (a profile such as gke can make the level as
    written miss it: that is the baseline's own finding, and mutants are then judged against it)."""
    if res["verdict"] == "passed":
        return True
    return (res["verdict"] == "target_missed" and res["durations"].get("decision_within_deadline") is not False
            and all(c.get("ok") is not False for c in res.get("checklist") or []))


def judge(mutant: Mutant, res: dict, time_limit_s: float | None, users: UsersBar | None = None,
          baseline_verdict: str = "passed") -> MutantOutcome:
    """Killed or survived, and by what: the verdict first (against the baseline's: passed, or a
    target_missed baseline's own), then the checks that failed, then the users' failures against the
    baselines'."""
    v = res["verdict"]
    failed = users_failed(res)
    as_good = v == "passed" or (baseline_verdict == "target_missed" and usable_baseline(res))
    if as_good and users is not None and failed is not None and failed > users.threshold:
        return MutantOutcome(mutant, v, True, f"the users' outage: {failed} failed requests between decision and "
                                              f"recovery, against {users.describe()}", True)
    users_note = "" if users is None or failed is None else \
        f"; the users' outage {failed} failed requests, not above {users.describe()}"
    if as_good:
        if mutant.optional:
            return MutantOutcome(mutant, v, False, "survived: the step is marked optional in the runbook" + users_note,
                                 True)
        if mutant.alternative and mutant.kind == "delete":
            return MutantOutcome(mutant, v, False, "survived: one form of an 'または' pair; the other form did "
                                                   "the job" + users_note, True)
        finding = (f"line {mutant.line}: this step has no observable effect on recovery ({mutant.describe()}) — "
                   f"either the drill cannot see what it does, or the runbook does not need it")
        if v == "passed" and baseline_verdict != "passed":  # better without it: say so, with the numbers
            mine = (res.get("durations") or {}).get("recovery_s")
            less = "" if users is None or failed is None else \
                f"; users' failed requests {failed} against the baselines' {', '.join(map(str, users.baselines))}"
            finding = (f"line {mutant.line}: the level passed without this step where, as written, it missed its target "
                       f"({baseline_verdict}): recovery {mine}s without it{less} ({mutant.describe()}) — here the step "
                       f"costs the users time")
        as_baseline = "passed" if v == "passed" else f"{v} like the baseline (recovered, checks met)"
        return MutantOutcome(mutant, v, False, f"survived: the drill {as_baseline} without this step{users_note}",
                             False, finding)
    reasons = [f"verdict {v}"]
    rec = res.get("recovery") or {}
    if v == "not_recovered" and rec.get("settled"):
        reasons.append(f"no recovery could come: {rec['settled']}")
    elif v == "not_recovered" and time_limit_s is not None:
        reasons.append(f"no recovery within the mutation time limit ({time_limit_s:.0f}s = 2x the baseline's "
                       f"recovery time + 10s)")
    reasons += [f"({c['key']}) {c['label']}: {c['detail'][:240]}" for c in rec.get("conditions", []) if not c["holds"]]
    reasons += [f"check '{c['item']}' failed: {c['evidence'][:160]}" for c in res.get("checklist", [])
                if c["ok"] is False]
    return MutantOutcome(mutant, v, True, "; ".join(reasons), True)


def summary(baseline: dict, outcomes: list[MutantOutcome], level: Level, trigger: str, wall_s: float,
            time_limit_s: float | None, users: UsersBar | None = None, profile: str = "local") -> dict:
    killed = sum(o.killed for o in outcomes)
    non_opt = [o for o in outcomes if not o.mutant.optional and not (o.mutant.alternative and o.mutant.kind == "delete")]
    return {"level": level.number, "trigger": trigger,
            "baseline": {"verdict": baseline["verdict"], "recovery_s": baseline["durations"]["recovery_s"]},
            "time_limit_s": time_limit_s, "users_bar": users.to_dict() if users else None, "profile": profile,
            "mutants": len(outcomes), "killed": killed,
            "kill_ratio": round(killed / len(outcomes), 3) if outcomes else None,
            "non_optional": len(non_opt), "non_optional_killed": sum(o.killed for o in non_opt),
            "survivors": [o.to_dict() for o in outcomes if not o.killed],
            "findings": [o.finding for o in outcomes if o.finding],
            "outcomes": [o.to_dict() for o in outcomes], "wall_s": round(wall_s, 1)}
