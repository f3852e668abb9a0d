"""The sidecar <runbook>.drill.yaml: validated completely, every refusal naming the line of the offending
entry (YAML node marks), and structure declarations (`levels`, `table_columns`) for a runbook whose
headings or table columns the reader does not recognise (issue 19)."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollback_drill.cli import main
from rollback_drill.drill.plan import reading
from rollback_drill.runbook.diff import WORDING, diff_readings
from rollback_drill.runbook.model import RunbookError, load_runbook
from rollback_drill.runbook.sidecar import Lines

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "runbook" / "rollback-runbook.ja.md"
PLANS = ROOT / "fixtures" / "runbook" / "sidecar-structure" / "rollback-runbook.plans.ja.md"
PLANS_SIDECAR = PLANS.with_suffix(".drill.yaml")


def _refusal(tmp_path: Path, sidecar: str, runbook: Path = FIXTURE) -> RunbookError:
    rb = tmp_path / "rb.md"
    shutil.copy(runbook, rb)
    (tmp_path / "rb.drill.yaml").write_text(sidecar, encoding="utf-8")
    with pytest.raises(RunbookError) as e:
        load_runbook(rb)
    return e.value


def test_lines_of_keys_and_items():
    at = Lines("namespace: a\ncriteria:\n  - line: 16\n    kind: db\n  - text: x\n    threshold: 3\n")
    assert (at(), at("namespace"), at("criteria"), at("criteria", 1), at("criteria", 1, "threshold")) == (1, 1, 2, 5, 6)
    assert at("criteria", 7) == 2 and at("nope") == 1  # not in the file: its deepest ancestor that is
    assert Lines("a: [\n")() == 1  # not YAML: line 1 (the YAML error itself names its line)


@pytest.mark.parametrize("sidecar,line,contains", [
    ("namespace: ok\ncriteria:\n  - line: 16\n    kind: error_ratio\n  - line: 17\n    kind: latency_factor\n"
     "    threshhold: 3\n", 7, "criteria[2]: unknown key 'threshhold'"),
    ("namespace: ok\ncriteria:\n  - line: 16\n    kind: error_ratio\n    threshold: 150\n", 5,
     "criteria[1]: threshold 150 is not a 5xx share"),
    ("namespace: ok\ncriteria:\n  - line: 16\n    kind: ratio\n", 4, "criteria[1]: kind 'ratio' is not one of"),
    ("namespace: ok\ncriteria:\n  - line: 999\n    kind: db\n", 3, "line 999 matches 0 criteria"),
    ("namespace: ok\n\ncriteria: abc\n", 3, "criteria: expected a list"),
    ("namespace: ok\nhelm_release: ok\nnamespce: a\n", 3, "unknown key 'namespce'"),
    ("namespace: ok\nold_deployments:\n  - web\n  - Bad_Name\n  - worker\n", 4, "Deployment 'Bad_Name'"),
    ("namespace: ok\ndatabase_size_gb: -1\n", 2, "database_size_gb: the production database's size"),
    ("namespace: ok\nconfig_faults:\n  db: {a: b}\n  dbb: {a: b}\n", 4, "config_faults: unknown key 'dbb'"),
    ("namespace: ok\nconfig_faults:\n  db: []\n", 3, "config_faults.db: expected a mapping"),
    ("namespace: ok\nlevels:\n  Foo: 1\n  Bar: 1\n", 4, "levels: 'Bar' and 'Foo' are both Level 1"),
    ("namespace: ok\nlevels:\n  Foo: one\n", 3, "levels: 'Foo': expected a level number"),
    ("namespace: ok\nlevels: [Foo]\n", 2, "levels: expected a mapping of heading text to level number"),
    ("namespace: ok\ntable_columns:\n  Signal: crit\n", 3, "table_columns: 'Signal': expected one of criterion"),
    ("namespace: ok\nlevels:\n  Foo: 1\n", 3, "levels: no heading of the runbook reads 'Foo'"),
    ("namespace: ok\ntable_columns:\n  Signal: criterion\n", 3, "table_columns: no criteria-table column header"),
    ("namespace: ok\nlevels:\n  'Level 1: Ingressのみ切り戻し（最速）': 2\n", 3, "reads as Level 1, the sidecar says Level 2"),
    ("namespace: ok\na: [\n", 3, "not readable YAML")])
def test_a_refusal_names_the_line_of_the_entry(tmp_path, sidecar, line, contains):
    e = _refusal(tmp_path, sidecar)
    assert (Path(e.path).name, e.line) == ("rb.drill.yaml", line) and contains in e.expected, str(e)


def test_declared_structure_reads_the_same_as_the_original():
    """Plan A/B/C headings and a 兆候 column, declared in the sidecar: the original's reading."""
    rb = load_runbook(PLANS)
    assert [(lv.number, lv.target_min_s, lv.target_max_s) for lv in rb.levels] == [
        (1, 60, 120), (2, 300, 600), (3, 1800, 7200)]
    changes = diff_readings(reading(load_runbook(FIXTURE)), reading(rb))
    assert [c.field for c in changes if c.field not in WORDING] == []  # titles 'Plan A…' differ: wording only
    assert rb.sidecar["path"] == str(PLANS_SIDECAR)


def test_without_the_declarations_the_refusal_says_what_to_declare(tmp_path):
    rb = tmp_path / "rb.md"
    shutil.copy(PLANS, rb)
    with pytest.raises(RunbookError, match=r'table_columns: \{"兆候": criterion\}') as e:
        load_runbook(rb)
    assert e.value.line == 9
    (tmp_path / "rb.drill.yaml").write_text("table_columns:\n  兆候: criterion\n", encoding="utf-8")
    with pytest.raises(RunbookError, match=r'levels: \{"Plan A — Ingressのみ切り戻し（最速）": 1\}') as e:
        load_runbook(rb)
    assert e.value.line == 27


def test_a_declared_column_wins_over_words():
    """A header declared as one field is never taken by its words for another."""
    from rollback_drill.runbook.markdown import Table
    from rollback_drill.runbook.model import _table_criteria
    from rollback_drill.runbook.sidecar import Structure
    table = Table(1, ["条件", "What happened"], [(3, ["Critical", "5xx エラー率 > 50%"])])
    st = Structure(columns={"what happened": "criterion", "条件": "severity"})
    assert _table_criteria(Path("rb.md"), table, st) == [(3, "5xx エラー率 > 50%", "Critical", None)]


def test_cli_one_line_exit_2(tmp_path):
    rb = tmp_path / "rb.md"
    shutil.copy(FIXTURE, rb)
    (tmp_path / "rb.drill.yaml").write_text("namespace: ok\nlevels:\n  Foo: 1\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["runbook", str(rb)])
    assert r.exit_code == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert "rb.drill.yaml:3: levels: no heading of the runbook reads 'Foo'" in r.stderr
