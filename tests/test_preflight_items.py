"""Unit tests of preflight's items and verdicts (no cluster): an item not checked is None, never OK."""

import subprocess
from types import SimpleNamespace
from pathlib import Path

import pytest

from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.runbook.model import load_runbook
from rollback_drill.drill.preflight import check_level, run_preflight
from rollback_drill.runbook.preflight import (IMAGES_NOT_LISTABLE, PERSON_STEP, Check, LevelReadiness,
                                              checklist_before, format_table, summarize)

PERSON_ITEMS = ["ロールバック理由を明確にする", "ロールバックレベルを決定する", "チームメンバーに通知する"]
BACKUP_ITEM = "必要なバックアップファイルが存在する"
IMAGE = "ghcr.io/mastodon/mastodon:v4.2.0"


class FakeKube:
    """Answers every kubectl/helm call with success; a deployment's image is IMAGE. Records the calls."""

    namespace = "mastodon"

    def __init__(self):
        self.calls: list[tuple[str, ...]] = []

    def _ok(self, tool, args, stdout=""):
        self.calls.append((tool, *args))
        return subprocess.CompletedProcess([tool, *args], 0, stdout, "")

    def kubectl(self, *args, check=True, **kw):
        jsonpath = any(a.startswith("jsonpath=") for a in args)
        return self._ok("kubectl", args, IMAGE if jsonpath else "")

    def helm(self, *args, check=True, **kw):
        return self._ok("helm", args)

    def read(self, kind, name):
        self.calls.append(("read", kind, name))
        container = SimpleNamespace(image=IMAGE)
        return SimpleNamespace(spec=SimpleNamespace(template=SimpleNamespace(spec=SimpleNamespace(
            containers=[container]))))

    def helm_release_deployed(self, release):
        self.calls.append(("helm_release_deployed", release))
        return True


