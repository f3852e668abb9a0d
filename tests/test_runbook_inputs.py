"""Meaning said exactly (comparators, prose thresholds, durations and deadlines in words, level numerals),
and every bad input refused in one line naming what to change — exit 2 from `rollback-drill runbook`."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from rollback_drill.cli import main
from rollback_drill.runbook import meaning as M
from rollback_drill.runbook.model import RunbookError, classify_criterion, load_runbook, parse_runbook_text

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "runbook" / "rollback-runbook.ja.md"
TEXT = FIXTURE.read_text(encoding="utf-8")


@pytest.mark.parametrize("text,kind,comparator,threshold", [
    ("5xx エラー率 > 50%", "error_ratio", ">", 0.5), ("5xx エラー率 ≥ 50%", "error_ratio", ">=", 0.5),
    ("5xx エラー率が10%以上", "error_ratio", ">=", 0.1), ("5xx率が10%超", "error_ratio", ">", 0.1),
    ("5xx error rate at least 10%", "error_ratio", ">=", 0.1), ("5xx error rate more than 10%", "error_ratio", ">", 0.1),
    ("5xx error rate above 10 percent", "error_ratio", ">", 0.1), ("5xx share above 50 percent", "error_ratio", ">", 0.5),
    ("5xx error rate over 5%", "error_ratio", ">", 0.05), ("more than half of the answers are 5xx errors", "error_ratio", ">", 0.5),
    ("5xxエラーが過半数", "error_ratio", ">", 0.5), ("5xx error rate of 10% or more", "error_ratio", ">=", 0.1),
    ("Response time ≥ 3× normal", "latency_factor", ">=", 3.0), ("レスポンスタイムが通常の3倍以上", "latency_factor", ">=", 3.0),
    ("レスポンスタイムが通常の3倍を超える", "latency_factor", ">", 3.0), ("Response time more than twice normal", "latency_factor", ">", 2.0),
    ("5xx エラー率が10%未満", "unread", "<", 0.1), ("5xx error rate below 10%", "unread", "<", 0.1),
    ("5xx エラー率が10%以下", "unread", "<=", 0.1), ("レスポンスタイムが3秒以上", "unread", "", None),
    ("p95 latency above 500 ms", "unread", "", None), ("Success rate below 90%", "unread", "<", None)])
def test_comparators_and_thresholds_exactly_as_said(text, kind, comparator, threshold):
    c = classify_criterion(text, 1)
    assert (c.kind, c.comparator, c.threshold) == (kind, comparator, threshold)


@pytest.mark.parametrize("text,expected", [
    ("half an hour to 2 hours", (1800, 7200)), ("between 5 and 10 minutes", (300, 600)), ("30分から2時間", (1800, 7200)),
    ("one to two minutes", (60, 120)), ("1-2分（最速）", (60, 120)), ("約30分〜2時間（データ量による）", (1800, 7200)),
    ("5分から10分程度", (300, 600)), ("an hour", (3600, 3600)), ("1時間半", (5400, 5400)), ("10-5分", None)])
def test_durations_in_words(text, expected):
    assert M.target_range(text) == expected


@pytest.mark.parametrize("title,seconds", [
    ("Critical（即座にロールバック）", 0), ("Critical（ただちにロールバック）", 0), ("Critical — 直ちに", 0),
    ("Critical (immediately)", 0), ("Critical (roll back at once)", 0), ("Critical (without delay)", 0),
    ("High (within fifteen minutes)", 900), ("Medium (within half an hour)", 1800), ("High（15分以内）", 900),
    ("High (soon)", None)])
def test_deadlines_in_words(title, seconds):
    assert M.deadline(title) == seconds


@pytest.mark.parametrize("title,number,rest", [
    ("Level 1: Ingressのみ", 1, "Ingressのみ"), ("レベル１：Ingressのみ", 1, "Ingressのみ"), ("Level II: full", 2, "full"),
    ("レベル三　DB", 3, "DB"), ("Rollback tier 1 — switch traffic back", 1, "switch traffic back"),
    ("Lv.2 Helm", 2, "Helm"), ("Tier 3", 3, "Tier 3"), ("第2段階: 全面", 2, "全面"), ("Level Ingress", None, None),
    ("レベルの選び方", None, None)])
def test_level_headings_any_numeral(title, number, rest):
    got = M.level_heading(title)
    assert (got[0] if got else None) == number
    if got and rest != "Tier 3":
        assert got[1] == rest


def _cli(*args):
    r = CliRunner().invoke(main, ["runbook", *map(str, args)])
    return r.exit_code, r.output.strip()


def _one_line_exit_2(*args, contains: str) -> str:
    code, out = _cli(*args)
    assert code == 2 and "\n" not in out and contains in out, out
    return out


GERMAN = """# Rollback-Handbuch

