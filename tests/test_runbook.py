"""Unit tests of the runbook reader: our copy of the runbook, its variants, broken inputs, the sidecar.

Tests read only files inside the repository (fixtures/runbook/), never a folder beside the clone."""

from pathlib import Path

import pytest

from rollback_drill.runbook.model import RunbookError, load_runbook, parse_duration_range, parse_runbook_text

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "runbook" / "rollback-runbook.ja.md"
VARIANTS = ROOT / "fixtures" / "runbook" / "variants"


@pytest.fixture(params=[FIXTURE, VARIANTS / "rollback-runbook.en.md"], ids=["fixture", "english"])
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
    verify = runbook.step_meaning("verify")
    assert "curl -I https://ykzts.technology/health" in [c.text for c in verify.commands]
    assert verify.manual_steps  # the manual browser sign-in
    assert set(runbook.checklists) == {"before", "during", "after", "followup"}
    assert len(runbook.checklists["after"]) == 6


@pytest.mark.parametrize("text,expected", [
    ("1-2分", (60, 120)), ("5-10分", (300, 600)), ("30分-2時間", (1800, 7200)),
    ("5 - 10 min", (300, 600)), ("90秒-3分", (90, 180)), ("two minutes", (120, 120)), ("2分以内", (0, 120)),
    ("1–2 min", (60, 120)), ("30 min – 2 h", (1800, 7200)), ("90秒", (90, 90)), ("up to 2 h", (0, 7200)),
    ("5〜10分", (300, 600)), ("３０分〜２時間", (1800, 7200)), ("soon", None)])
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
    (lambda t: t.replace("**Duration**: 1-2 min", "**Duration**: soon"), 15, "expected a duration like"),
    (lambda t: t.replace("**Duration**: 1-2 min", ""), 13, "expected a line '**所要時間**"),
    (lambda t: t.replace("### Level 1: Ingress only", "### Stage one"), 13, "expected a heading '### Level N: title'"),
    (lambda t: t.replace("## Rollback levels", "## Other").replace("### Level 1: Ingress only", "### Stage one"), 1,
     "expected a section '## ロールバックレベル / Rollback levels'"),
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


# ---- variants a team makes: each reads to the same meaning --------------------------------------
def _meaning(rb):
    """What must not change when a team rewords, translates or reorders: per kind, the thresholds
    and deadlines; per level, the targets and the commands."""
    crit = sorted((t.severity, t.decision_deadline_s, t.criterion.kind, t.criterion.threshold) for t in rb.triggers)
    levels = [(lv.number, lv.target_max_s, [c.text for c in lv.commands],
               [c.alternative_to for c in lv.commands]) for lv in rb.levels]
    steps = {m: [c.text for c in rb.step_meaning(m).commands] for m in ("status", "verify", "monitor")}
    from rollback_drill.runbook.meaning import checklist_check
    checks = [checklist_check(i) for i in rb.checklists["after"]]
    return crit, levels, steps, checks


ORIGINAL = load_runbook(FIXTURE)


@pytest.mark.parametrize("name", ["rollback-runbook.en.md", "rollback-runbook.reworded.ja.md",
                                  "rollback-runbook.reordered.ja.md"])
def test_a_variant_reads_to_the_same_meaning(name):
    rb = load_runbook(VARIANTS / name)
    assert _meaning(rb) == _meaning(ORIGINAL)
    assert [lv.target_min_s for lv in rb.levels] == ([0, 300, 1800] if "reworded" in name else [60, 300, 1800])
    assert not rb.unread()


def test_reordering_moves_ids_but_not_meaning():
    rb = load_runbook(VARIANTS / "rollback-runbook.reordered.ja.md")
    assert rb.trigger("C1").criterion.kind == "security" and rb.trigger("C4").criterion.kind == "error_ratio"


def test_an_added_criterion_and_level_are_read():
    rb = load_runbook(VARIANTS / "rollback-runbook.extended.ja.md")
    assert _meaning(rb)[0] == sorted(_meaning(ORIGINAL)[0] + [("High", 900.0, "streaming", None)])
    assert rb.trigger("H5").criterion.kind == "streaming"
    l4 = rb.level(4)
    assert (l4.target_min_s, l4.target_max_s) == (60, 180) and len(l4.commands) == 3


@pytest.mark.parametrize("text,kind,threshold", [
    ("サービス全断（5xx率が50%超）", "error_ratio", 0.5), ("5xxエラーの割合が10%を超えた", "error_ratio", 0.1),
    ("5xx error rate above 10%", "error_ratio", 0.1), ("5xx率が５％超", "error_ratio", 0.05),
    ("応答時間が平常時の3倍を超えた", "latency_factor", 3.0), ("Response time 3x normal", "latency_factor", 3.0),
    ("Response time is at least three times normal", "latency_factor", 3.0),
    ("ストリーミング（リアルタイム更新）が届かない", "streaming", None), ("DBに一切接続できない", "db", None),
    ("Users cannot sign in", "login", None), ("Sidekiqのジョブが処理されない", "jobs", None),
    ("月末の請求処理が止まる", "unread", None)])
def test_criteria_by_meaning(text, kind, threshold):
    from rollback_drill.runbook.model import classify_criterion
    c = classify_criterion(text, 1)
    assert (c.kind, c.threshold) == (kind, threshold)


def test_an_unread_criterion_is_kept_with_its_line_and_a_sidecar_declares_it(tmp_path):
    text = FIXTURE.read_text(encoding="utf-8").replace(
        "- [ ] メディアアップロードが失敗している\n", "- [ ] メディアアップロードが失敗している\n- [ ] 月末の請求処理が止まる\n", 1)
    rb_path = tmp_path / "rb.ja.md"
    rb_path.write_text(text, encoding="utf-8")
    rb = load_runbook(rb_path)
    (u,) = rb.unread()
    assert u.id == "H5" and u.criterion.line == text.splitlines().index("- [ ] 月末の請求処理が止まる") + 1
    (tmp_path / "rb.ja.drill.yaml").write_text("criteria:\n  - text: 請求処理\n    kind: jobs\n", encoding="utf-8")
    rb = load_runbook(rb_path)
    assert not rb.unread() and rb.trigger("H5").criterion.kind == "jobs"
    assert rb.trigger("H5").criterion.declared_in.endswith("rb.ja.drill.yaml")
    (tmp_path / "rb.ja.drill.yaml").write_text("criteria:\n  - text: 請求処理\n    kind: billing\n", encoding="utf-8")
    with pytest.raises(RunbookError, match="kind 'billing' is not one of"):
        load_runbook(rb_path)


def test_verification_commands_are_read_by_what_they_check_not_by_their_wording():
    from rollback_drill.runbook.meaning import verification_kind as kind
    assert kind("curl -I https://ykzts.technology/health") == "health"
    assert kind("wget -qO- https://example.org/healthz") == "health"
    assert kind("kubectl logs deployment/mastodon-web --tail=100 | grep -i error") == "error_log"
    assert kind("kubectl -n social logs deploy/web | egrep 'ERROR|FATAL'") == "error_log"
    assert kind("kubectl logs deployment/mastodon-worker --tail=50") == "worker"
    assert kind("kubectl logs deployment/jobs --tail=50", {"jobs"}) == "worker"
    assert kind("kubectl get pods") is None and kind("curl -I https://ykzts.technology/") is None