@pytest.fixture
def runbook():
    return load_runbook(DEFAULT_RUNBOOK)


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A workdir holding every file the runbook applies (FakeKube accepts the dry runs)."""
    for rel in ("backup/ingress-mastodon.yaml", "k8s/overlays/production/hpa.yaml",
                "k8s/overlays/production/backendconfig.yaml", "k8s/overlays/production/frontendconfig.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}\n")
    return tmp_path


BACKUPS = [{"id": "1", "status": "SUCCESSFUL", "windowStartTime": "2025-01-01T00:00:00Z"}]


# ---- 実施前 -----------------------------------------------------------------------------------
def test_person_steps_are_not_checked_and_the_backup_file_is(runbook, workdir):
    items = {c.what: c for c in checklist_before(runbook, workdir)}
    assert set(items) == {*PERSON_ITEMS, BACKUP_ITEM}
    for what in PERSON_ITEMS:
        assert items[what].ok is None and items[what].why == PERSON_STEP == "not checked: a person's step"
    assert items[BACKUP_ITEM].ok is True


def test_a_missing_backup_file_fails_the_checklist(runbook, tmp_path):
    items = {c.what: c for c in checklist_before(runbook, tmp_path)}
    assert items[BACKUP_ITEM].ok is False and "missing" in items[BACKUP_ITEM].why
    assert all(items[w].ok is None for w in PERSON_ITEMS)


# ---- images ----------------------------------------------------------------------------------
def test_images_not_listable_gives_not_checked_items_and_reads_no_image(runbook, workdir):
    kube = FakeKube()
    lv = check_level(kube, runbook, 1, workdir, BACKUPS, None)
    images = [c for c in lv.checks if c.what.startswith("images of ")]
    assert [c.what for c in images] == ["images of mastodon-streaming", "images of mastodon-web",
                                        "images of mastodon-worker"]
    for c in images:
        assert c.ok is None
        assert c.why == IMAGES_NOT_LISTABLE == "not checked: the node's images cannot be listed read-only on this context"
    assert not any("jsonpath" in " ".join(call) for call in kube.calls)
    assert lv.ready and not lv.complete and lv.not_checked == 3
    d = lv.to_dict()
    assert (d["ready"], d["complete"], d["not_checked"]) == (True, False, 3)
    assert [c["ok"] for c in d["checks"] if c["what"].startswith("images of ")] == [None, None, None]


def test_images_are_checked_when_they_can_be_listed(runbook, workdir):
    present = check_level(FakeKube(), runbook, 1, workdir, BACKUPS, lambda img: True)
    assert {c.ok for c in present.checks} == {True} and present.complete and present.ready
    assert {c.why for c in present.checks if c.what.startswith("images of ")} == {"present on the node"}
    absent = check_level(FakeKube(), runbook, 1, workdir, BACKUPS, lambda img: False)
    bad = [c for c in absent.checks if c.ok is False]
    assert bad and all(c.what.startswith("images of ") and IMAGE in c.why for c in bad)
    assert not absent.ready


def test_backups_not_listable_is_not_checked_but_an_empty_list_fails(runbook, workdir):
    item = lambda lv: next(c for c in lv.checks if c.what == "a successful database backup")  # noqa: E731
    assert item(check_level(FakeKube(), runbook, 3, workdir, None, lambda img: True)).ok is None
    assert item(check_level(FakeKube(), runbook, 3, workdir, [], lambda img: True)).ok is False
    assert item(check_level(FakeKube(), runbook, 3, workdir, BACKUPS, lambda img: True)).ok is True


# ---- readiness -------------------------------------------------------------------------------
@pytest.mark.parametrize("oks, ready, complete, not_checked", [
    ([True, True], True, True, 0),
    ([True, None], True, False, 1),
    ([None, None], True, False, 2),
    ([True, False], False, True, 0),
    ([None, False], False, False, 1),
    ([], True, True, 0),
])
def test_level_ready_means_no_item_failed(oks, ready, complete, not_checked):
    lv = LevelReadiness(1, "t", [Check(f"item {i}", ok, "") for i, ok in enumerate(oks)])
    assert (lv.ready, lv.complete, lv.not_checked) == (ready, complete, not_checked)


def test_overall_ready_ignores_not_checked_items_and_complete_reports_them():
    lvs = [LevelReadiness(1, "a", [Check("x", True)]), LevelReadiness(2, "b", [Check("y", None, "not checked: z")])]
    assert summarize(lvs, [Check("p", None, PERSON_STEP)]) == {"ready": True, "complete": False, "not_checked": 2}
    assert summarize(lvs, [Check("p", False, "missing")]) == {"ready": False, "complete": False, "not_checked": 1}
    assert summarize(lvs[:1], [Check("p", True)]) == {"ready": True, "complete": True, "not_checked": 0}


def test_run_preflight_on_a_context_whose_images_cannot_be_listed(runbook, workdir):
    result = run_preflight(FakeKube(), runbook, workdir, BACKUPS, None)
    assert [lv["ready"] for lv in result["levels"]] == [True, True, True]
    assert [lv["not_checked"] for lv in result["levels"]] == [3, 0, 1]
    assert result["ready"] is True and result["complete"] is False
    assert result["not_checked"] == 3 + 1 + len(PERSON_ITEMS)
    assert [c["ok"] for c in result["実施前"]] == [None, None, None, True]
    assert not any(c["ok"] is True and c["why"].startswith("not checked") for lv in result["levels"]
                   for c in lv["checks"])


# ---- table -----------------------------------------------------------------------------------
def test_table_marks_ok_failed_and_not_checked():
    lvs = [LevelReadiness(1, "Ingress", [Check("deployment mastodon-web", True, ""),
                                         Check("file backup/x.yaml", False, "does not exist"),
                                         Check("images of mastodon-web", None, IMAGES_NOT_LISTABLE)])]
    before = [Check(w, None, PERSON_STEP) for w in PERSON_ITEMS] + [Check(BACKUP_ITEM, True, "backup/x.yaml")]
    result = {"levels": [lv.to_dict() for lv in lvs], "実施前": [c.__dict__ for c in before],
              **summarize(lvs, before)}
    lines = format_table(result).splitlines()
    assert lines[0] == "Level 1: Ingress — NOT READY (1 not checked)"
    assert lines[1] == "  [ok] deployment mastodon-web: "
    assert lines[2] == "  [!!] file backup/x.yaml: does not exist"
    assert lines[3] == f"  [--] images of mastodon-web: {IMAGES_NOT_LISTABLE}"
    assert lines[4] == "実施前:"
    assert lines[5:8] == [f"  [--] {w}: not checked: a person's step" for w in PERSON_ITEMS]
    assert lines[8] == f"  [ok] {BACKUP_ITEM}: backup/x.yaml"
    assert lines[-1] == ("Not checked: 4 of 7 items (3: a person's step; "
                         "1: the node's images cannot be listed read-only on this context)")


def test_table_says_when_every_item_was_checked():
    lvs = [LevelReadiness(1, "Ingress", [Check("deployment mastodon-web", True, "")])]
    result = {"levels": [lv.to_dict() for lv in lvs], "実施前": [], **summarize(lvs, [])}
    table = format_table(result)
    assert table.splitlines()[0] == "Level 1: Ingress — READY"
    assert "[--]" not in table and table.splitlines()[-1] == "Not checked: 0 of 1 items (every item was checked)"


def test_full_table_never_shows_ok_for_an_unchecked_item(runbook, workdir):
    table = format_table(run_preflight(FakeKube(), runbook, workdir, BACKUPS, None))
    for line in table.splitlines():
        if "not checked:" in line and line.startswith("  "):
            assert line.startswith("  [--] ")
    assert "Level 1: Ingressのみ切り戻し（最速） — READY (3 not checked)" in table
    assert table.splitlines()[-1].startswith("Not checked: 7 of ")
