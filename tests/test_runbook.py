"""Unit tests of the runbook parser: the seed, our fixture copy, variants and broken inputs."""

from pathlib import Path

import pytest

from rollback_drill.runbook.model import RunbookError, load_runbook, parse_duration_range, parse_runbook_text

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seeds" / "rollback-runbook.ja.md"
FIXTURE = ROOT / "fixtures" / "runbook" / "rollback-runbook.ja.md"


@pytest.fixture(params=[SEED, FIXTURE], ids=["seed", "fixture"])
def runbook(request):
    return load_runbook(request.param)


def test_triggers_have_severity_deadline_and_thresholds(runbook):
    ids = [t.id for t in runbook.triggers]
    assert ids == ["C1", "C2", "C3", "C4", "H1", "H2", "H3", "H4", "M1", "M2", "M3"]
    c1, h1, h2, m1 = (runbook.trigger(i) for i in ("C1", "H1", "H2", "M1"))
    assert (c1.severity, c1.decision_deadline_s, c1.criterion.kind, c1.criterion.threshold) == ("Critical", 0, "error_ratio", 0.5)
    assert (h1.decision_deadline_s, h1.criterion.threshold) == (900, 0.1)
    assert (h2.criterion.kind, h2.criterion.threshold) == ("latency_factor", 3.0)
    assert (m1.decision_deadline_s, m1.criterion.threshold) == (1800, 0.05)
    assert [runbook.trigger(i).criterion.kind for i in ("C2", "C3", "C4", "H3", "H4", "M2", "M3")] == [
        "db", "login", "security", "jobs", "media", "feature", "performance"]


def test_levels_targets_and_commands(runbook):
    assert [(lv.number, lv.target_min_s, lv.target_max_s) for lv in runbook.levels] == [
        (1, 60, 120), (2, 300, 600), (3, 1800, 7200)]
    l1 = runbook.level(1)
    assert l1.commands[0].text == "kubectl scale deployment mastodon-web --replicas=1"
    assert "kubectl apply -f backup/ingress-mastodon.yaml" in [c.text for c in l1.commands]
    l2 = runbook.level(2)
    assert l2.commands[1].text == "helm uninstall mastodon-helm" and l2.commands[1].alternative_to == 0
    annotate = [c.text for c in l2.commands if c.text.startswith("kubectl annotate")]
    assert annotate[0] == ("kubectl annotate service mastodon-web beta.cloud.google.com/backend-config="
                           "'{\"default\": \"mastodon-web-backend-config\"}' --overwrite")
    l3 = runbook.level(3)
    assert l3.commands[2].text.startswith("gcloud sql backups restore 1234567890123 --backup-instance=mastodon-db")
    assert l3.warning


def test_procedure_steps_and_checklists(runbook):
    assert "curl -I https://ykzts.technology/health" in [c.text for c in runbook.step(4).commands]
    assert any("手動" in m for m in runbook.step(4).manual_steps)
    assert set(runbook.checklists) == {"実施前", "実施中", "実施後", "事後対応"}
    assert "ヘルスチェックが成功する" in runbook.checklists["実施後"]


@pytest.mark.parametrize("text,expected", [
    ("1-2分", (60, 120)), ("5-10分", (300, 600)), ("30分-2時間", (1800, 7200)),
    ("5 - 10 min", (300, 600)), ("90秒-3分", (90, 180)), ("two minutes", None)])
def test_duration_ranges(text, expected):
    assert parse_duration_range(text) == expected


def test_changed_target_and_removed_level_change_the_model():
    text = FIXTURE.read_text().replace("**所要時間**: 1-2分", "**所要時間**: 3-4分")
    start = text.index("### Level 3")
    end = text.index("## 詳細手順")
    rb = parse_runbook_text(text[:start] + text[end:], "variant.md")
    assert [lv.number for lv in rb.levels] == [1, 2]
    assert (rb.level(1).target_min_s, rb.level(1).target_max_s) == (180, 240)
    with pytest.raises(KeyError, match="level 3 is not in variant.md"):
        rb.level(3)


ENGLISH = """# Rollback runbook

## Rollback criteria

### Critical (roll back immediately)
- [ ] Service down (5xx error rate > 50%)

### High (decide within 15 minutes)
- [ ] Response time 3x normal

## Rollback levels

### Level 1: Ingress only

**Duration**: 1-2 min

```bash
kubectl apply -f backup/ingress-mastodon.yaml
```
"""


def test_english_headings():
    rb = parse_runbook_text(ENGLISH, "en.md")
    assert rb.trigger("C1").criterion.threshold == 0.5
    assert rb.trigger("H1").decision_deadline_s == 900
    assert rb.trigger("H1").criterion.kind == "latency_factor"
    assert rb.level(1).target_max_s == 120


@pytest.mark.parametrize("mutate,line,expected", [
    (lambda t: t.replace("**Duration**: 1-2 min", "**Duration**: soon"), 15, "expected a duration range"),
    (lambda t: t.replace("**Duration**: 1-2 min", ""), 13, "expected a line '**所要時間**"),
    (lambda t: t.replace("### Level 1: Ingress only", "### Stage one"), 13, "expected a heading '### Level N: title'"),
    (lambda t: t.replace("## Rollback levels", "## Other"), 1, "expected a section '## ロールバックレベル'"),
    (lambda t: t.replace("(decide within 15 minutes)", "(soon)"), 8, "expected a decision deadline"),
    (lambda t: t.replace("- [ ] Service down (5xx error rate > 50%)", ""), 5, "expected '- [ ] criterion' lines"),
    (lambda t: t.replace("```bash\nkubectl apply -f backup/ingress-mastodon.yaml\n```", ""), 13, "expected a ```bash"),
])
def test_broken_runbooks_name_file_line_and_expectation(mutate, line, expected):
    with pytest.raises(RunbookError) as e:
        parse_runbook_text(mutate(ENGLISH), "broken.md")
    assert e.value.line == line and e.value.path == "broken.md"
    assert expected in str(e.value) and str(e.value).startswith(f"broken.md:{line}: ")


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(RunbookError, match="does not exist"):
        load_runbook(tmp_path / "nope.md")
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(RunbookError, match="cannot be read as UTF-8"):
        load_runbook(bad)
