"""The runbook model: the rollback runbook Markdown read into triggers, levels, steps and checks.

The runbook is data, never hand-copied into Python: a changed runbook changes the drill. The
reader goes by meaning (runbook/meaning.py: one lexicon, Japanese and English), never by one
exact phrase or by position, and fails with one clear error naming the file, the line and what
was expected. A criterion it cannot classify is kept as `unread` (the drill that needs it exits 2
and says how to declare it in the sidecar `<runbook>.drill.yaml`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from typing import TYPE_CHECKING

from rollback_drill.runbook import markdown as MD
from rollback_drill.runbook import meaning as M

if TYPE_CHECKING:
    from rollback_drill.runbook.sidecar import Structure

SEVERITIES = M.SEVERITIES


class RunbookError(ValueError):
    """A runbook that cannot be parsed: names the file, the line and what was expected."""

    def __init__(self, path: str | Path, line: int, expected: str):
        self.path, self.line, self.expected = str(path), line, expected
        super().__init__(f"{path}:{line}: {expected}")


@dataclass(frozen=True)
class Criterion:
    """One checklist line of a trigger, read as a metric with comparator, threshold and unit."""

    text: str
    line: int
    kind: str  # error_ratio | latency_factor | db | login | security | jobs | media | streaming | feature |
    #            performance | down | unread (see runbook/meaning.py)
    threshold: float | None = None  # ratio (0.5 for 50 %) or latency factor (3.0 for 3x)
    comparator: str = ""  # ">" or ">=" where the criterion states a number
    unit: str = ""  # "ratio" | "x baseline"
    declared_in: str = ""  # the sidecar, when the kind or threshold was declared there
    why: str = ""  # for an unread criterion: why the reader did not take it (runbook/meaning.py)

    @property
    def person_decides(self) -> bool:
        """A criterion only a person can declare (a security problem): never measured."""
        return self.kind == "security"


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
    rewrites: tuple[str, ...] = ()  # what the reader removed to get the command a shell runs ('$ ' prompts,
    #                                 pasted output below it), each "line N: …"


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
    # What the level brings back, decided from what its commands do (runbook/meaning.py restores_by_commands),
    # never from its title: the whole pre-migration state (release removed / old manifests re-applied),
    # the database (restored from a backup); restores_evidence says which command lines decided it.
    full_state: bool = False
    database: bool = False
    restores_evidence: tuple[str, ...] = ()

    @property
    def restores(self) -> str:
        """'traffic to the old stack' | 'the whole pre-migration state' [+ ' and the database']."""
        return M.Restores(self.full_state, self.database, self.restores_evidence).describe()


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
    checklists: dict[str, list[str]] = field(default_factory=dict)  # before | during | after | followup
    sidecar: dict = field(default_factory=dict)  # the declarations of <runbook>.drill.yaml, if any
    warnings: list[str] = field(default_factory=list)  # "path:line: …" what was read but disagrees (a level's
    #                                                    title against its commands), reported, never decisive
    text: str = field(default="", repr=False)  # as written (the analysis reads its example values)

    @property
    def production_host(self) -> str:
        """The host the runbook's own URLs name (the sidecar's production_host, else the first
        `curl https://HOST` of its commands); "" when it names none."""
        if self.sidecar.get("production_host"):
            return self.sidecar["production_host"]
        commands = sorted((c for part in (*self.levels, *self.steps) for c in part.commands), key=lambda c: c.line)
        for c in commands:  # as a shell reads them: a `$ curl …` prompt is not part of the command
            m = re.match(r"^curl\b[^\n]*?https://([A-Za-z0-9.-]+)", c.text)
            if m:
                return m.group(1)
        m = re.search(r"^\s*curl\b[^\n]*?https://([A-Za-z0-9.-]+)", self.text, re.MULTILINE)
        return m.group(1) if m else ""

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

    def step_meaning(self, meaning: str) -> Step | None:
        """The step that means status (手順1), verify (手順4) or monitor (手順5), by its title;
        the conventional number only when no title says it."""
        for st in self.steps:
            t = M.norm(st.title)
            if meaning != "monitor" and any(w in t for w in M.STEP_MEANINGS["monitor"]):
                continue
            if meaning == "verify" and any(w in t for w in ("状況", "situation", "status")):
                continue
            if any(w in t for w in M.STEP_MEANINGS[meaning]):
                return st
        fallback = {"status": 1, "verify": 4, "monitor": 5}[meaning]
        return next((st for st in self.steps if st.number == fallback), None)

    def unread(self) -> list[Trigger]:
        return [t for t in self.triggers if t.criterion.kind == "unread"]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("text", None)
        return d


# --------------------------------------------------------------------------------------------
# Parsing: structure from a CommonMark parser (runbook/markdown.py), meaning from runbook/meaning.py
# --------------------------------------------------------------------------------------------

def parse_duration_range(text: str) -> tuple[float, float] | None:
    """'1-2分' -> (60, 120); '30分-2時間' -> (1800, 7200); '2分以内' -> (0, 120) (runbook/meaning.py)."""
    return M.target_range(text)


def classify_criterion(text: str, line: int) -> Criterion:
    m = M.criterion_meaning(text)
    return Criterion(text, line, m.kind, m.threshold, m.comparator, m.unit, why=m.why)


def _check_range(path: Path, c: Criterion) -> None:
    """A threshold that cannot be a share of answers or a slow-down is refused with its line."""
    if c.kind == "error_ratio" and c.threshold is not None and not 0 < c.threshold <= 1:
        raise RunbookError(path, c.line, f"a 5xx share of {c.threshold:.0%} cannot be reached: expected a "
                           f"percentage above 0 % and at most 100 %, got '{c.text}'")
    if c.kind == "error_ratio" and c.threshold == 1 and c.comparator == ">":
        raise RunbookError(path, c.line, f"a 5xx share above 100 % can never be reached, got '{c.text}'")
    if c.kind == "latency_factor" and c.threshold is not None and not c.threshold > 1:
        raise RunbookError(path, c.line, f"a response time {c.threshold:g}x normal is not slower than normal: "
                           f"expected a factor above 1, got '{c.text}'")


_LABEL = re.compile(r"^\s*(?:[-*+]\s+)?([^:：]{1,40}?)\s*[:：]\s*(.*?)\s*$")


def _label(blocks: list, kind: str) -> tuple[int, str] | None:
    """A labelled line of a level ('**所要時間**: 1-2分', 'Expected time: 1–2 min', '- 目標時間：5〜10分'),
    the label read by meaning (runbook/meaning.py LABELS)."""
    for b in blocks:
        if isinstance(b, (MD.Para, MD.Item)):
            for ln, s in b.lines:
                m = _LABEL.match(s)
                if m and M.label_kind(m.group(1).strip()) == kind:
                    return ln, m.group(2).strip()
        if isinstance(b, MD.Table):
            for ln, row in [(b.line, b.header)] + b.rows:
                if len(row) >= 2 and M.label_kind(row[0].strip().rstrip(":：")) == kind:
                    return ln, row[1].strip()
    return None


def parse_commands(block: list[tuple[int, str]], info: str = "") -> tuple[list[Command], list[str]]:
    """Split a code block into commands and manual comment steps, as a shell reads it (runbook/shell.py):
    prompts stripped and listed as rewrites, pasted output never a command, continuations and heredocs
    joined. A comment immediately above a command is its context; a comment containing 'または' or
    'or, ' marks the next command as an alternative to the previous one; comments that say 手動/manual
    are manual steps, automated elsewhere as probes."""
    from rollback_drill.runbook.shell import parse_block
    return parse_block(info, block)


def _commands(blocks: list) -> tuple[list[Command], list[str]]:
    cmds: list[Command] = []
    manual: list[str] = []
    for b in blocks:
        if isinstance(b, MD.Code):
            c, mn = parse_commands(b.lines, b.info)
            cmds += [replace(x, alternative_to=None if x.alternative_to is None else x.alternative_to + len(cmds))
                     for x in c]
            manual += mn
    return cmds, manual


def _items(blocks: list) -> list[MD.Item]:
    return [b for b in blocks if isinstance(b, MD.Item) and b.depth == 0]


_COLUMNS = {"severity": ("severity", "重大度", "重要度", "深刻度", "緊急度", "priority", "優先度", "レベル", "level"),
            "deadline": ("deadline", "decide", "decision", "判断", "期限", "タイミング", "timing", "when", "roll back"),
            "criterion": ("criterion", "criteria", "condition", "trigger", "symptom", "条件", "基準", "内容", "症状",
                          "判断基準", "トリガー", "状況", "what")}


def _column(header: list[str], kind: str, taken: set[int], structure: Structure | None = None) -> int | None:
    """The column of a field: the one the sidecar's table_columns declares, else the first whose header
    says it (a header declared as another field is never taken by its words)."""
    declared = {i: structure.column(h) for i, h in enumerate(header)} if structure else {}
    for i, f in declared.items():
        if f == kind and i not in taken:
            return i
    for i, h in enumerate(header):
        if i not in taken and declared.get(i) is None and any(w in M.norm(h) for w in _COLUMNS[kind]):
            return i
    return None


def _unrecognised(header: list[str]) -> str:
    """The first header no field's words recognise (the one to declare), else the first."""
    return next((h for h in header if not any(w in M.norm(h) for ws in _COLUMNS.values() for w in ws)), header[0])


