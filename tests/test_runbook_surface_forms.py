"""A team's edited runbook is read right or refused — never silently misread (issue 19).

Each variant in fixtures/runbook/variants/ is the project's runbook rewritten in one surface form
(tables, bullets, tiers, heading depths, numerals, fences, prompts with pasted output, prose
thresholds, durations in words, front matter, CRLF+BOM, sections in another order, titles that
disagree with their commands, extra sections with unrelated numbers). Each must give the same
reading, field by field, as the original; the traps (a different meaning) a different one."""

from pathlib import Path

import pytest

from rollback_drill.runbook.meaning import OPTIONAL_WORDS, checklist_check, norm
from rollback_drill.runbook.model import load_runbook

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL_PATH = ROOT / "fixtures" / "runbook" / "rollback-runbook.ja.md"
VARIANTS = ROOT / "fixtures" / "runbook" / "variants"


def reading(rb) -> dict:
    """The runbook's to_dict() without what legitimately differs between surface forms: paths, hashes,
    line numbers, and the words of titles, criteria, comments and checklist items (kept as what they
    mean: an optional command, a check, a present warning)."""
    d = rb.to_dict()
    for k in ("path", "sha256", "warnings"):
        d.pop(k)
    for t in d["triggers"]:
        t["criterion"].pop("text"), t["criterion"].pop("line")
    for lv in d["levels"]:
        for k in ("line", "title"):
            lv.pop(k)
        lv["when"], lv["warning"] = bool(lv["when"]), bool(lv["warning"])
        lv["manual_steps"] = len(lv["manual_steps"])
        lv["restores_evidence"] = [e.split(": ", 1)[1] for e in lv["restores_evidence"]]
        for c in lv["commands"]:
            comment = norm(c.pop("comment"))
            c["optional"] = any(w in comment for w in OPTIONAL_WORDS)
            c.pop("line"), c.pop("rewrites")
    for st in d["steps"]:
        st.pop("line"), st.pop("title")
        st["manual_steps"] = len(st["manual_steps"])
        for c in st["commands"]:
            c.pop("line"), c.pop("rewrites"), c.pop("comment")
    d["checklists"] = {k: [checklist_check(i) for i in v] for k, v in d["checklists"].items()}
    d["production_host"] = rb.production_host
    return d


ORIGINAL = load_runbook(ORIGINAL_PATH)

SAME = ["bullets.ja", "comparators.ja", "console-output.ja", "console.en", "crlf-bom.ja", "deadline-naochi.ja",
        "deadline-words.en", "deadline-words.ja", "deeper.ja", "durations-words.en", "durations-words.ja",
        "emphasis.ja", "en", "extra-sections.ja", "fence-info.ja", "front-matter.ja", "fullwidth.ja",
        "heading-depth.ja", "indented-code.ja", "kanji.ja", "label-list.ja", "level-h2.ja", "level-list.ja", "lv.ja", "one-table.ja",
        "ordered-lists.ja", "prompts.ja", "prose-thresholds.en", "roman.ja", "sections-order.ja", "table.ja",
        "target-label.ja", "target-remark.ja", "tier.ja", "tiers.en", "tilde-fences.ja", "titles-disagree.ja",
        "without-delay.en"]
# Variants of the first issue (tests/test_runbook.py) whose intended differences are asserted there.
EARLIER = ["extended.ja", "reordered.ja", "reworded.ja"]
TRAPS = ["trap-absolute-latency.ja", "trap-at-least.ja", "trap-flipped.ja", "trap-level-commands.ja",
         "trap-success-rate.en"]


def _path(name: str) -> Path:
    return VARIANTS / f"rollback-runbook.{name}.md"


def test_every_variant_is_asserted():
    on_disk = {p.name[len("rollback-runbook."):-len(".md")] for p in VARIANTS.glob("rollback-runbook.*.md")}
    assert on_disk == set(SAME) | set(EARLIER) | set(TRAPS)
    assert len(SAME) >= 25


@pytest.mark.parametrize("name", SAME)
def test_a_surface_form_reads_the_same_field_by_field(name):
    rb = load_runbook(_path(name))
    got, want = reading(rb), reading(ORIGINAL)
    for key in want:
        assert got[key] == want[key], f"{name}: {key} differs"
    assert not rb.unread()


def test_the_original_reads_what_its_commands_do():
    assert [(lv.full_state, lv.database) for lv in ORIGINAL.levels] == [(False, False), (True, False), (True, True)]
    assert not ORIGINAL.warnings
    assert ORIGINAL.trigger("H2").criterion.comparator == ">=" and ORIGINAL.trigger("H1").criterion.comparator == ">"


def test_pasted_output_never_becomes_a_command_and_prompts_are_listed():
    rb = load_runbook(_path("console-output.ja"))
    texts = [c.text for lv in rb.levels for c in lv.commands]
    assert not any(t.startswith(("deployment.apps/", "ingress.networking", "release ", "pod/", "service/"))
                   for t in texts)
    first = rb.level(1).commands[0]
    assert first.text == "kubectl scale deployment mastodon-web --replicas=1"
    assert any("prompt '$ ' removed" in r for r in first.rewrites)
    assert any("output" in r and "not run" in r for r in first.rewrites)
    annotate = [c for c in rb.level(2).commands if c.text.startswith("kubectl annotate")][0]
    assert any("continuation prompt '>' removed" in r for r in annotate.rewrites)


def test_titles_that_disagree_with_their_commands_are_reported_not_believed():
    rb = load_runbook(_path("titles-disagree.ja"))
    assert [(lv.full_state, lv.database) for lv in rb.levels] == [(False, False), (True, False), (True, True)]
    assert len(rb.warnings) == 3
    assert "Level 1" in rb.warnings[0] and "commands restore traffic to the old stack" in rb.warnings[0]
    assert "Level 2" in rb.warnings[1] and "helm uninstall" in rb.warnings[1]


def test_trap_absolute_latency_is_not_a_factor():
    c = load_runbook(_path("trap-absolute-latency.ja")).trigger("H2").criterion
    assert c.kind == "unread" and c.threshold is None


def test_trap_flipped_comparator_is_not_the_original_threshold():
    c = load_runbook(_path("trap-flipped.ja")).trigger("H1").criterion
    assert (c.kind, c.comparator) == ("unread", "<")


def test_trap_at_least_keeps_its_comparator():
    c = load_runbook(_path("trap-at-least.ja")).trigger("H1").criterion
    assert (c.kind, c.comparator, c.threshold) == ("error_ratio", ">=", 0.1)


def test_trap_success_rate_is_not_a_5xx_ratio():
    c = load_runbook(_path("trap-success-rate.en")).trigger("H1").criterion
    assert c.kind == "unread"


def test_trap_a_level_that_no_longer_removes_the_release_restores_traffic_only():
    rb = load_runbook(_path("trap-level-commands.ja"))
    assert (rb.level(2).full_state, rb.level(2).database) == (False, False)
    assert len(rb.warnings) == 1 and "Level 2" in rb.warnings[0]
