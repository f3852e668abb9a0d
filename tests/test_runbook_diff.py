"""`rollback-drill runbook PATH --diff OTHER`: which fields of the reading an edit changed, matched by
meaning (a criterion by severity and kind, a level and a step by number), never by line (issue 19)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollback_drill.cli import main
from rollback_drill.drill.plan import reading
from rollback_drill.runbook.diff import Change, diff_phase, diff_readings, journal_reading, other_reading, report
from rollback_drill.runbook.model import RunbookError, load_runbook, parse_runbook_text

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "runbook" / "rollback-runbook.ja.md"
VARIANTS = ROOT / "fixtures" / "runbook" / "variants"
TEXT = FIXTURE.read_text(encoding="utf-8")
ORIGINAL = reading(load_runbook(FIXTURE))


def edited(old: str, new: str) -> dict:
    assert old in TEXT
    return reading(parse_runbook_text(TEXT.replace(old, new), "edited.md"))


def variant(name: str) -> dict:
    return reading(load_runbook(VARIANTS / f"rollback-runbook.{name}.md"))


def fields(changes: list[Change]) -> list[tuple[str, str, object, object]]:
    return [(c.where.split(" '")[0], c.field, c.old, c.new) for c in changes]


def test_the_same_file_changes_nothing():
    assert diff_readings(ORIGINAL, ORIGINAL) == []


@pytest.mark.parametrize("name", ["reordered.ja", "table.ja", "sections-order.ja", "console-output.ja", "kanji.ja",
                                  "extra-sections.ja", "level-list.ja"])
def test_surface_forms_and_moved_lines_change_nothing(name):
    """Other lines, other order, other headings: the same reading, nothing listed."""
    assert diff_readings(ORIGINAL, variant(name)) == []


def test_titles_that_say_otherwise_are_listed_as_wording_only():
    """A level's title is not what the drill acts on (its commands decide), but the owner sees the edit."""
    changes = diff_readings(ORIGINAL, variant("titles-disagree.ja"))
    assert [(c.where, c.field) for c in changes] == [("Level 1", "title"), ("Level 2", "title"), ("Level 3", "title")]
    text = report(ORIGINAL, variant("titles-disagree.ja"), changes)
    assert "the same reading" in text.splitlines()[0] and "wording only" in text.splitlines()[1]


def test_a_translation_changes_no_field_and_lists_its_words():
    changes = diff_readings(ORIGINAL, variant("en"))
    assert {c.field for c in changes} == {"items reworded", "words", "title", "when"}
    words = [c for c in changes if c.field == "words"]
    assert len(words) == len(ORIGINAL["criteria"])  # every criterion, each with its old and new words
    assert ("Users cannot log in" in {c.new for c in words}) and all(c.old != c.new for c in words)
    assert "the same reading" in report(ORIGINAL, variant("en"), changes).splitlines()[0]


def test_a_criterion_reworded_with_the_same_meaning_is_listed_not_counted():
    new = edited("- [ ] ユーザーがログインできない", "- [ ] 利用者がログインできなくなった")
    changes = diff_readings(ORIGINAL, new)
    assert fields(changes) == [("criterion Critical login", "words", "ユーザーがログインできない", "利用者がログインできなくなった")]
    assert "the same reading" in report(ORIGINAL, new, changes).splitlines()[0]


def test_threshold_comparator_and_deadline_edits_are_listed():
    new = edited("5xx エラー率が10%を超えている", "5xx エラー率が20%以上")
    assert fields(diff_readings(ORIGINAL, new)) == [
        ("criterion High error_ratio", "comparator", ">", ">="),
        ("criterion High error_ratio", "threshold", "10%", "20%")]
    new = edited("### High（15分以内にロールバック判断）", "### High（30分以内にロールバック判断）")
    changes = diff_readings(ORIGINAL, new)
    assert {c.field for c in changes} == {"decision deadline (s)"} and len(changes) == 4
    assert all((c.old, c.new) == (900.0, 1800.0) for c in changes)


def test_a_trap_lists_exactly_its_difference():
    assert fields(diff_readings(ORIGINAL, variant("trap-at-least.ja"))) == [
        ("criterion High error_ratio", "comparator", ">", ">=")]
    assert [c.field for c in diff_readings(ORIGINAL, variant("trap-absolute-latency.ja"))] == [
        "kind", "comparator", "threshold"]


def test_a_criterion_moved_to_another_severity():
    """Matched by its kind across severities: its severity and deadline changed, nothing removed."""
    text = TEXT.replace("- [ ] メディアアップロードが失敗している\n", "")
    text = text.replace("- [ ] 5xx エラー率が5%を超えている", "- [ ] 5xx エラー率が5%を超えている\n- [ ] メディアアップロードが失敗している")
    changes = diff_readings(ORIGINAL, reading(parse_runbook_text(text, "moved.md")))
    assert fields(changes) == [("criterion High media", "decision deadline (s)", 900.0, 1800.0),
                               ("criterion High media", "severity", "High", "Medium")]
    assert (changes[0].old_line, changes[0].new_line) == (19, 22)