def _table_criteria(path: Path, table: MD.Table,
                    structure: Structure | None = None) -> list[tuple[int, str, str | None, float | None]]:
    """(line, criterion, severity, deadline) of each row of a criteria table, columns by their header's
    meaning (or as the sidecar's table_columns declares them); severity and deadline None when the table
    has no such column."""
    taken: set[int] = set()
    crit = _column(table.header, "criterion", taken, structure)
    if crit is None:
        if len(table.header) == 1:
            crit = 0
        else:
            raise RunbookError(path, table.line, "expected a criteria table with a column headed 'criterion' "
                               f"(or 基準 / 条件), got columns {table.header}; or declare it in the sidecar, e.g. "
                               f"table_columns: {{\"{_unrecognised(table.header)}\": criterion}}")
    taken.add(crit)
    sev = _column(table.header, "severity", taken, structure)
    if sev is not None:
        taken.add(sev)
    dl = _column(table.header, "deadline", taken, structure)
    out = []
    for ln, row in table.rows:
        cell = lambda i: row[i] if i is not None and i < len(row) else ""  # noqa: E731
        text = cell(crit).strip()
        if not text:
            continue
        s = M.severity(cell(sev)) if sev is not None else None
        if sev is not None and s is None:
            raise RunbookError(path, ln, f"expected a severity ({', '.join(SEVERITIES)}) in column "
                               f"'{table.header[sev]}', got '{cell(sev)}'")
        d = M.deadline(cell(dl)) if dl is not None else (M.deadline(cell(sev)) if sev is not None else None)
        out.append((ln, text, s, d))
    return out


