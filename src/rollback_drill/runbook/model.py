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

from rollback_drill.runbook import meaning as M

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
    checklists: dict[str, list[str]] = field(default_factory=dict)  # before | during | after | followup
    sidecar: dict = field(default_factory=dict)  # the declarations of <runbook>.drill.yaml, if any
    text: str = field(default="", repr=False)  # as written (the analysis reads its example values)

    @property
    def production_host(self) -> str:
        """The host the runbook's own URLs name (the sidecar's production_host, else the first
        `curl https://HOST` of its commands); "" when it names none."""
        import re
        if self.sidecar.get("production_host"):
            return self.sidecar["production_host"]
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


def _children(sections: list[_Section], parent_idx: int) -> list[_Section]:
    parent = sections[parent_idx]
    out = []
    for s in sections[parent_idx + 1:]:
        if s.level <= parent.level:
            break
        if s.level == parent.level + 1:
            out.append(s)
    return out


def _checkbox_items(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    items = []
    for ln, raw in body:
        m = re.match(r"^\s*[-*]\s+\[[ xX]\]\s+(.*\S)\s*$", raw)
        if m:
            items.append((ln, m.group(1)))
    return items


def _find(sections: list[_Section], kind: str, path: Path, what: str, example: str) -> int:
    for i, s in enumerate(sections):
        if s.level == 2 and M.section_kind(s.title) == kind:
            return i
    raise RunbookError(path, 1, f"expected a section '## {example}' ({what})")


def parse_duration_range(text: str) -> tuple[float, float] | None:
    """'1-2分' -> (60, 120); '30分-2時間' -> (1800, 7200); '2分以内' -> (0, 120) (runbook/meaning.py)."""
    return M.target_range(text)


def classify_criterion(text: str, line: int) -> Criterion:
    m = M.criterion_meaning(text)
    return Criterion(text, line, m.kind, m.threshold, m.comparator, m.unit)


def _label(body: list[tuple[int, str]], kind: str) -> tuple[int, str] | None:
    for ln, raw in body:
        m = re.match(r"^\s*\*\*(.+?)\*\*\s*[:：]?\s*[:：]?\s*(.*?)\s*$", raw)
        if m and M.label_kind(m.group(1).strip().rstrip(":：")) == kind:
            return ln, m.group(2)
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
            low = M.norm(text)
            if any(w in low for w in M.MANUAL_WORDS):
                manual.append(text)
            if any(w in low for w in M.ALTERNATIVE_WORDS) or low.startswith("or "):
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


def parse_runbook_text(text: str, path: str | Path = "<runbook>") -> Runbook:
    path = Path(path)
    lines = text.splitlines()
    sections = _sections(lines)
    rb = Runbook(path=str(path), sha256=hashlib.sha256(text.encode()).hexdigest(), text=text)

    # Triggers: each severity's criteria, in the order written (ids are labels, nothing depends on them)
    ci = _find(sections, "criteria", path, "the trigger severities and their criteria",
               "ロールバックの判断基準 / Rollback criteria")
    counters: dict[str, int] = {}
    for sec in _children(sections, ci):
        sev = M.severity(sec.title)
        if sev is None:
            raise RunbookError(path, sec.line, f"expected a severity heading (one of {', '.join(SEVERITIES)}), "
                               f"got '### {sec.title}'")
        dl = M.deadline(sec.title)
        if dl is None:
            raise RunbookError(path, sec.line, "expected a decision deadline in the heading, e.g. "
                               "'（即座にロールバック）', '（15分以内にロールバック判断）' or '(within 15 minutes)'")
        items = _checkbox_items(sec.body)
        if not items:
            raise RunbookError(path, sec.line, f"expected '- [ ] criterion' lines under '### {sec.title}'")
        for ln, item in items:
            counters[sev] = counters.get(sev, 0) + 1
            rb.triggers.append(Trigger(f"{sev[0]}{counters[sev]}", sev, dl, classify_criterion(item, ln)))
    if not rb.triggers:
        raise RunbookError(path, sections[ci].line, "expected at least one '### Critical（…）' criteria list")

    # Levels
    li = _find(sections, "levels", path, "the rollback levels", "ロールバックレベル / Rollback levels")
    for sec in _children(sections, li):
        head = M.level_heading(sec.title)
        if head is None:
            raise RunbookError(path, sec.line, f"expected a heading '### Level N: title' (or 'レベルN'), "
                               f"got '### {sec.title}'")
        number, title = head
        dur = _label(sec.body, "target")
        if dur is None:
            raise RunbookError(path, sec.line, f"expected a line '**所要時間**: N-M分' (or '**Duration**: 1–2 min') "
                               f"under 'Level {number}'")
        rng = M.target_range(dur[1])
        if rng is None:
            raise RunbookError(path, dur[0], f"expected a duration like '1-2分', '30分-2時間', '2分以内', "
                               f"'1–2 min' or 'up to 2 h', got '{dur[1]}'")
        blocks = _code_blocks(sec.body)
        if not blocks:
            raise RunbookError(path, sec.line, f"expected a ```bash command block under 'Level {number}'")
        cmds: list[Command] = []
        manual: list[str] = []
        for b in blocks:
            c, mn = parse_commands(b)
            cmds += [replace(x, alternative_to=None if x.alternative_to is None else x.alternative_to + len(cmds))
                     for x in c]
            manual += mn
        when = _label(sec.body, "when")
        warning = _label(sec.body, "warning")
        rb.levels.append(Level(number, title, sec.line, rng[0], rng[1], when[1] if when else "",
                               warning[1] if warning else "", tuple(cmds), tuple(manual)))
    if not rb.levels:
        raise RunbookError(path, sections[li].line, "expected at least one '### Level N: title'")
    numbers = [lv.number for lv in rb.levels]
    if len(set(numbers)) != len(numbers):
        raise RunbookError(path, sections[li].line, f"expected distinct level numbers, got {numbers}")

    # Detailed procedure and checklists (optional, used by the drill when present)
    for i, s in enumerate(sections):
        kind = M.section_kind(s.title) if s.level == 2 else None
        if kind == "procedure":
            for sec in _children(sections, i):
                head = M.step_heading(sec.title)
                if head is None:
                    continue
                cmds, manual = [], []
                for b in _code_blocks(sec.body):
                    c, mn = parse_commands(b)
                    cmds += c
                    manual += mn
                rb.steps.append(Step(head[0], head[1], sec.line, tuple(cmds), tuple(manual)))
        if kind == "checklist":
            for sec in _children(sections, i):
                phase = M.checklist_phase(sec.title)
                if phase:
                    rb.checklists[phase] = [t for _, t in _checkbox_items(sec.body)]
    return rb


SIDECAR_KEYS = {"criteria", "production_host", "namespace", "helm_release", "backup_description",
                "database_size_gb", "old_deployments", "helm_deployments", "ingress", "helm_chart", "config_faults"}
SIDECAR_NAMES = ("production_host", "namespace", "helm_release", "ingress", "helm_chart")  # one string each
SIDECAR_LISTS = ("old_deployments", "helm_deployments")  # Deployment names, in order web, streaming, worker
CRITERION_KEYS = {"line", "text", "kind", "threshold"}
KNOWN_KINDS = ("error_ratio", "latency_factor", "db", "login", "security", "jobs", "media", "streaming", "feature",
               "performance")


def sidecar_path(path: Path) -> Path | None:
    """`<runbook>.drill.yaml` beside the runbook: rollback-runbook.ja.drill.yaml or …ja.md.drill.yaml."""
    for cand in (path.with_suffix(".drill.yaml"), path.with_name(path.name + ".drill.yaml")):
        if cand.exists():
            return cand
    return None


def declare_hint(path: str | Path, c: Criterion) -> str:
    name = Path(path).with_suffix(".drill.yaml").name
    return (f"declare it in {name} beside the runbook, e.g.\n  criteria:\n    - line: {c.line}\n"
            f"      kind: {' | '.join(KNOWN_KINDS)}\n      threshold: 0.1   # for error_ratio (10 %) or latency_factor (3)")


def apply_sidecar(rb: Runbook, side: Path) -> None:
    """Declarations of criterion kinds and thresholds; the runbook itself stays the team's prose."""
    import yaml
    try:
        data = yaml.safe_load(side.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise RunbookError(side, getattr(getattr(e, "problem_mark", None), "line", -1) + 1,
                           f"the sidecar is not readable YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or set(data) - SIDECAR_KEYS:
        raise RunbookError(side, 1, f"expected a mapping with keys {', '.join(sorted(SIDECAR_KEYS))}; "
                           f"unknown: {', '.join(sorted(set(data) - SIDECAR_KEYS)) if isinstance(data, dict) else data!r}")
    size = data.get("database_size_gb")
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0):
        raise RunbookError(side, 1, f"database_size_gb: the production database's size in GB (a number >= 0), "
                           f"got {size!r}")
    for key in SIDECAR_NAMES:
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            raise RunbookError(side, 1, f"{key}: expected a name (a non-empty string), got {data[key]!r}")
    for key in SIDECAR_LISTS:
        v = data.get(key)
        if v is not None and (not isinstance(v, list) or len(v) != 3 or not all(isinstance(x, str) and x for x in v)):
            raise RunbookError(side, 1, f"{key}: expected three Deployment names (web, streaming, worker), got {v!r}")
    _check_sidecar_names(side, data)
    cf = data.get("config_faults")
    if cf is not None and (not isinstance(cf, dict) or not all(isinstance(k, str) and isinstance(v, dict) and v
                                                               for k, v in cf.items())):
        raise RunbookError(side, 1, "config_faults: expected a mapping of criterion kind (db, login, jobs, media, "
                           "streaming) to {chart value path: wrong value}, e.g. config_faults: {db: "
                           "{postgresql.auth.password: not-the-password}}")
    for n, d in enumerate(data.get("criteria") or [], 1):
        if not isinstance(d, dict) or set(d) - CRITERION_KEYS or not ({"line", "text"} & set(d)):
            raise RunbookError(side, 1, f"criteria[{n}]: expected 'line' or 'text' (to find the criterion) and "
                               f"'kind' (+ 'threshold'); got {d!r}")
        if d.get("kind") not in KNOWN_KINDS:
            raise RunbookError(side, 1, f"criteria[{n}]: kind {d.get('kind')!r} is not one of {', '.join(KNOWN_KINDS)}")
        hits = [i for i, tr in enumerate(rb.triggers)
                if ("line" in d and tr.criterion.line == d["line"]) or ("text" in d and str(d["text"]) in tr.criterion.text)]
        if len(hits) != 1:
            raise RunbookError(side, 1, f"criteria[{n}]: {('line ' + str(d['line'])) if 'line' in d else repr(d['text'])} "
                               f"matches {len(hits)} criteria of {rb.path}, expected exactly one")
        tr = rb.triggers[hits[0]]
        thr = d.get("threshold", tr.criterion.threshold)
        if d["kind"] in ("error_ratio", "latency_factor") and not isinstance(thr, (int, float)):
            raise RunbookError(side, 1, f"criteria[{n}]: kind {d['kind']} needs a numeric 'threshold'")
        thr = None if thr is None else float(thr)
        if d["kind"] == "error_ratio" and thr is not None and thr > 1:
            thr = thr / 100.0  # "10" means 10 %
        c = replace(tr.criterion, kind=d["kind"], threshold=thr, comparator=tr.criterion.comparator or ">",
                    unit={"error_ratio": "ratio", "latency_factor": "x baseline"}.get(d["kind"], ""),
                    declared_in=str(side))
        rb.triggers[hits[0]] = replace(tr, criterion=c)
    rb.sidecar = {k: v for k, v in data.items() if k != "criteria"} | {"path": str(side)}


def _check_sidecar_names(side: Path, data: dict) -> None:
    """Names that become kubectl/helm arguments are Kubernetes/Helm names (untrusted.py), said with the key."""
    from rollback_drill import untrusted
    checks = {"namespace": untrusted.namespace, "helm_release": untrusted.release,
              "production_host": untrusted.hostname, "ingress": untrusted.object_name}
    try:
        for key, check in checks.items():
            if key in data:
                check(data[key], key)
        for key in SIDECAR_LISTS:
            for name in data.get(key) or []:
                untrusted.object_name(name, key, "Deployment")
    except untrusted.Untrusted as e:
        raise RunbookError(side, 1, str(e)) from None


def load_runbook(path: str | Path) -> Runbook:
    """Read and parse a runbook file (and its sidecar); unreadable files get the same one-line error."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunbookError(p, 0, "the runbook file does not exist (pass --runbook PATH to a Markdown file)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunbookError(p, 0, f"the runbook cannot be read as UTF-8 text ({e})") from None
    rb = parse_runbook_text(text, p)
    side = sidecar_path(p)
    if side is not None:
        apply_sidecar(rb, side)
    return rb
