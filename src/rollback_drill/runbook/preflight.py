"""Preflight's items and verdicts, read from the runbook: what each level's commands name, the 実施前
checklist, and the table. No cluster here — the live checks (objects, dry runs, the Helm release,
images, backups) are in drill/preflight.py, which fills these items in.

Preflight tells the truth: an item it did not check is `ok: None` ("not checked: <reason>"),
never OK. A level is ready when none of its items failed; `complete` says whether every item
was actually checked, and `not_checked` how many were not.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rollback_drill.runbook.meaning import BACKUP_FILE_WORDS, norm
from rollback_drill.runbook.model import Runbook

#: Whether an image is present on the node; None: the node's images cannot be listed here.
ImagesPresent = Callable[[str], bool] | None

NOT_CHECKED = "not checked: "
PERSON_STEP = NOT_CHECKED + "a person's step"
IMAGES_NOT_LISTABLE = NOT_CHECKED + "the node's images cannot be listed read-only on this context"
BACKUPS_NOT_LISTABLE = NOT_CHECKED + "the database backups cannot be listed on this context"


@dataclass
class Check:
    what: str
    ok: bool | None  # None: not checked, and `why` says why ("not checked: ...")
    why: str = ""


def _not_checked(checks: list[Check]) -> int:
    return sum(1 for c in checks if c.ok is None)


def _none_failed(checks: list[Check]) -> bool:
    return not any(c.ok is False for c in checks)


@dataclass
class LevelReadiness:
    level: int
    title: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """No item failed. Items not checked do not make a level unready; `complete` reports them."""
        return _none_failed(self.checks)

    @property
    def not_checked(self) -> int:
        return _not_checked(self.checks)

    @property
    def complete(self) -> bool:
        return self.not_checked == 0

    def to_dict(self) -> dict:
        return {"level": self.level, "title": self.title, "ready": self.ready, "complete": self.complete,
                "not_checked": self.not_checked, "checks": [asdict(c) for c in self.checks]}


def objects_named(cmd: str) -> list[tuple[str, str]]:
    """(kind, name) pairs a command acts on, read from the command itself."""
    out = []
    m = re.match(r"kubectl (?:scale|annotate)\s+(deployment|service)\s+([\w-]+)", cmd)
    if m:
        out.append((m.group(1), m.group(2)))
    m = re.match(r"kubectl (?:exec|logs)\s+(deployment)/([\w-]+)", cmd)
    if m:
        out.append((m.group(1), m.group(2)))
    return out


def checklist_before(runbook: Runbook, workdir: Path) -> list[Check]:
    out = []
    for item in runbook.checklists.get("before", []):
        if any(w in norm(item) for w in BACKUP_FILE_WORDS):
            f = workdir / "backup" / "ingress-mastodon.yaml"
            out.append(Check(item, f.exists(), str(f) if f.exists() else f"{f} missing"))
        else:
            out.append(Check(item, None, PERSON_STEP))
    return out


def summarize(levels: list[LevelReadiness], before: list[Check]) -> dict:
    """The overall verdict: `ready` (no item failed), `complete` (every item checked), `not_checked`."""
    checks = [c for lv in levels for c in lv.checks] + list(before)
    n = _not_checked(checks)
    return {"ready": all(lv.ready for lv in levels) and _none_failed(before), "complete": n == 0, "not_checked": n}


def _mark(ok: bool | None) -> str:
    return "[--]" if ok is None else "[ok]" if ok else "[!!]"


def format_table(result: dict) -> str:
    lines = []
    items = [c for lv in result["levels"] for c in lv["checks"]] + list(result["実施前"])
    for lv in result["levels"]:
        n = sum(1 for c in lv["checks"] if c["ok"] is None)
        verdict = ("READY" if lv["ready"] else "NOT READY") + (f" ({n} not checked)" if n else "")
        lines.append(f"Level {lv['level']}: {lv['title']} — {verdict}")
        for c in lv["checks"]:
            lines.append(f"  {_mark(c['ok'])} {c['what']}: {c['why']}")
    lines.append("実施前:")
    for c in result["実施前"]:
        lines.append(f"  {_mark(c['ok'])} {c['what']}: {c['why']}")
    if result.get("findings") is not None:
        lines.append(f"findings visible without running anything ({len(result['findings'])}, most severe first):")
        for f in result["findings"]:
            lines.append(f"  [{f['severity']}] {f['step']} line {f['line']} ({f['kind']}): {f['problem']}")
    if "migrated_state_differences" in result:
        diffs = result["migrated_state_differences"]
        lines.append("just-migrated state (what `run --sut existing` needs): "
                     + ("as the runbook assumes" if not diffs else f"{len(diffs)} difference(s)"))
        lines += [f"  [!!] {d}" for d in diffs]
    reasons = Counter(c["why"].removeprefix(NOT_CHECKED) for c in items if c["ok"] is None)
    n = sum(reasons.values())
    why = "; ".join(f"{k}: {r}" for r, k in reasons.most_common()) if n else "every item was checked"
    lines.append(f"Not checked: {n} of {len(items)} items ({why})")
    return "\n".join(lines)
