"""The console script's `runbook` command and its one-line errors."""

import json

import pytest

from click.testing import CliRunner

from rollback_drill.cli import main


def test_runbook_json_has_targets_in_seconds_and_commands():
    r = CliRunner().invoke(main, ["runbook", "--json"])
    assert r.exit_code == 0
    model = json.loads(r.output)
    assert [(lv["number"], lv["target_min_s"], lv["target_max_s"]) for lv in model["levels"]] == [
        (1, 60.0, 120.0), (2, 300.0, 600.0), (3, 1800.0, 7200.0)]
    assert model["levels"][0]["commands"][0]["text"] == "kubectl scale deployment mastodon-web --replicas=1"
    assert model["levels"][0]["commands"][0]["touches"] == ["deployment/mastodon-web"]
    c1 = model["criteria"][0]
    assert (c1["kind"], c1["comparator"], c1["threshold"], c1["decision_deadline_s"]) == ("error_ratio", ">", 0.5, 0.0)


def test_runbook_text_output():
    r = CliRunner().invoke(main, ["runbook"])
    assert r.exit_code == 0 and "Level 3: データベースのロールバック（最終手段）  target 1800-7200s" in r.output
    assert "-> fault: web-5xx: 95% of answers 500; detector: 5xx ratio over a 3s window > 50%" in r.output
    assert "touches: every deployment in the namespace" in r.output  # Level 3's scale --all


def test_broken_runbook_is_one_clear_line(tmp_path):
    p = tmp_path / "rb.md"
    p.write_text("# x\n\n## ロールバックの判断基準\n\n### Critical（即座にロールバック）\n- [ ] down\n")
    r = CliRunner().invoke(main, ["runbook", str(p)])
    assert r.exit_code == 2
    assert r.output.strip() == f"rollback-drill: runbook does not parse: {p}:1: expected a section " \
                               "'## ロールバックレベル / Rollback levels' (the rollback levels)"


def test_run_with_unknown_level_or_trigger_is_one_clear_line_before_touching_a_cluster():
    r = CliRunner().invoke(main, ["run", "--level", "9", "--trigger", "C1"])
    assert r.exit_code == 2 and "level 9 is not in" in r.output and "known: 1, 2, 3" in r.output
    r = CliRunner().invoke(main, ["run", "--level", "1", "--trigger", "Z9"])
    assert r.exit_code == 2 and "trigger 'Z9' is not in" in r.output and "C1, C2" in r.output


def _runbook_with_added_criterion(tmp_path, criterion: str):
    from rollback_drill import DEFAULT_RUNBOOK
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8").replace(
        "- [ ] メディアアップロードが失敗している\n", f"- [ ] メディアアップロードが失敗している\n- [ ] {criterion}\n", 1)
    p = tmp_path / "rb.md"
    p.write_text(text, encoding="utf-8")
    return p, text.splitlines().index(f"- [ ] {criterion}") + 1


def test_a_criterion_the_fault_catalogue_has_no_fault_for_is_exit_4_in_one_line(tmp_path):
    p, line = _runbook_with_added_criterion(tmp_path, "サービスがダウンしている")  # read as "down": no number
    r = CliRunner().invoke(main, ["run", "--level", "1", "--trigger", "H5", "--runbook", str(p)])
    assert r.exit_code == 4, r.output
    assert r.output.startswith("rollback-drill: the harness cannot drill H5: ") and f"line {line}" in r.output
    assert "Traceback" not in r.output and "declare it in rb.drill.yaml" in r.output


def test_an_unread_criterion_is_exit_2_naming_the_line_and_how_to_declare_it(tmp_path):
    p, line = _runbook_with_added_criterion(tmp_path, "月末の請求処理が止まる")
    r = CliRunner().invoke(main, ["run", "--level", "1", "--trigger", "H5", "--runbook", str(p)])
    assert r.exit_code == 2, r.output
    assert r.output.startswith(f"rollback-drill: {p}:{line}: cannot read criterion '月末の請求処理が止まる'")
    assert "kind: error_ratio | latency_factor" in r.output and "Traceback" not in r.output
    table = CliRunner().invoke(main, ["runbook", str(p)])
    assert table.exit_code == 0 and "UNREAD" in table.output and "1 cannot be drilled as written" in table.output


@pytest.fixture
def down_context(tmp_path, monkeypatch):
    """An allow-listed kubeconfig context whose API server does not answer."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "down",
        "clusters": [{"name": "down", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "x"}}],
        "contexts": [{"name": "down", "context": {"cluster": "down", "user": "u"}}]}))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", "down")
    return "down"


def test_a_cluster_that_is_down_is_exit_4_in_one_line(tmp_path, monkeypatch, down_context):
    monkeypatch.setenv("ROLLBACK_DRILL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_TARGETS", "http://127.0.0.1:1")
    r = CliRunner().invoke(main, ["run", "--level", "1", "--trigger", "C1", "--provider", "existing",
                                  "--target-url", "http://127.0.0.1:1"])
    assert r.exit_code == 4, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "not reachable" in lines[0] and "Traceback" not in r.output


def test_preflight_on_an_unreachable_context_is_one_line_exit_4(tmp_path, down_context):
    r = CliRunner().invoke(main, ["preflight", "--context", "down", "--workdir", str(tmp_path)])
    assert r.exit_code == 4, r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


@pytest.mark.parametrize("args, says", [
    (["run", "--faults", "bogus"], "Invalid value for '--faults'"),
    (["run", "--db-size", "-1"], "Invalid value for '--db-size'"),
    (["no-such-command"], "No such command 'no-such-command'"),
])
def test_a_bad_option_is_one_line_exit_2_not_a_usage_screen(args, says):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert len(r.output.strip().splitlines()) == 1 and says in r.output and "--help" in r.output