def test_criteria_added_and_a_kind_changed():
    changes = diff_readings(ORIGINAL, variant("extended.ja"))
    assert fields(changes) == [("criterion High streaming", "criterion added", None,
                                "ストリーミング（リアルタイム更新）が届かない"),
                               ("Level 4", "level added", None, "ストリーミングだけ旧環境に戻す")]
    new = edited("- [ ] メディアアップロードが失敗している", "- [ ] ストリーミングが届かない")
    assert fields(diff_readings(ORIGINAL, new)) == [("criterion High media", "kind", "media", "streaming")]


def test_level_target_restores_and_commands():
    changes = diff_readings(ORIGINAL, variant("trap-level-commands.ja"))
    assert [(c.where, c.field) for c in changes] == [
        ("Level 2", "restores"), ("Level 2", "command changed"), ("Level 2", "command removed"),
        ("Level 2", "command removed")]
    new = edited("**所要時間**: 5-10分", "**所要時間**: 5-15分")
    assert fields(diff_readings(ORIGINAL, new)) == [("Level 2", "target", (300.0, 600.0), (300.0, 900.0))]
    new = edited("kubectl apply -f k8s/overlays/production/hpa.yaml\n",
                 "kubectl apply -f k8s/overlays/production/hpa.yaml\nkubectl get hpa\n")
    changes = diff_readings(ORIGINAL, new)
    assert fields(changes) == [("Level 2", "command added", None, "kubectl get hpa")]
    assert changes[0].new_line == 74


def test_step_commands_and_checklist_checks():
    new = edited("kubectl get ingress\n", "kubectl get ingress -A\n")
    assert fields(diff_readings(ORIGINAL, new)) == [("step 1", "command changed", "kubectl get ingress",
                                                     "kubectl get ingress -A")]
    new = edited("- [ ] ヘルスチェックが成功する\n", "")
    assert fields(diff_readings(ORIGINAL, new)) == [("checklist after", "item removed", "ヘルスチェックが成功する", None)]


def test_checklist_items_by_what_they_check():
    """A reworded item that checks the same is counted, not listed; a new check is listed."""
    changes = diff_phase("checklist after", ["ヘルスチェックが成功する", "Podを確認"],
                         ["The health check passes", "Pods look fine", "Background jobs are running"])
    assert [(c.field, c.new) for c in changes] == [
        ("item added", "Background jobs are running"), ("items reworded", ["The health check passes", "Pods look fine"])]


def test_report_names_fields_and_lines():
    new = edited("5xx エラー率が10%を超えている", "5xx エラー率が20%を超えている")
    out = report(ORIGINAL, new, diff_readings(ORIGINAL, new))
    assert out.splitlines() == [
        f"{FIXTURE} -> edited.md: 1 field(s) of the reading changed",
        "  criterion High error_ratio '5xx エラー率が20%を超えている' (line 16): threshold: 10% -> 20%"]


def test_a_journal_with_a_reading_is_compared_and_one_without_is_refused(tmp_path):
    data = {"schema": "rollback-drill/journal", "environment": {"runbook": {"path": "rb.md", "sha256": "ab" * 32}}}
    with pytest.raises(RunbookError, match="records only the runbook's path and sha256"):
        journal_reading(data, "journal.json")
    data["environment"]["runbook"]["reading"] = ORIGINAL
    j = tmp_path / "journal.json"
    j.write_text(json.dumps(data, ensure_ascii=False))
    assert diff_readings(other_reading(j, reading), ORIGINAL) == []


def _cli(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["runbook", *map(str, args)])
    return r.exit_code, r.stdout, r.stderr


def test_cli_diff_exit_0_with_or_without_changes(tmp_path):
    code, out, _ = _cli(VARIANTS / "rollback-runbook.table.ja.md", "--diff", FIXTURE)
    assert code == 0 and "the same reading" in out
    code, out, _ = _cli(VARIANTS / "rollback-runbook.trap-at-least.ja.md", "--diff", FIXTURE)
    assert code == 0 and "comparator: > -> >=" in out
    code, out, _ = _cli(VARIANTS / "rollback-runbook.trap-at-least.ja.md", "--diff", FIXTURE, "--json")
    assert code == 0 and json.loads(out)["changes"][0]["field"] == "comparator"


@pytest.mark.parametrize("other,contains", [
    ("journal", "records only the runbook's path and sha256"), ("missing", "does not exist"),
    ("notjournal", "is JSON but not a rollback-drill journal"), ("broken", "expected a section")])
def test_cli_diff_bad_other_is_one_line_exit_2(tmp_path, other, contains):
    paths = {"journal": tmp_path / "journal.json", "missing": tmp_path / "nope.md",
             "notjournal": tmp_path / "x.json", "broken": tmp_path / "broken.md"}
    paths["journal"].write_text(json.dumps({"schema": "rollback-drill/journal", "schema_version": 2,
                                            "environment": {"runbook": {"path": "rb.md", "sha256": "0" * 64}}}))
    paths["notjournal"].write_text("{}")
    paths["broken"].write_text("# nothing here\n")
    code, out, err = _cli(FIXTURE, "--diff", paths[other])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and contains in err
    assert err.startswith("rollback-drill: --diff: ")