## Kriterien

Wenn eines der folgenden Kriterien zutrifft, wird sofort zurückgerollt, und die Stufe wird nach der Lage gewählt:

### Kritisch (sofort zurückrollen)
- [ ] Der Dienst ist komplett ausgefallen (5xx-Fehlerrate über 50 %)
- [ ] Die Datenbankverbindung ist nicht möglich und die Benutzer können sich nicht anmelden

## Stufen

### Stufe 1: Nur den Ingress zurückstellen, wenn die Pods laufen

**Dauer**: 1-2 Minuten

```bash
kubectl apply -f backup/ingress-mastodon.yaml
```
"""
SPANISH = """# Manual de reversión

## Criterios para revertir

Si se cumple cualquiera de los siguientes criterios, se revierte de inmediato y se elige el nivel según la situación:

### Crítico (revertir inmediatamente)
- [ ] El servicio está caído por completo (tasa de errores 5xx por encima del 50 %)
- [ ] La conexión a la base de datos falla y los usuarios no pueden iniciar sesión

## Niveles

### Nivel 1: Solo volver el Ingress para que el tráfico vaya al entorno anterior

```bash
kubectl apply -f backup/ingress-mastodon.yaml
```
"""


@pytest.mark.parametrize("text,language", [(GERMAN, "German"), (SPANISH, "Spanish")])
def test_another_language_is_refused_saying_so(tmp_path, text, language):
    p = tmp_path / "rb.md"
    p.write_text(text, encoding="utf-8")
    _one_line_exit_2(p, contains=f"written in {language}; it can be read only in Japanese or English")


def test_a_directory_and_a_missing_path(tmp_path):
    (tmp_path / "rollback.md").write_text("x")
    out = _one_line_exit_2(tmp_path, contains="is a directory, not a runbook")
    assert "rollback.md" in out
    out = _one_line_exit_2(tmp_path / "nope.md", contains="does not exist")
    assert "--runbook" not in out


@pytest.mark.parametrize("sidecar,contains", [
    ('criteria: "abc"\n', "criteria: expected a list"),
    ("criteria:\n  - line: 17\n    kind: latency_factor\n    threshhold: 3\n", "unknown key 'threshhold'"),
    ("criteria:\n  - line: 16\n    kind: error_ratio\n    threshold: 150\n", "threshold 150 is not a 5xx share"),
    ("criteria:\n  - line: 16\n    kind: error_ratio\n    threshold: -5\n", "threshold -5 is not a 5xx share"),
    ("criteria:\n  - line: 16\n    kind: error_ratio\n    threshold: 0\n", "threshold 0 is not a 5xx share"),
    ("criteria:\n  - line: 16\n    kind: error_ratio\n    threshold: 1\n", "threshold 1 is ambiguous"),
    ("criteria:\n  - line: 17\n    kind: latency_factor\n    threshold: 0.5\n", "threshold 0.5 is not a slow-down"),
    ("criteria:\n  - line: 17\n    kind: latency_factor\n    threshold: three\n", "threshold: expected a number"),
    ("criteria:\n  - line: [1]\n    kind: db\n", "line: expected a line number")])
def test_sidecar_validated_completely(tmp_path, sidecar, contains):
    rb = tmp_path / "rb.md"
    rb.write_text(TEXT, encoding="utf-8")
    (tmp_path / "rb.drill.yaml").write_text(sidecar, encoding="utf-8")
    _one_line_exit_2(rb, contains=contains)


def test_good_sidecar_thresholds_are_read(tmp_path):
    rb = tmp_path / "rb.md"
    rb.write_text(TEXT, encoding="utf-8")
    (tmp_path / "rb.drill.yaml").write_text("criteria:\n  - line: 16\n    kind: error_ratio\n    threshold: 20\n"
                                            "  - line: 17\n    kind: latency_factor\n    threshold: 2.5\n")
    r = load_runbook(rb)
    assert (r.trigger("H1").criterion.threshold, r.trigger("H2").criterion.threshold) == (0.2, 2.5)


def test_two_sidecars_are_refused(tmp_path):
    rb = tmp_path / "rb.md"
    rb.write_text(TEXT, encoding="utf-8")
    (tmp_path / "rb.drill.yaml").write_text("namespace: a\n")
    (tmp_path / "rb.md.drill.yaml").write_text("namespace: b\n")
    _one_line_exit_2(rb, contains="two sidecars for rb.md: rb.drill.yaml and rb.md.drill.yaml")


def test_duplicates_are_refused_naming_both_lines():
    with pytest.raises(RunbookError) as e:
        parse_runbook_text(TEXT + "\n" + TEXT, "twice.md")
    assert e.value.line > 300 and "line 5" in str(e.value)
    dup_level = TEXT.replace("### Level 3: データベース", "### Level 2: データベース")
    with pytest.raises(RunbookError) as e:
        parse_runbook_text(dup_level, "rb.md")
    assert e.value.line == 88 and "the first is at line 53" in str(e.value)
    dup_crit = TEXT.replace("- [ ] メディアアップロードが失敗している", "- [ ] 5xx エラー率が10%超")
    with pytest.raises(RunbookError) as e:
        parse_runbook_text(dup_crit, "rb.md")
    assert e.value.line == 19 and "line 16" in str(e.value)


@pytest.mark.parametrize("old,new,contains", [
    ("5xx エラー率が10%を超えている", "5xx エラー率が150%を超えている", "cannot be reached"),
    ("5xx エラー率が10%を超えている", "5xx エラー率が100%を超えている", "above 100 % can never be reached"),
    ("レスポンスタイムが通常の3倍以上", "レスポンスタイムが通常の0.5倍以上", "not slower than normal")])
def test_thresholds_out_of_range_in_the_runbook(old, new, contains):
    with pytest.raises(RunbookError, match=contains) as e:
        parse_runbook_text(TEXT.replace(old, new), "rb.md")
    assert e.value.line in (16, 17)


def test_huge_empty_and_binary(tmp_path):
    big = tmp_path / "big.md"
    big.write_text(TEXT * 400, encoding="utf-8")
    _one_line_exit_2(big, contains="million characters long")
    empty = tmp_path / "empty.md"
    empty.write_text("")
    _one_line_exit_2(empty, contains="expected a section '## ロールバックの判断基準")
    nul = tmp_path / "nul.md"
    nul.write_bytes(b"# x\x00\x00")
    _one_line_exit_2(nul, contains="binary")


def test_runbook_command_reads_restores_from_commands_and_warns():
    code, out = _cli(ROOT / "fixtures/runbook/variants/rollback-runbook.titles-disagree.ja.md")
    assert code == 0
    assert "Level 1: 旧環境へIngressを切り戻す  target 60-120s; restores traffic to the old stack" in out
    assert out.count("warning: ") == 3
    code, out = _cli(FIXTURE, "--explain")
    assert code == 0 and "line 60: removes the Helm release (helm uninstall mastodon)" in out


def test_a_step_heading_one_level_up_does_not_take_the_next_steps_commands():
    """'## 手順2' above '### 手順3…5': steps are siblings by meaning; each keeps only its own commands."""
    want = [(s.number, [c.text for c in s.commands]) for s in parse_runbook_text(TEXT).steps]
    got = [(s.number, [c.text for c in s.commands]) for s in parse_runbook_text(TEXT.replace("### 手順2", "## 手順2")).steps]
    assert got == want and want[1] == (2, [])


def test_a_level_written_under_another_level_keeps_its_own_commands():
    edited = TEXT.replace("### Level 1:", "## Level 1:")
    rb, orig = parse_runbook_text(edited), parse_runbook_text(TEXT)
    assert [c.text for c in rb.level(1).commands] == [c.text for c in orig.level(1).commands]
