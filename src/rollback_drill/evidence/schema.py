"""The journal's JSON Schema and what a reader does with it.

`journal.schema.json` (JSON Schema draft 2020-12, beside this file) is the one definition of the
journal: its fields, their types, which are always written, and what each means. `docs/journal-schema.md`
carries a field list generated from it (`python -m rollback_drill.evidence.schema --write-doc`).
Older versions keep their frozen schema (`journal.v1.schema.json`), so past evidence is checked
against what was written then, and `upgrade` brings an older journal into the current shape for
the report, listing per scenario what that version did not record.

Versions: a change a reader of the current version would misread (a field removed, renamed,
retyped, or measured differently) bumps `schema_version` and freezes the old schema file here;
additions within a version are allowed (`additionalProperties` stays open) and readers ignore
what they do not know.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from functools import cache
from importlib import resources
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

NAME = "rollback-drill/journal"
CURRENT = 3
#: Every version a journal was ever written in, and its schema file (in this package).
SCHEMA_FILES = {1: "journal.v1.schema.json", 2: "journal.v2.schema.json", 3: "journal.schema.json"}

#: What a version did not record, per scenario: dotted path -> what the report would have shown.
#: A journal written late in a version may hold some of them: only those really absent are listed.
NOT_RECORDED = {
    1: {
        "recovery": "recovery conditions (a)-(d)",
        "restores": "what the level restores",
        "outage.actions": "what users saw per kind of action",
        "outage.window": "the outage window",
        "profile": "fidelity profile",
        "phases": "where the recovery time went",
        "restore_projection": "restore projection",
        "harness_changes": "what the harness changed on the cluster",
        "emulation": "fidelity emulation changes",
        "timeline.component_samples": "component samples",
        "timeline.k8s_events": "Kubernetes events",
        "phase": "the drill phase reached",
        "findings[].severity": "the findings' class and severity",
        "timeline.commands[].rewrites": "the commands' rewrites",
        "timeline.probe_samples[].served_by": "which pod answered each probe",
        "durations.start_s": "the harness's own start before the first rollback command",
        "recovery.settled": "why the wait for recovery ended early",
    },
    2: {
        "durations.start_s": "the harness's own start before the first rollback command",
        "recovery.settled": "why the wait for recovery ended early",
    },
}
#: What an older version measured differently (the same field, another meaning).
MEANING_CHANGED = {
    1: ["a probe sample's t is when the probe was sent (version 2: when its answer arrived)",
        "decision_s ends at the decision mark (version 2: at the start of the first rollback command)",
        "recovery is every probe green for the stability window and the 5xx ratio under the threshold "
        "(version 2: the four conditions (a)-(d))"],
    2: ["the automatic decider's decision_s ends when the harness starts the rollback, its own preparation "
        "included (version 3: at the decision, t_detect + its think time; the preparation is durations.start_s)"],
}


@cache
def schema(version: int = CURRENT) -> dict:
    """The JSON Schema of a journal version (a KeyError for a version that never existed)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILES[version]).read_text(encoding="utf-8")
    return json.loads(text)


def _required_now(s: object) -> object:
    """The schema with every property marked `x-added` (added within the version, always written by the
    current code) required as well: what a journal written now must hold."""
    if isinstance(s, list):
        return [_required_now(x) for x in s]
    if not isinstance(s, dict):
        return s
    out = {k: _required_now(v) for k, v in s.items()}
    props = s.get("properties")
    if isinstance(props, dict):
        added = [n for n, sub in props.items() if isinstance(sub, dict) and "x-added" in sub]
        if added:
            out["required"] = list(s.get("required", [])) + [n for n in added if n not in s.get("required", [])]
    return out


@cache
def _validator(version: int, written_now: bool = False) -> Draft202012Validator:
    s = schema(version)
    Draft202012Validator.check_schema(s)
    return Draft202012Validator(_required_now(s) if written_now else s)


def known_version(v: object) -> bool:
    return type(v) is int and v in SCHEMA_FILES  # noqa: E721 - True is not version 1


def _message(e: ValidationError) -> str:
    if e.validator in ("anyOf", "oneOf") and e.context:
        msg = "matches none of: " + "; ".join(sorted({c.message for c in e.context}))
    else:
        msg = e.message
    msg = " ".join(msg.split())
    return msg if len(msg) <= 240 else msg[:237] + "..."


def validate_journal(data: object, written_now: bool = False) -> list[str]:
    """Every way `data` differs from the schema of its own `schema_version`, one line each, starting
    with the JSON path (`$.scenarios[0].verdict: 'won' is not one of [...]`); [] when it is valid.
    `written_now`: a journal this code just wrote, which must also hold what was added within the
    current version (`x-added`); evidence read later is checked without that."""
    if not isinstance(data, dict):
        return [f"$: {type(data).__name__} is not a journal (a JSON object)"]
    v = data.get("schema_version")
    if not known_version(v):
        return [f"$.schema_version: {v!r} is not a journal schema version this rollback-drill knows "
                f"({', '.join(map(str, SCHEMA_FILES))})"]
    errors = _validator(v, written_now and v == CURRENT).iter_errors(data)
    ordered = sorted(errors, key=lambda e: ([f"{p:09d}" if isinstance(p, int) else p for p in e.absolute_path],
                                            e.message))  # document order: a parent before its fields
    return [f"{e.json_path}: {_message(e)}" for e in ordered]