def _first(doc: MD.Document, kinds: dict[int, str], kind: str) -> list[int]:
    """The headings of one kind, in document order."""
    return sorted(i for i, k in kinds.items() if k == kind)


MAX_CHARS = 2_000_000  # the project's runbook is ~9 000 characters


def _level_number(path: Path, sec: MD.Heading, structure: Structure | None) -> tuple[int, str]:
    """(number, title) of a level heading: as the reader reads it, or as the sidecar's `levels` declares
    it; a declaration that contradicts the heading's own number is refused (one of them is wrong)."""
    read = M.level_heading(sec.text)
    declared = structure.level(sec.text) if structure else None
    if declared is None:
        assert read is not None
        return read
    if read is not None and read[0] != declared:
        from rollback_drill.runbook.sidecar import structure_key
        raise RunbookError(structure.path, structure.lines[("levels", structure_key(sec.text))],
                           f"levels: {sec.text!r} (line {sec.line} of the runbook) reads as Level {read[0]}, the "
                           f"sidecar says Level {declared}: declare only headings the reader cannot number")
    return declared, read[1] if read else sec.text


def _check_structure(doc: MD.Document, structure: Structure | None) -> None:
    """Every structure declaration of the sidecar matched a heading or a criteria-table header."""
    if structure is None:
        return
    headers = [h for x in doc.headings for b in x.blocks if isinstance(b, MD.Table) for h in b.header]
    structure.check_used([h.text for h in doc.headings], headers)


def _own_body(doc: MD.Document, i: int, kinds: dict[int, str]) -> list[MD.Block]:
    """Heading i's blocks and those of the headings below it, except the parts of another step or level
    written below it (a step heading one level up must not take the next steps' commands as its own)."""
    out = list(doc.headings[i].blocks)
    skip: set[int] = set()
    for j in doc.subtree(i):
        if j in skip:
            continue
        if kinds.get(j) in ("step", "level"):
            skip.update(doc.subtree(j))
            continue
        out += doc.headings[j].blocks
    return out


