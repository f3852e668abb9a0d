"""What an edit of the runbook changed in its reading: the list the owner checks after editing.

Two readings (the dicts of drill/plan.py `reading()`) are compared by meaning, never by line:
a criterion is matched by its severity and kind (the n-th 5xx criterion of Critical with the n-th
of the other), a level and a step by their number, a checklist by its phase. Moving a paragraph,
rewording a title or translating the file therefore changes nothing of the reading (the new words are
listed last, marked wording only); a changed threshold, comparator, deadline, target, restored state or
command is listed as a change with the line it has in each file.

Pure: no file is read here except by `other_reading`, which only decides what OTHER is (a runbook
or a drill journal) and refuses, in one line, what cannot be compared.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollback_drill.runbook.meaning import checklist_check, norm
from rollback_drill.runbook.model import Runbook, RunbookError, load_runbook

CRITERION_FIELDS = ("kind", "comparator", "threshold", "decision_deadline_s", "severity")
LEVEL_FIELDS = ("target", "restores")
# Fields the drill does not act on (the words of a criterion, a level's title and 'when', a step's title):
# listed after the changes so the owner sees every edit, never counted as a change of the reading.
WORDING = ("items reworded", "words", "title", "when")
JOURNAL_SCHEMA = "rollback-drill/journal"  # evidence/journal.py SCHEMA (not imported: this module stays pure)


@dataclass(frozen=True)
class Change:
    """One field of the reading that differs: where (by meaning), which field, before and after."""

    where: str  # "criterion Critical error_ratio #1", "Level 2", "step 3", "checklist after"
    field: str  # "threshold", "command changed", "item added", …
    old: Any = None
    new: Any = None
    old_line: int | None = None
    new_line: int | None = None

    def describe(self) -> str:
        """One line: where (and its lines in each file), the field, before -> after."""
        lines = _lines(self.old_line, self.new_line)
        if self.field == "items reworded":
            return f"{self.where}: {len(self.new)} item(s) reworded, what the drill checks unchanged"
        if self.field in WORDING:
            return f"{self.where}{lines}: {self.field} reworded: {_show(self.old)!r} -> {_show(self.new)!r} " \
                   "(wording only: not what the drill acts on)"
        if self.field.endswith(" added"):
            what = f"{self.field}: {_show(self.new)}"
        elif self.field.endswith(" removed"):
            what = f"{self.field}: {_show(self.old)}"
        else:
            what = f"{self.field}: {_show(self.old)} -> {_show(self.new)}"
        return f"{self.where}{lines}: {what}"


def _lines(old: int | None, new: int | None) -> str:
    if old is None and new is None:
        return ""
    if old is None:
        return f" (line {new})"
    if new is None:
        return f" (was line {old})"
    return f" (line {old})" if old == new else f" (line {old} -> {new})"


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
        return f"{v[0]:g}-{v[1]:g}s"
    if v is None or v == "":
        return "(none)"
    return str(v)


# ---- criteria ------------------------------------------------------------------------------

def _criterion_key(c: dict, counts: dict[tuple[str, str], int]) -> tuple[str, str, int]:
    """(severity, kind, n): the n-th criterion of this kind in this severity, in the order written."""
    k = (c["severity"], c["kind"])
    counts[k] = counts.get(k, 0) + 1
    return (*k, counts[k])


def _pair_criteria(old: list[dict], new: list[dict]) -> tuple[list[tuple[dict, dict]], list[dict], list[dict]]:
    """Pairs by severity+kind+order first; what is left is paired by kind across severities (a criterion
    moved to another severity), then by order within a severity (a criterion whose kind changed)."""
    oc: dict = {}
    nc: dict = {}
    okeys = {_criterion_key(c, oc): c for c in old}
    nkeys = {_criterion_key(c, nc): c for c in new}
    pairs = [(okeys[k], nkeys[k]) for k in okeys if k in nkeys]
    left_old = [c for k, c in okeys.items() if k not in nkeys]
    left_new = [c for k, c in nkeys.items() if k not in okeys]
    for same in (lambda a, b: a["kind"] == b["kind"], lambda a, b: a["severity"] == b["severity"]):
        for a in list(left_old):
            b = next((b for b in left_new if same(a, b)), None)
            if b is not None:
                pairs.append((a, b))
                left_old.remove(a)
                left_new.remove(b)
    return pairs, left_old, left_new


def _criterion_name(c: dict) -> str:
    return f"criterion {c['severity']} {c['kind']}"


def diff_criteria(old: list[dict], new: list[dict]) -> list[Change]:
    """Changed fields of matched criteria, then the criteria removed and added (with their words)."""
    pairs, removed, added = _pair_criteria(old, new)
    out: list[Change] = []
    for a, b in sorted(pairs, key=lambda p: p[1]["line"]):
        name = f"{_criterion_name(a)} {b['text']!r}"  # the words as the edited file says them
        before = len(out)
        for f in CRITERION_FIELDS:
            if a.get(f) != b.get(f):
                va, vb = (_threshold(a), _threshold(b)) if f == "threshold" else (a.get(f), b.get(f))
                out.append(Change(name, _FIELD_NAMES.get(f, f), va, vb, a["line"], b["line"]))
        if len(out) == before and norm(a["text"]) != norm(b["text"]):  # only the words changed
            out.append(Change(_criterion_name(a), "words", a["text"], b["text"], a["line"], b["line"]))
    out += [Change(_criterion_name(c), "criterion removed", c["text"], None, c["line"], None) for c in removed]
    out += [Change(_criterion_name(c), "criterion added", None, c["text"], None, c["line"]) for c in added]
    return out


def _threshold(c: dict) -> str | None:
    """A threshold as the runbook says it: 10% for a 5xx share, 3x for a slow-down."""
    t = c.get("threshold")
    if t is None:
        return None
    return f"{t:.4g}".rstrip() if c["kind"] not in ("error_ratio", "latency_factor") else \
        (f"{t * 100:g}%" if c["kind"] == "error_ratio" else f"{t:g}x")


_FIELD_NAMES = {"decision_deadline_s": "decision deadline (s)"}


# ---- commands, levels, steps ---------------------------------------------------------------

def _command(c: dict | str) -> tuple[str, int | None]:
    """(text as a shell runs it, whitespace collapsed; its line when the reading has one)."""
    if isinstance(c, str):
        return " ".join(c.split()), None
    return " ".join(c["text"].split()), c.get("line")


def diff_commands(where: str, old: list, new: list) -> list[Change]:
    """Commands added, removed or changed, aligned as a diff of their texts (a changed command is one
    replaced in place; a replacement of unequal length adds or removes the rest)."""
    a, b = [_command(c) for c in old], [_command(c) for c in new]
    sm = difflib.SequenceMatcher(a=[t for t, _ in a], b=[t for t, _ in b], autojunk=False)
    out: list[Change] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        olds, news = a[i1:i2], b[j1:j2]
        n = min(len(olds), len(news)) if op == "replace" else 0
        for (ot, ol), (nt, nl) in zip(olds[:n], news[:n]):
            out.append(Change(where, "command changed", ot, nt, ol, nl))
        out += [Change(where, "command removed", t, None, ln, None) for t, ln in olds[n:]]
        out += [Change(where, "command added", None, t, None, ln) for t, ln in news[n:]]
    return out


def _by_number(items: list[dict]) -> dict[int, dict]:
    return {int(x["number"]): x for x in items}


def diff_levels(old: list[dict], new: list[dict]) -> list[Change]:
    """Per level number: its target, what it restores (decided by its commands) and its commands."""
    o, n = _by_number(old), _by_number(new)
    out: list[Change] = []
    for num in sorted(o.keys() | n.keys()):
        where = f"Level {num}"
        if num not in n:
            out.append(Change(where, "level removed", o[num]["title"], None, o[num].get("line"), None))
            continue
        if num not in o:
            out.append(Change(where, "level added", None, n[num]["title"], None, n[num].get("line")))
            continue
        a, b = o[num], n[num]
        ta, tb = (a["target_min_s"], a["target_max_s"]), (b["target_min_s"], b["target_max_s"])
        if ta != tb:
            out.append(Change(where, "target", ta, tb, a.get("line"), b.get("line")))
        if a["restores"] != b["restores"]:
            out.append(Change(where, "restores", a["restores"], b["restores"], a.get("line"), b.get("line")))
        out += diff_commands(where, a["commands"], b["commands"])
        for f in ("title", "when"):
            if norm(a.get(f) or "") != norm(b.get(f) or ""):
                out.append(Change(where, f, a.get(f), b.get(f), a.get("line"), b.get("line")))
    return out


def diff_steps(old: list[dict], new: list[dict]) -> list[Change]:
    """Per step number: steps added or removed, their commands, and a reworded title (wording only)."""
    o, n = _by_number(old), _by_number(new)
    out: list[Change] = []
    for num in sorted(o.keys() | n.keys()):
        where = f"step {num}"
        if num not in n:
            out.append(Change(where, "step removed", o[num]["title"]))
        elif num not in o:
            out.append(Change(where, "step added", None, n[num]["title"]))
        else:
            out += diff_commands(where, o[num]["commands"], n[num]["commands"])
            if norm(o[num]["title"]) != norm(n[num]["title"]):
                out.append(Change(where, "title", o[num]["title"], n[num]["title"]))
    return out


def _take(items: list[str], same: Callable[[str, str], bool], others: list[str]) -> list[tuple[str, str]]:
    """Pairs each item of `items` with the first unpaired item of `others` it is the same as; the paired
    ones are removed from both lists."""
    pairs = []
    for x in list(items):
        y = next((y for y in others if same(x, y)), None)
        if y is not None:
            pairs.append((x, y))
            items.remove(x)
            others.remove(y)
    return pairs


def diff_phase(where: str, old: list[str], new: list[str]) -> list[Change]:
    """One checklist phase. What an item checks (meaning.py checklist_check: health, error log, jobs, …)
    is its meaning: an item whose check appears or disappears is listed; an item said in other words
    (the same check, or prose the drill does not check) is counted in one 'items reworded' line, so a
    translated checklist does not bury a real change."""
    a, b = list(old), list(new)
    _take(a, lambda x, y: norm(x) == norm(y), b)
    reworded = _take(a, lambda x, y: checklist_check(x) is not None and checklist_check(x) == checklist_check(y), b)
    reworded += _take(a, lambda x, y: checklist_check(x) is None and checklist_check(y) is None, b)
    out = [Change(where, "item removed", x) for x in a] + [Change(where, "item added", None, y) for y in b]
    if reworded:
        out.append(Change(where, "items reworded", [x for x, _ in reworded], [y for _, y in reworded]))
    return out


def diff_checklists(old: dict[str, list[str]], new: dict[str, list[str]]) -> list[Change]:
    """Per phase (before, during, after, followup), items compared by what they check (diff_phase)."""
    out: list[Change] = []
    for phase in [*old, *(p for p in new if p not in old)]:
        out += diff_phase(f"checklist {phase}", old.get(phase, []), new.get(phase, []))
    return out


def diff_readings(old: dict, new: dict) -> list[Change]:
    """Every field of the reading that differs from `old` to `new`, criteria first, then levels, steps
    and checklists; [] when the edit kept the meaning."""
    return (diff_criteria(old.get("criteria", []), new.get("criteria", []))
            + diff_levels(old.get("levels", []), new.get("levels", []))
            + diff_steps(old.get("steps", []), new.get("steps", []))
            + diff_checklists(old.get("checklists", {}), new.get("checklists", {})))


def report(old: dict, new: dict, changes: list[Change]) -> str:
    """The text the owner reads: which file against which, then one line per change; wording the drill does
    not act on (criteria's words, titles, 'when', checklist items said otherwise) is listed last and not
    counted as a change."""
    head = f"{old['path']} -> {new['path']}: "
    meaning = [c for c in changes if c.field not in WORDING]
    if meaning:
        head += f"{len(meaning)} field(s) of the reading changed"
    else:
        head += (f"the same reading ({len(new.get('criteria', []))} criteria, {len(new.get('levels', []))} levels, "
                 f"{len(new.get('steps', []))} steps and the checklists compared by meaning)")
    return "\n".join([head] + [f"  {c.describe()}" for c in meaning + [c for c in changes if c not in meaning]])


# ---- OTHER: a runbook or a drill journal -----------------------------------------------------

def journal_reading(data: dict, path: str | Path) -> dict:
    """The runbook reading a drill journal recorded; a journal that recorded only the runbook's path and
    sha256 (what drills record today) is refused in one line."""
    rb = (data.get("environment") or {}).get("runbook") or {}
    if isinstance(rb.get("reading"), dict):
        return rb["reading"] | {"path": f"{path} (journal of {rb.get('path', 'the runbook')})"}
    raise RunbookError(path, 0, f"this drill journal records only the runbook's path and sha256 "
                       f"({rb.get('path', '?')}, {str(rb.get('sha256', '?'))[:12]}), not its reading: give the "
                       "runbook's earlier Markdown file instead (e.g. `git show HEAD~1:RUNBOOK > /tmp/old.md`)")


def _as_journal(path: Path) -> dict | None:
    """The parsed journal when `path` is one (JSON with the journal's schema), else None."""
    if path.suffix.lower() != ".json":
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RunbookError(path, 0, f"cannot read it as a drill journal ({e}): give a runbook .md file or "
                           "reports/<run>/journal.json") from None
    if not isinstance(data, dict) or data.get("schema") != JOURNAL_SCHEMA:
        raise RunbookError(path, 0, "is JSON but not a rollback-drill journal: give a runbook .md file or "
                           "reports/<run>/journal.json")
    return data


def other_reading(path: str | Path, reading_of: Callable[[Runbook], dict]) -> dict:
    """The reading to compare with: a runbook Markdown file read as the runbook is (its sidecar too), or
    the reading a drill journal recorded. `reading_of` is drill/plan.py `reading` (passed in so that
    this module does not depend on the drill)."""
    p = Path(path)
    journal = _as_journal(p) if p.is_file() else None
    if journal is not None:
        return journal_reading(journal, p)
    return reading_of(load_runbook(p))
