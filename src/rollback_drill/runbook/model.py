"""The runbook model: the rollback runbook Markdown parsed into triggers, levels and checks.

The runbook is data, never hand-copied into Python: a changed runbook changes the drill. The
parser understands the seed's Japanese headings and phrases (and a small set of English
equivalents) and fails with one clear error naming the file, the line and what was expected.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

SEVERITIES = ("Critical", "High", "Medium")

# Section headings (level-2) and their English equivalents.
_CRITERIA_HEADINGS = ("ロールバックの判断基準", "rollback criteria")
_LEVELS_HEADINGS = ("ロールバックレベル", "rollback levels")
_PROCEDURE_HEADINGS = ("詳細手順", "detailed procedure")
_CHECKLIST_HEADINGS = ("チェックリスト", "checklist")
_TROUBLE_HEADINGS = ("トラブルシューティング", "troubleshooting")

_DURATION_LABELS = ("所要時間", "duration", "target")
_WHEN_LABELS = ("適用場面", "when")
_WARNING_LABELS = ("警告", "warning")

_UNIT_SECONDS = {
    "秒": 1, "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "分": 60, "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "時間": 3600, "h": 3600, "hour": 3600, "hours": 3600,
}
_UNIT = r"(秒|分|時間|seconds?|sec|s|minutes?|min|m|hours?|h)"
_RANGE_RE = re.compile(
    rf"^\s*(\d+(?:\.\d+)?)\s*{_UNIT}?\s*[-‐–〜~]\s*(\d+(?:\.\d+)?)\s*{_UNIT}\s*$", re.IGNORECASE
)


class RunbookError(ValueError):
    """A runbook that cannot be parsed: names the file, the line and what was expected."""

    def __init__(self, path: str | Path, line: int, expected: str):
        self.path, self.line, self.expected = str(path), line, expected
        super().__init__(f"{path}:{line}: {expected}")


@dataclass(frozen=True)
class Criterion:
    """One checklist line of a trigger, with the measurable threshold when it states one."""

    text: str
    line: int
    kind: str  # error_ratio | latency_factor | db | login | security | jobs | media | feature | performance | other
    threshold: float | None = None  # ratio (0.5 for 50 %) or latency factor (3.0 for 3x)


@dataclass(frozen=True)
class Trigger:
    """A rollback trigger: one criterion of one severity, e.g. C1 = first Critical criterion."""

    id: str
    severity: str
    decision_deadline_s: float
    criterion: Criterion


@dataclass(frozen=True)
class Command:
    """One shell command of a code block, continuation lines joined, with its comment context."""

    text: str
    line: int
    comment: str = ""
    alternative_to: int | None = None  # index of the command this one is an "または" alternative of


@dataclass(frozen=True)
class Level:
    number: int
    title: str
    line: int
    target_min_s: float
    target_max_s: float
    when: str
    warning: str
    commands: tuple[Command, ...]
    manual_steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """A 手順N section of the detailed procedure: its commands and its manual instructions."""

    number: int
    title: str
    line: int
    commands: tuple[Command, ...]
    manual_steps: tuple[str, ...] = ()


@dataclass
class Runbook:
    path: str
    sha256: str
    triggers: list[Trigger] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    checklists: dict[str, list[str]] = field(default_factory=dict)

    def trigger(self, trigger_id: str) -> Trigger:
        for t in self.triggers:
            if t.id == trigger_id.upper():
                return t
        known = ", ".join(t.id for t in self.triggers)
        raise KeyError(f"trigger {trigger_id!r} is not in {self.path} (known: {known})")

    def level(self, number: int) -> Level:
        for lv in self.levels:
            if lv.number == int(number):
                return lv
        known = ", ".join(str(lv.number) for lv in self.levels)
        raise KeyError(f"level {number} is not in {self.path} (known: {known})")

    def step(self, number: int) -> Step:
        for st in self.steps:
            if st.number == number:
                return st
        raise KeyError(f"手順{number} is not in {self.path}")

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

@dataclass
class _Section:
    level: int  # number of '#'
    title: str
    line: int
    body: list[tuple[int, str]]  # (line number, text) up to the next heading of any level


def _sections(lines: list[str]) -> list[_Section]:
    out: list[_Section] = []
    in_code = False
    for i, raw in enumerate(lines, start=1):
        if raw.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", raw)
        if m:
            out.append(_Section(len(m.group(1)), m.group(2), i, []))
        elif out:
            out[-1].body.append((i, raw))
    return out


def _matches(title: str, names: tuple[str, ...]) -> bool:
    t = title.lower()
    return any(n.lower() in t for n in names)


def _children(sections: list[_Section], parent_idx: int) -> list[_Section]:
    parent = sections[parent_idx]
    out = []
    for s in sections[parent_idx + 1:]:
        if s.level <= parent.level:
            break
        if s.level == parent.level + 1:
            out.append(s)
    return out


def _find(sections: list[_Section], names: tuple[str, ...], path: Path, what: str) -> int:
    for i, s in enumerate(sections):
        if s.level == 2 and _matches(s.title, names):
            return i
    raise RunbookError(path, 1, f"expected a section '## {names[0]}' ({what})")


def _checkbox_items(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    items = []
    for ln, raw in body:
        m = re.match(r"^\s*[-*]\s+\[[ xX]\]\s+(.*\S)\s*$", raw)
        if m:
            items.append((ln, m.group(1)))
    return items


def parse_duration_range(text: str) -> tuple[float, float] | None:
    """'1-2分' -> (60, 120); '30分-2時間' -> (1800, 7200); '5-10 min' -> (300, 600)."""
    m = _RANGE_RE.match(text)
    if not m:
        return None
    lo, lo_unit, hi, hi_unit = m.groups()
    hi_mult = _UNIT_SECONDS[hi_unit.lower()]
    lo_mult = _UNIT_SECONDS[lo_unit.lower()] if lo_unit else hi_mult
    return float(lo) * lo_mult, float(hi) * hi_mult


def _deadline(title: str, path: Path, line: int) -> float:
    if "即座" in title or "immediate" in title.lower():
        return 0.0
    m = re.search(r"(\d+)\s*(分|時間|minutes?|min|hours?)", title, re.IGNORECASE)
    if not m:
        raise RunbookError(path, line, "expected a decision deadline in the heading, "
                           "e.g. '（即座にロールバック）' or '（15分以内にロールバック判断）'")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]


def classify_criterion(text: str, line: int) -> Criterion:
    """Turn a criterion sentence into a measurable kind and threshold."""
    m = (re.search(r"5xx\s*エラー率\s*[>＞]\s*(\d+(?:\.\d+)?)\s*[%％]", text)
         or re.search(r"5xx\s*エラー率が\s*(\d+(?:\.\d+)?)\s*[%％]を超え", text)
         or re.search(r"5xx\s*error\s*rate\s*(?:>|above|over|exceeds)\s*(\d+(?:\.\d+)?)\s*%", text, re.I))
    if m:
        return Criterion(text, line, "error_ratio", float(m.group(1)) / 100.0)
    m = (re.search(r"通常の\s*(\d+(?:\.\d+)?)\s*倍", text)
         or re.search(r"(\d+(?:\.\d+)?)\s*[x×]\s*(?:the\s*)?(?:normal|baseline)", text, re.I))
    if m:
        return Criterion(text, line, "latency_factor", float(m.group(1)))
    keywords = [
        ("db", ("データベース", "database", "db接続")),
        ("login", ("ログイン", "log in", "login", "sign in")),
        ("security", ("セキュリティ", "security")),
        ("jobs", ("ジョブ", "job")),
        ("media", ("メディア", "media")),
        ("feature", ("一部機能", "feature")),
        ("performance", ("パフォーマンス", "performance")),
        ("down", ("ダウン",)),
    ]
    low = text.lower()
    for kind, words in keywords:
        if any(w.lower() in low for w in words):
            return Criterion(text, line, kind)
    return Criterion(text, line, "other")


def _severity(title: str) -> str | None:
    for sev in SEVERITIES:
        if title.lower().startswith(sev.lower()):
            return sev
    return None


def parse_commands(block: list[tuple[int, str]]) -> tuple[list[Command], list[str]]:
    """Split a bash block into commands (continuations joined) and manual comment steps.

    A comment immediately above a command is its context; a comment containing 'または' or
    'or, ' marks the next command as an alternative to the previous one. Comments that stand
    alone and say 手動/manual are manual steps, automated elsewhere as probes.
    """
    commands: list[Command] = []
    manual: list[str] = []
    comment = ""
    alt_pending = False
    buf: list[str] = []
    start = 0
    for ln, raw in block:
        s = raw.strip()
        if buf:
            buf.append(s[:-1].rstrip() if s.endswith("\\") else s)
            if not s.endswith("\\"):
                _emit(commands, " ".join(buf), start, comment, alt_pending)
                buf, alt_pending = [], False
            continue
        if not s:
            comment = ""
            continue
        if s.startswith("#"):
            text = s.lstrip("#").strip()
            if "手動" in text or "manual" in text.lower():
                manual.append(text)
            if "または" in text or text.lower().startswith("or "):
                alt_pending = True
            comment = text
            continue
        if s.endswith("\\"):
            buf, start = [s[:-1].rstrip()], ln
            continue
        _emit(commands, s, ln, comment, alt_pending)
        alt_pending = False  # the comment stays the context of its group until a blank line
    if buf:
        _emit(commands, " ".join(buf), start, comment, alt_pending)
    return commands, manual


def _emit(commands: list[Command], text: str, line: int, comment: str, alt: bool) -> None:
    alt_to = len(commands) - 1 if alt and commands else None
    commands.append(Command(text=text, line=line, comment=comment, alternative_to=alt_to))


def _code_blocks(body: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    blocks: list[list[tuple[int, str]]] = []
    cur: list[tuple[int, str]] | None = None
    for ln, raw in body:
        if raw.lstrip().startswith("```"):
            if cur is None:
                cur = []
            else:
                blocks.append(cur)
                cur = None
        elif cur is not None:
            cur.append((ln, raw))
    return blocks


def _label(body: list[tuple[int, str]], labels: tuple[str, ...]) -> tuple[int, str] | None:
    for ln, raw in body:
        m = re.match(r"^\s*\*\*(.+?)\*\*\s*[:：]\s*(.*?)\s*$", raw)
        if m and m.group(1).strip().lower() in labels:
            return ln, m.group(2)
    return None


def parse_runbook_text(text: str, path: str | Path = "<runbook>") -> Runbook:
    path = Path(path)
    lines = text.splitlines()
    sections = _sections(lines)
    rb = Runbook(path=str(path), sha256=hashlib.sha256(text.encode()).hexdigest())

    # Triggers
    ci = _find(sections, _CRITERIA_HEADINGS, path, "the trigger severities and their criteria")
    counters: dict[str, int] = {}
    for sec in _children(sections, ci):
        sev = _severity(sec.title)
        if sev is None:
            raise RunbookError(path, sec.line, f"expected a severity heading (one of {', '.join(SEVERITIES)}), "
                               f"got '### {sec.title}'")
        deadline = _deadline(sec.title, path, sec.line)
        items = _checkbox_items(sec.body)
        if not items:
            raise RunbookError(path, sec.line, f"expected '- [ ] criterion' lines under '### {sec.title}'")
        for ln, item in items:
            counters[sev] = counters.get(sev, 0) + 1
            rb.triggers.append(Trigger(f"{sev[0]}{counters[sev]}", sev, deadline, classify_criterion(item, ln)))
    if not rb.triggers:
        raise RunbookError(path, sections[ci].line, "expected at least one '### Critical（…）' criteria list")

    # Levels
    li = _find(sections, _LEVELS_HEADINGS, path, "the rollback levels")
    for sec in _children(sections, li):
        m = re.match(r"^Level\s*(\d+)\s*[:：]\s*(.+)$", sec.title, re.IGNORECASE)
        if not m:
            raise RunbookError(path, sec.line, f"expected a heading '### Level N: title', got '### {sec.title}'")
        dur = _label(sec.body, _DURATION_LABELS)
        if dur is None:
            raise RunbookError(path, sec.line, f"expected a line '**所要時間**: N-M分' under 'Level {m.group(1)}'")
        rng = parse_duration_range(dur[1])
        if rng is None:
            raise RunbookError(path, dur[0], f"expected a duration range like '1-2分' or '30分-2時間', got '{dur[1]}'")
        blocks = _code_blocks(sec.body)
        if not blocks:
            raise RunbookError(path, sec.line, f"expected a ```bash command block under 'Level {m.group(1)}'")
        cmds: list[Command] = []
        manual: list[str] = []
        for b in blocks:
            c, mn = parse_commands(b)
            cmds += c
            manual += mn
        when = _label(sec.body, _WHEN_LABELS)
        warning = _label(sec.body, _WARNING_LABELS)
        rb.levels.append(Level(int(m.group(1)), m.group(2).strip(), sec.line, rng[0], rng[1],
                               when[1] if when else "", warning[1] if warning else "",
                               tuple(cmds), tuple(manual)))
    if not rb.levels:
        raise RunbookError(path, sections[li].line, "expected at least one '### Level N: title'")
    numbers = [lv.number for lv in rb.levels]
    if len(set(numbers)) != len(numbers):
        raise RunbookError(path, sections[li].line, f"expected distinct level numbers, got {numbers}")

    # Detailed procedure (optional, but used by verification when present)
    for i, s in enumerate(sections):
        if s.level == 2 and _matches(s.title, _PROCEDURE_HEADINGS):
            for sec in _children(sections, i):
                m = re.match(r"^(?:手順|step)\s*(\d+)\s*[:：]\s*(.+)$", sec.title, re.IGNORECASE)
                if not m:
                    continue
                cmds, manual = [], []
                for b in _code_blocks(sec.body):
                    c, mn = parse_commands(b)
                    cmds += c
                    manual += mn
                rb.steps.append(Step(int(m.group(1)), m.group(2).strip(), sec.line, tuple(cmds), tuple(manual)))
        if s.level == 2 and _matches(s.title, _CHECKLIST_HEADINGS):
            for sec in _children(sections, i):
                rb.checklists[sec.title] = [t for _, t in _checkbox_items(sec.body)]
    return rb


def load_runbook(path: str | Path) -> Runbook:
    """Read and parse a runbook file; unreadable files get the same one-line error style."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunbookError(p, 0, "the runbook file does not exist (pass --runbook PATH to a Markdown file)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunbookError(p, 0, f"the runbook cannot be read as UTF-8 text ({e})") from None
    return parse_runbook_text(text, p)