def _levels_from_list_items(doc: MD.Document, structure: Structure | None) -> None:
    """Levels written as the items of a list ('1. **Level 1: …**' with the duration, labels and code block
    indented under it) read as if each were a heading one deeper than their section: the reader of levels
    then sees one shape. Only top-level items of a levels section whose first line names a level count; the
    item's further lines stay with it as a paragraph."""
    out: list[MD.Heading] = []
    for h in doc.headings:
        out.append(h)
        if M.section_kind(h.text) != "levels" and not M.level_heading(h.text):
            continue

        def names_level(b: MD.Block) -> bool:
            if not isinstance(b, MD.Item) or b.depth != 0 or not b.lines:
                return False
            first = b.lines[0][1]
            return bool(M.level_heading(first) or (structure is not None and structure.level(first) is not None))

        if M.level_heading(h.text) or not any(names_level(b) for b in h.blocks):
            continue
        kept: list[MD.Block] = []
        current: MD.Heading | None = None
        for b in h.blocks:
            if names_level(b):
                assert isinstance(b, MD.Item)
                current = MD.Heading(h.depth + 1, b.lines[0][1], b.line)
                rest = b.lines[1:]
                if rest:
                    current.blocks.append(MD.Para(rest[0][0], " ".join(s for _, s in rest), rest))
                out.append(current)
            elif current is not None:
                current.blocks.append(b)
            else:
                kept.append(b)
        h.blocks = kept
    doc.headings = out


