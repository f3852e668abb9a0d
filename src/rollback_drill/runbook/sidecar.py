"""The sidecar `<runbook>.drill.yaml`: what the team declares beside its prose runbook.

It declares what the reader cannot take from the prose (a criterion's kind and threshold, the
cluster's names, configuration faults) and, when the runbook's structure is its own, how to read it
(`levels`: a heading to a level number; `table_columns`: a criteria table's column to a field).
It is validated completely before the runbook is read — types, ranges, unknown keys at any depth —
and every refusal names the line of the offending entry (from the YAML node marks), because a
team edits the file by hand and "line 1" sends them looking in the wrong place.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml

from rollback_drill.runbook import meaning as M
from rollback_drill.runbook.model import KNOWN_KINDS, Runbook, RunbookError

TOP_KEYS = {"criteria", "production_host", "namespace", "helm_release", "backup_description", "database_size_gb",
            "old_deployments", "helm_deployments", "ingress", "helm_chart", "config_faults", "levels",
            "table_columns"}
NAMES = ("production_host", "namespace", "helm_release", "ingress", "helm_chart")  # one string each
LISTS = ("old_deployments", "helm_deployments")  # Deployment names, in order web, streaming, worker
CRITERION_KEYS = {"line", "text", "kind", "threshold"}
CONFIG_FAULT_KINDS = ("db", "login", "jobs", "media", "streaming")  # sut/faults.py CONFIG_FAULTS
COLUMN_FIELDS = ("criterion", "severity", "deadline")


class Lines:
    """The line of each entry of the sidecar, from the nodes yaml.compose gives (1-based; the line of a
    mapping's key, of a list's item). A path that is not in the file gives the line of its deepest
    ancestor that is."""

    def __init__(self, text: str) -> None:
        try:
            self.root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            self.root = None

    def __call__(self, *path: str | int) -> int:
        node, line = self.root, 1
        if node is not None:
            line = node.start_mark.line + 1
        for step in path:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if str(k.value) == str(step)), None)
                if pair is None:
                    break
                line, node = pair[0].start_mark.line + 1, pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
                node = node.value[step]
                line = node.start_mark.line + 1
            else:
                break
        return line


@dataclass
class Sidecar:
    """The validated declarations, with where each one is written."""

    path: Path
    data: dict
    at: Lines

    def fail(self, where: tuple[str | int, ...], message: str) -> NoReturn:
        """Refuse in one line: the sidecar, the line of the entry at `where`, what is wrong and the fix."""
        raise RunbookError(self.path, self.at(*where), message)


@dataclass
class Structure:
    """How to read a runbook whose structure the reader does not know: headings (normalised text) that are
    levels, and criteria-table headers (normalised) that are fields. `used` collects what the reading
    matched, so a declaration that matches nothing is refused (a typo would otherwise be ignored)."""

    levels: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)  # (levels|table_columns, key) -> sidecar line
    names: dict[tuple[str, str], str] = field(default_factory=dict)  # … -> the key as the sidecar writes it
    path: str = ""
    used: set[tuple[str, str]] = field(default_factory=set)

    def level(self, heading: str) -> int | None:
        n = self.levels.get(structure_key(heading))
        if n is not None:
            self.used.add(("levels", structure_key(heading)))
        return n

    def column(self, header: str) -> str | None:
        f = self.columns.get(structure_key(header))
        if f is not None:
            self.used.add(("table_columns", structure_key(header)))
        return f

    def check_used(self, headings: list[str], headers: list[str]) -> None:
        """Each declaration matched a heading or header of the runbook, else one line naming the closest."""
        for (section, key), line in self.lines.items():
            if (section, key) in self.used:
                continue
            seen = headings if section == "levels" else headers
            what = "heading" if section == "levels" else "criteria-table column header"
            near = difflib.get_close_matches(key, [structure_key(s) for s in seen], n=3, cutoff=0.3)
            near_text = [s for s in seen if structure_key(s) in near]
            hint = f" (closest: {', '.join(repr(s) for s in near_text)})" if near_text else ""
            raise RunbookError(self.path, line, f"{section}: no {what} of the runbook reads "
                               f"{self.names[(section, key)]!r}{hint}; write it as the runbook does")


def structure_key(text: str) -> str:
    """A heading or header as written, compared without '#', emphasis, case or width."""
    return M.norm(text.lstrip("#").replace("**", "").replace("__", "").strip())


# ---- reading and validating ---------------------------------------------------------------------

def read(side: Path) -> Sidecar:
    """The sidecar read and validated on its own (what needs the runbook is checked by `apply`)."""
    try:
        text = side.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        mark = getattr(e, "problem_mark", None)
        raise RunbookError(side, (mark.line + 1) if mark else 0,
                           f"the sidecar is not readable YAML ({str(e).splitlines()[0]})") from None
    sc = Sidecar(side, data, Lines(text))
    if not isinstance(data, dict):
        sc.fail((), f"expected a mapping with keys {', '.join(sorted(TOP_KEYS))}, got {data!r}")
    _unknown(sc, (), data, TOP_KEYS)
    _check_scalars(sc)
    _check_config_faults(sc)
    _check_criteria(sc)
    _check_levels(sc)
    _check_columns(sc)
    return sc


def _unknown(sc: Sidecar, where: tuple[str | int, ...], d: dict, known: set[str]) -> None:
    for k in d:
        if str(k) not in known:
            prefix = _name(where)
            sc.fail((*where, k), f"{prefix}unknown key {str(k)!r} (known: {', '.join(sorted(known))})")


def _name(where: tuple[str | int, ...]) -> str:
    """criteria[2]: / levels: / '' — how an entry is named in an error."""
    out = ""
    for w in where:
        out += f"[{w + 1}]" if isinstance(w, int) else (f".{w}" if out else str(w))
    return f"{out}: " if out else ""


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_scalars(sc: Sidecar) -> None:
    """Names (a non-empty string each, then a Kubernetes/Helm name), Deployment lists, the database size."""
    d = sc.data
    size = d.get("database_size_gb")
    if size is not None and (not _is_number(size) or size < 0):
        sc.fail(("database_size_gb",), f"database_size_gb: the production database's size in GB (a number >= 0), "
                f"got {size!r}")
    for key in NAMES:
        if key in d and (not isinstance(d[key], str) or not d[key].strip()):
            sc.fail((key,), f"{key}: expected a name (a non-empty string), got {d[key]!r}")
    if "backup_description" in d and not isinstance(d["backup_description"], str):
        sc.fail(("backup_description",), f"backup_description: expected a string, got {d['backup_description']!r}")
    for key in LISTS:
        v = d.get(key)
        if v is not None and (not isinstance(v, list) or len(v) != 3 or not all(isinstance(x, str) and x for x in v)):
            sc.fail((key,), f"{key}: expected three Deployment names (web, streaming, worker), got {v!r}")
    _check_names(sc)


def _check_names(sc: Sidecar) -> None:
    """Names that become kubectl/helm arguments are Kubernetes/Helm names (untrusted.py), said with the key."""
    from rollback_drill import untrusted
    checks = {"namespace": untrusted.namespace, "helm_release": untrusted.release,
              "production_host": untrusted.hostname, "ingress": untrusted.object_name}
    todo: list[tuple[tuple[str | int, ...], Callable[[], object]]] = []
    for key, check in checks.items():
        if key in sc.data:
            todo.append(((key,), lambda c=check, k=key: c(sc.data[k], k)))
    for key in LISTS:
        for n, name in enumerate(sc.data.get(key) or []):
            todo.append(((key, n), lambda nm=name, k=key: untrusted.object_name(nm, k, "Deployment")))
    for where, run in todo:
        try:
            run()
        except untrusted.Untrusted as e:
            sc.fail(where, str(e))


def _check_config_faults(sc: Sidecar) -> None:
    cf = sc.data.get("config_faults")
    if cf is None:
        return
    example = "e.g. config_faults: {db: {postgresql.auth.password: not-the-password}}"
    if not isinstance(cf, dict):
        sc.fail(("config_faults",), f"config_faults: expected a mapping of criterion kind "
                f"({', '.join(CONFIG_FAULT_KINDS)}) to {{chart value path: wrong value}}, {example}")
    _unknown(sc, ("config_faults",), cf, set(CONFIG_FAULT_KINDS))
    for kind, paths in cf.items():
        if not isinstance(paths, dict) or not paths or not all(isinstance(p, str) and p for p in paths):
            sc.fail(("config_faults", kind), f"config_faults.{kind}: expected a mapping of chart value path to "
                    f"the wrong value, {example}, got {paths!r}")


def _check_criteria(sc: Sidecar) -> None:
    crits = sc.data.get("criteria")
    if crits is None:
        return
    if not isinstance(crits, list):
        sc.fail(("criteria",), f"criteria: expected a list of entries (- line: N, kind: K, threshold: T), got {crits!r}")
    for n, d in enumerate(crits):
        _check_criterion(sc, n, d)


def _check_criterion(sc: Sidecar, n: int, d: Any) -> None:
    """One declaration: a mapping naming the criterion (line or text), a known kind, a threshold in range."""
    at, name = ("criteria", n), f"criteria[{n + 1}]"
    if not isinstance(d, dict):
        sc.fail(at, f"{name}: expected a mapping with 'line' or 'text' and 'kind' (+ 'threshold'), got {d!r}")
    _unknown(sc, at, d, CRITERION_KEYS)
    if not ({"line", "text"} & set(d)):
        sc.fail(at, f"{name}: expected 'line' or 'text' (to find the criterion) and 'kind' (+ 'threshold'); got {d!r}")
    if "line" in d and (isinstance(d["line"], bool) or not isinstance(d["line"], int) or d["line"] < 1):
        sc.fail((*at, "line"), f"{name}: line: expected a line number of the runbook, got {d['line']!r}")
    if "text" in d and (not isinstance(d["text"], str) or not d["text"].strip()):
        sc.fail((*at, "text"), f"{name}: text: expected words of the criterion, got {d['text']!r}")
    if d.get("kind") not in KNOWN_KINDS:
        sc.fail((*at, "kind") if "kind" in d else at, f"{name}: kind {d.get('kind')!r} is not one of "
                f"{', '.join(KNOWN_KINDS)}")
    if "threshold" in d:
        _check_threshold(sc, at, name, d["kind"], d["threshold"])


def _check_threshold(sc: Sidecar, at: tuple, name: str, kind: str, thr: Any) -> None:
    where = (*at, "threshold")
    if not _is_number(thr):
        sc.fail(where, f"{name}: threshold: expected a number, got {thr!r}")
    if kind == "error_ratio":
        if thr == 1:
            sc.fail(where, f"{name}: threshold 1 is ambiguous for error_ratio: write 0.01 for 1 % or 100 for 100 %")
        ratio = thr / 100.0 if thr > 1 else thr
        if not 0 < ratio <= 1:
            sc.fail(where, f"{name}: threshold {thr!r} is not a 5xx share: expected a ratio in (0, 1] or a "
                    "percentage in (1, 100]")
    if kind == "latency_factor" and not thr > 1:
        sc.fail(where, f"{name}: threshold {thr!r} is not a slow-down: expected a factor of the normal response "
                "time above 1 (3 for 3x)")


def _check_levels(sc: Sidecar) -> None:
    """levels: {"<heading text>": N}, N a level number >= 1, each number once."""
    lv = sc.data.get("levels")
    if lv is None:
        return
    if not isinstance(lv, dict) or not lv:
        sc.fail(("levels",), f"levels: expected a mapping of heading text to level number, e.g. "
                f"levels: {{\"Switch traffic back\": 1}}, got {lv!r}")
    numbers: dict[int, str] = {}
    for heading, n in lv.items():
        if not isinstance(heading, str) or not structure_key(heading):
            sc.fail(("levels", heading), f"levels: expected a heading's text as the key, got {heading!r}")
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 99:
            sc.fail(("levels", heading), f"levels: {heading!r}: expected a level number from 1 to 99, got {n!r}")
        if n in numbers:
            sc.fail(("levels", heading), f"levels: {heading!r} and {numbers[n]!r} are both Level {n}: expected "
                    "distinct numbers")
        numbers[n] = heading


def _check_columns(sc: Sidecar) -> None:
    """table_columns: {"<header text>": criterion | severity | deadline}, each field once."""
    tc = sc.data.get("table_columns")
    if tc is None:
        return
    if not isinstance(tc, dict) or not tc:
        sc.fail(("table_columns",), f"table_columns: expected a mapping of a criteria table's column header to "
                f"one of {', '.join(COLUMN_FIELDS)}, e.g. table_columns: {{\"Signal\": criterion}}, got {tc!r}")
    for header, f in tc.items():
        if not isinstance(header, str) or not structure_key(header):
            sc.fail(("table_columns", header), f"table_columns: expected a column header as the key, got {header!r}")
        if f not in COLUMN_FIELDS:
            sc.fail(("table_columns", header), f"table_columns: {header!r}: expected one of "
                    f"{', '.join(COLUMN_FIELDS)}, got {f!r}")


def structure(sc: Sidecar | None) -> Structure | None:
    """The structure declarations, keyed as the reader compares headings (structure_key)."""
    if sc is None or not ({"levels", "table_columns"} & set(sc.data)):
        return None
    st = Structure(path=str(sc.path))
    for section, target in (("levels", st.levels), ("table_columns", st.columns)):
        for key, value in (sc.data.get(section) or {}).items():
            target[structure_key(key)] = value
            st.lines[(section, structure_key(key))] = sc.at(section, key)
            st.names[(section, structure_key(key))] = key
    return st


# ---- applying the declarations to the runbook read ----------------------------------------------

def apply(rb: Runbook, sc: Sidecar) -> None:
    """Declarations of criterion kinds and thresholds, each matched to exactly one criterion of the runbook;
    the rest of the sidecar is kept as rb.sidecar. The runbook itself stays the team's prose."""
    for n, d in enumerate(sc.data.get("criteria") or []):
        _declare(rb, sc, n, d)
    rb.sidecar = {k: v for k, v in sc.data.items() if k != "criteria"} | {"path": str(sc.path)}


