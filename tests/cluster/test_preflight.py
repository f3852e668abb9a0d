"""Preflight on the migrated state: every level ready, nothing changed; a missing file is reported.

Only the 実施前 person's steps are not checked here (ok None): the drill cluster's images and backups
can be listed, so every other item is checked.
"""

import shutil

from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.drill.preflight import resource_versions, run_preflight
from rollback_drill.runbook.preflight import format_table
from rollback_drill.runbook.model import load_runbook


def test_preflight_is_read_only_and_finds_every_level_ready(cluster, deployed):
    rb = load_runbook(DEFAULT_RUNBOOK)
    before = resource_versions(deployed.kube)
    result = run_preflight(deployed.kube, rb, deployed.workdir, deployed.datastores.list_backups(), cluster.has_image)
    after = resource_versions(deployed.kube)
    assert before == after, "preflight changed the cluster"
    assert [lv["ready"] for lv in result["levels"]] == [True, True, True], format_table(result)
    whats = {c["what"] for lv in result["levels"] for c in lv["checks"]}
    assert {"deployment mastodon-web", "Helm release mastodon or mastodon-helm", "file backup/ingress-mastodon.yaml",
            "kustomization k8s/overlays/production", "a successful database backup", "images of mastodon-web"} <= whats
    images = [c for lv in result["levels"] for c in lv["checks"] if c["what"].startswith("images of ")]
    assert images and all(c["ok"] is True for c in images), format_table(result)
    assert all(lv["complete"] and lv["not_checked"] == 0 for lv in result["levels"]), format_table(result)
    assert [c["ok"] for c in result["実施前"]] == [None, None, None, True]
    assert {c["why"] for c in result["実施前"] if c["ok"] is None} == {"not checked: a person's step"}
    assert (result["ready"], result["complete"], result["not_checked"]) == (True, False, 3)


def test_preflight_reports_a_missing_backup_file(cluster, deployed, tmp_path):
    wd = tmp_path / "work"
    shutil.copytree(deployed.workdir / "k8s", wd / "k8s")
    result = run_preflight(deployed.kube, load_runbook(DEFAULT_RUNBOOK), wd, [], cluster.has_image)
    l1 = result["levels"][0]
    assert not l1["ready"]
    bad = [c for c in l1["checks"] if c["ok"] is False]
    assert bad[0]["what"] == "file backup/ingress-mastodon.yaml" and "does not exist" in bad[0]["why"]
    assert not result["levels"][2]["ready"]  # and no backup listed for Level 3
    assert result["ready"] is False