def parse_runbook_text(text: str, path: str | Path = "<runbook>", structure: Structure | None = None) -> Runbook:
    """The runbook's reading; `structure` (the sidecar's levels / table_columns) says how to read headings
    and table columns the reader does not recognise."""
    path = Path(path)
    sha = hashlib.sha256(text.encode()).hexdigest()
    text = MD.normalize_newlines(text)
    if len(text) > MAX_CHARS:
        raise RunbookError(path, 0, f"the runbook is {len(text) / 1e6:.1f} million characters long; a runbook is read "
                           f"up to {MAX_CHARS // 1_000_000} million (is it the right file, or the same text repeated?)")
    lang = M.language(text)
    if lang not in ("ja", "en"):
        raise RunbookError(path, 1, f"the runbook is written in {lang}; it can be read only in Japanese or English "
                           "(keep a Japanese or English copy of it for the drill)")
    doc = MD.parse(text)
    _levels_from_list_items(doc, structure)
    H = doc.headings
    kinds: dict[int, str] = {}
    for i, h in enumerate(H):
        if (structure is not None and structure.level(h.text) is not None) or M.level_heading(h.text):
            kinds[i] = "level"
        elif M.step_heading(h.text):
            kinds[i] = "step"
        else:
            k = M.section_kind(h.text)
            if k:
                kinds[i] = k
    rb = Runbook(path=str(path), sha256=sha, text=text)

    # Triggers: each severity's criteria, in the order written (ids are labels, nothing depends on them)
    crit_secs: list[int] = []  # criteria headings not inside another one
    for i in _first(doc, kinds, "criteria"):
        if not crit_secs or i not in doc.subtree(crit_secs[-1]):
            crit_secs.append(i)
        if len(crit_secs) > 1:
            break
    if not crit_secs:
        raise RunbookError(path, 1, "expected a section '## ロールバックの判断基準 / Rollback criteria' "
                           "(the trigger severities and their criteria)")
    if len(crit_secs) > 1:
        a, b = H[crit_secs[0]], H[crit_secs[1]]
        raise RunbookError(path, b.line, f"a second criteria section '{b.text}' (the first is '{a.text}' at line "
                           f"{a.line}): keep one")
    ci = crit_secs[0]
    counters: dict[str, int] = {}
    seen: dict[tuple, int] = {}

    def add_trigger(sev: str, dl: float, ln: int, item: str) -> None:
        c = classify_criterion(item, ln)
        _check_range(path, c)
        keys = [(sev, "text", M.norm(item))]
        if c.kind in ("error_ratio", "latency_factor"):
            keys.append((sev, c.kind, c.comparator, c.threshold))
        for key in keys:
            if key in seen:
                raise RunbookError(path, ln, f"the criterion '{item}' repeats the {sev} criterion of line {seen[key]}: "
                                   "keep one")
        for key in keys:
            seen[key] = ln
        counters[sev] = counters.get(sev, 0) + 1
        rb.triggers.append(Trigger(f"{sev[0]}{counters[sev]}", sev, dl, c))

    for b in H[ci].blocks:  # one table with a severity column for every criterion
        if isinstance(b, MD.Table):
            for ln, item, sev, dl in _table_criteria(path, b, structure):
                if sev is None or dl is None:
                    raise RunbookError(path, ln, "expected a severity and a decision deadline for this criterion "
                                       "(a column for each, or a '### Critical（即座にロールバック）' heading above it)")
                add_trigger(sev, dl, ln, item)
    sev_done: dict[str, int] = {}
    for j in doc.children(ci):
        sec = H[j]
        sev = M.severity(sec.text)
        body = doc.body(j)
        if sev is None:
            if _items(body) or any(isinstance(b, MD.Table) for b in body):
                raise RunbookError(path, sec.line, f"expected a severity heading (one of {', '.join(SEVERITIES)}), "
                                   f"got '{'#' * sec.depth} {sec.text}'")
            continue
        if sev in sev_done:
            raise RunbookError(path, sec.line, f"a second {sev} heading (the first is at line {sev_done[sev]}): "
                               "keep one list per severity")
        sev_done[sev] = sec.line
        dl = M.deadline(sec.text)
        if dl is None:
            said = {M.deadline(s) for p in body if isinstance(p, MD.Para) for _, s in p.lines} - {None}
            dl = said.pop() if len(said) == 1 else None
        if dl is None:
            raise RunbookError(path, sec.line, "expected a decision deadline in the heading, e.g. "
                               "'（即座にロールバック）', '（15分以内にロールバック判断）' or '(within 15 minutes)'")
        rows: list[tuple[int, str]] = [(it.line, it.text) for it in _items(body)]
        for t in (b for b in body if isinstance(b, MD.Table)):
            rows += [(ln, item) for ln, item, _, _ in _table_criteria(path, t, structure)]
        rows.sort()
        if not rows:
            raise RunbookError(path, sec.line, f"expected '- [ ] criterion' lines under '{'#' * sec.depth} {sec.text}'")
        for ln, item in rows:
            add_trigger(sev, dl, ln, item)
    if not rb.triggers:
        raise RunbookError(path, H[ci].line, "expected at least one '### Critical（…）' criteria list")
    crit_tree = {ci, *doc.subtree(ci)}

    # Levels: a heading naming a level (any depth, any numeral), wherever it stands
    level_secs = [i for i in _first(doc, kinds, "levels") if i not in crit_tree]
    for li in level_secs:  # a heading under "Rollback levels" that is not a level but holds one's parts
        for j in doc.children(li):
            if kinds.get(j) not in ("level",) and (any(isinstance(b, MD.Code) for b in H[j].blocks)
                                                   or _label(H[j].blocks, "target")):
                raise RunbookError(path, H[j].line, f"expected a heading '### Level N: title' (or 'レベルN'), "
                                   f"got '{'#' * H[j].depth} {H[j].text}'; or declare its number in the sidecar, "
                                   f"e.g. levels: {{\"{H[j].text}\": 1}}")
    levels_idx = [i for i in _first(doc, kinds, "level") if i not in crit_tree]
    if not levels_idx:
        if level_secs:
            raise RunbookError(path, H[level_secs[0]].line, "expected at least one '### Level N: title'")
        raise RunbookError(path, 1, "expected a section '## ロールバックレベル / Rollback levels' (the rollback levels)")
    seen_levels: dict[int, int] = {}
    for i in levels_idx:
        sec = H[i]
        number, title = _level_number(path, sec, structure)
        if number in seen_levels:
            raise RunbookError(path, sec.line, f"Level {number} again (the first is at line {seen_levels[number]}): "
                               "expected distinct level numbers")
        seen_levels[number] = sec.line
        body = _own_body(doc, i, kinds)
        dur = _label(body, "target")
        if dur is None:
            raise RunbookError(path, sec.line, f"expected a line '**所要時間**: N-M分' (or '**Duration**: 1–2 min') "
                               f"under 'Level {number}'")
        rng = M.target_range(dur[1])
        if rng is None:
            raise RunbookError(path, dur[0], f"expected a duration like '1-2分', '30分-2時間', '2分以内', "
                               f"'1–2 min' or 'up to 2 h', got '{dur[1]}'")
        if not any(isinstance(b, MD.Code) for b in body):
            raise RunbookError(path, sec.line, f"expected a ```bash command block under 'Level {number}'")
        cmds, manual = _commands(body)
        if not cmds:
            raise RunbookError(path, sec.line, f"expected commands in the code block under 'Level {number}' "
                               "(a console block runs only its '$ ' lines)")
        when = _label(body, "when")
        warning = _label(body, "warning")
        restores = M.restores_by_commands(cmds)
        rb.levels.append(Level(number, title, sec.line, rng[0], rng[1], when[1] if when else "",
                               warning[1] if warning else "", tuple(cmds), tuple(manual),
                               full_state=restores.full_state, database=restores.database,
                               restores_evidence=restores.evidence))
        said_full, said_db = M.level_restores(title)
        if (said_full, said_db) != (restores.full_state, restores.database):
            said = M.Restores(said_full, said_db, ()).describe()
            rb.warnings.append(f"{path}:{sec.line}: Level {number}'s title '{title}' reads as restoring {said}, "
                               f"but its commands restore {restores.describe()} "
                               f"({'; '.join(restores.evidence) or 'no removal of the release, re-apply or restore'}); "
                               "the commands decide")
    rb.levels.sort(key=lambda lv: lv.number)
    level_tree = {j for i in levels_idx for j in (i, *doc.subtree(i))}

    # Detailed procedure and checklists (optional, used by the drill when present)
    for i, h in enumerate(H):
        if kinds.get(i) == "step" and i not in crit_tree and i not in level_tree:
            head = M.step_heading(h.text)
            cmds, manual = _commands(_own_body(doc, i, kinds))
            rb.steps.append(Step(head[0], head[1], h.line, tuple(cmds), tuple(manual)))
    for i in _first(doc, kinds, "checklist"):
        for j in doc.subtree(i):
            phase = M.checklist_phase(H[j].text)
            if phase and phase not in rb.checklists:
                rb.checklists[phase] = [it.text for it in _items(H[j].blocks)]
    _check_structure(doc, structure)
    return rb