def _declare(rb: Runbook, sc: Sidecar, n: int, d: dict) -> None:
    at, name = ("criteria", n), f"criteria[{n + 1}]"
    hits = [i for i, tr in enumerate(rb.triggers)
            if ("line" in d and tr.criterion.line == d["line"]) or ("text" in d and d["text"] in tr.criterion.text)]
    if len(hits) != 1:
        said = f"line {d['line']}" if "line" in d else repr(d["text"])
        sc.fail((*at, "line" if "line" in d else "text"), f"{name}: {said} matches {len(hits)} criteria of "
                f"{rb.path}, expected exactly one")
    tr = rb.triggers[hits[0]]
    thr = d.get("threshold", tr.criterion.threshold)
    if d["kind"] in ("error_ratio", "latency_factor") and not _is_number(thr):
        sc.fail((*at, "kind"), f"{name}: kind {d['kind']} needs a numeric 'threshold'")
    thr = None if thr is None else float(thr)
    if d["kind"] == "error_ratio" and thr is not None and "threshold" in d and thr > 1:
        thr = thr / 100.0  # "10" means 10 %
    c = replace(tr.criterion, kind=d["kind"], threshold=thr, comparator=tr.criterion.comparator or ">",
                unit={"error_ratio": "ratio", "latency_factor": "x baseline"}.get(d["kind"], ""),
                declared_in=str(sc.path))
    rb.triggers[hits[0]] = replace(tr, criterion=c)