def _has(d: object, dotted: str) -> bool:
    """Whether `dotted` is recorded in `d`; `a[].b`: in every item of the list `a`."""
    head, _, rest = dotted.partition(".")
    name, each = head.removesuffix("[]"), head.endswith("[]")
    if not isinstance(d, dict) or name not in d:
        return False
    if each:
        return isinstance(d[name], list) and all(_has(x, rest) for x in d[name])
    return _has(d[name], rest) if rest else True


def upgrade(data: dict) -> dict:
    """An older journal in the current shape, for the report. No field moved between any two
    versions, so every field stays where it is; what the older version did not record stays absent and is
    named in each scenario's `not_in_version` (the report says "not in this version" there), and
    `upgraded` says from which version and which meanings changed. The current version is returned
    as it is."""
    v = data.get("schema_version")
    if v == CURRENT:
        return data
    out = copy.deepcopy(data)
    changed = [m for older in range(v, CURRENT) for m in MEANING_CHANGED.get(older, [])]
    out["upgraded"] = {"from_version": v, "to_version": CURRENT, "meaning_changed": changed}
    for s in out.get("scenarios", []):
        if isinstance(s, dict):
            s["not_in_version"] = [label for path, label in NOT_RECORDED.get(v, {}).items() if not _has(s, path)]
    return out


# ---- the field list in docs/journal-schema.md, generated from the schema ------------------------------
BEGIN = "<!-- fields: generated from src/rollback_drill/evidence/journal.schema.json by " \
        "`python -m rollback_drill.evidence.schema --write-doc`; do not edit by hand -->"
END = "<!-- end of generated fields -->"


def _resolve(s: dict, root: dict) -> dict:
    while "$ref" in s:
        name = s["$ref"].removeprefix("#/$defs/")
        s = {**root["$defs"][name], **{k: v for k, v in s.items() if k != "$ref"}}
    return s


def _type(s: dict) -> str:
    if "const" in s:
        return json.dumps(s["const"], ensure_ascii=False)
    if "enum" in s:
        return " \\| ".join(json.dumps(x, ensure_ascii=False) for x in s["enum"])
    t = s.get("type", "any")
    ts = t if isinstance(t, list) else [t]
    return " \\| ".join(ts)


def field_rows(root: dict | None = None) -> list[tuple[str, str, str, str]]:
    """(path, type, always written: "yes" / "new" (added within the version) / "", description) for every
    field the schema names, depth first."""
    root = root or schema(CURRENT)
    rows: list[tuple[str, str, str, str]] = []

    def walk(s: dict, path: str) -> None:
        s = _resolve(s, root)
        req = set(s.get("required", []))
        for name, sub in s.get("properties", {}).items():
            sub = _resolve(sub, root)
            p = f"{path}.{name}" if path else name
            always = "yes" if name in req else "new" if "x-added" in sub else ""
            rows.append((p, _type(sub), always, sub.get("description", "")))
            walk_value(sub, p)
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            extra = _resolve(extra, root)
            p = f"{path}.<name>"
            rows.append((p, _type(extra), "", extra.get("description", "")))
            walk_value(extra, p)

    def walk_value(s: dict, p: str) -> None:
        if "items" in s:
            items = _resolve(s["items"], root)
            if "properties" in items or "additionalProperties" in items:
                walk(items, p + "[]")
        elif "properties" in s or isinstance(s.get("additionalProperties"), dict):
            walk(s, p)

    walk(root, "")
    return rows


def field_list(root: dict | None = None) -> str:
    def cell(x: str) -> str:
        return x.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")
    lines = ["| field | type | always | meaning |", "|---|---|---|---|"]
    for path, typ, always, desc in field_rows(root):
        lines.append(f"| `{path}` | {typ} | {always} | {cell(desc)} |")
    return "\n".join([BEGIN, *lines, END])


def write_doc(doc: Path) -> bool:
    """Replace the generated block of `doc` with the field list; True when the file changed."""
    text = doc.read_text(encoding="utf-8")
    block = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not block.search(text):
        raise SystemExit(f"{doc}: no generated block ({BEGIN} … {END}) to replace")
    new = block.sub(lambda m: field_list(), text)
    if new != text:
        doc.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str]) -> int:
    """`--write-doc [DOC]`: regenerate the field list; `FILE…`: validate journals (exit 1 on a problem)."""
    if argv[:1] == ["--write-doc"]:
        from rollback_drill import PROJECT_ROOT
        doc = Path(argv[1]) if len(argv) > 1 else PROJECT_ROOT / "docs" / "journal-schema.md"
        print(f"{doc}: {'updated' if write_doc(doc) else 'already current'}")
        return 0
    bad = 0
    for f in argv:
        try:
            problems = validate_journal(json.loads(Path(f).read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            problems = [f"$: cannot read: {e}"]
        bad += bool(problems)
        for p in problems:
            print(f"{f}: {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