KNOWN_KINDS = ("error_ratio", "latency_factor", "db", "login", "security", "jobs", "media", "streaming", "feature",
               "performance")


def sidecar_path(path: Path) -> Path | None:
    """`<runbook>.drill.yaml` beside the runbook: rollback-runbook.ja.drill.yaml or …ja.md.drill.yaml;
    both present is refused (one would be silently ignored)."""
    cands = [c for c in dict.fromkeys((path.with_suffix(".drill.yaml"), path.with_name(path.name + ".drill.yaml")))
             if c.exists()]
    if len(cands) > 1:
        raise RunbookError(cands[1], 0, f"two sidecars for {path.name}: {cands[0].name} and {cands[1].name}; "
                           "keep one (the other would be ignored)")
    return cands[0] if cands else None


def declare_hint(path: str | Path, c: Criterion) -> str:
    name = Path(path).with_suffix(".drill.yaml").name
    return ((f"{c.why}; " if c.why and c.kind == "unread" else "") + f"declare it in {name} beside the runbook, e.g.\n  criteria:\n    - line: {c.line}\n"
            f"      kind: {' | '.join(KNOWN_KINDS)}\n      threshold: 0.1   # for error_ratio (10 %) or latency_factor (3)")


def apply_sidecar(rb: Runbook, side: Path) -> None:
    """Declarations of criterion kinds and thresholds (runbook/sidecar.py validates them, naming the line)."""
    from rollback_drill.runbook import sidecar as S
    S.apply(rb, S.read(side))


def read_text(p: Path, what: str, hint: str, error: type[RunbookError] = RunbookError) -> str:
    """A file a person gives (a runbook, an operator script) as UTF-8 text, or one line saying why not."""
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(p, 0, f"{what} file does not exist ({hint})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(p, 0, f"{what} cannot be read as UTF-8 text ({e})") from None


def load_runbook(path: str | Path) -> Runbook:
    """Read and parse a runbook file (and its sidecar); unreadable files get the same one-line error."""
    p = Path(path)
    if p.is_dir():
        mds = sorted(x.name for x in p.glob("*.md"))[:3]
        raise RunbookError(p, 0, "is a directory, not a runbook: give the runbook's Markdown file"
                           + (f" (here: {', '.join(mds)})" if mds else ""))
    text = read_text(p, "the runbook", "give the path of its Markdown file")
    if "\x00" in text:
        raise RunbookError(p, 0, "the runbook is a binary file, not Markdown text")
    from rollback_drill.runbook import sidecar as S
    side = sidecar_path(p)
    sc = S.read(side) if side is not None else None  # validated before the runbook: it may say how to read it
    rb = parse_runbook_text(text, p, S.structure(sc))
    if sc is not None:
        S.apply(rb, sc)
    return rb
