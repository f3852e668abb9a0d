"""The runbook analysis on the real cluster in the just-migrated state, read-only (what preflight
shows): each class it can see without running anything is found on the project's runbook, and a
corrected copy of the runbook is silent for that class. The classes that need the procedure to
run (wait_race, duration) are found on the Level drills (features/level*.feature) and shown silent
here by running a corrected Level 1 through the drill engine on the cluster."""

from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.drill.engine import Drill
from rollback_drill.observe.cluster_state import ClusterState
from rollback_drill.runbook.model import load_runbook, parse_runbook_text
from rollback_drill.drill.preflight import resource_versions, run_preflight

TEXT = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
CORRECTIONS = [
    # 手順1 looks at the serving (Helm) stack
    ("kubectl logs deployment/mastodon-web --tail=100\nkubectl logs deployment/mastodon-streaming --tail=100\n"
     "kubectl logs deployment/mastodon-sidekiq-all-queues --tail=100",
     "kubectl logs deployment/mastodon-helm-web --tail=100\nkubectl logs deployment/mastodon-helm-streaming "
     "--tail=100\nkubectl logs deployment/mastodon-helm-sidekiq-all-queues --tail=100"),
    ("kubectl exec deployment/mastodon-web -- \\\n  bundle exec rails runner 'puts ActiveRecord",
     "kubectl exec deployment/mastodon-helm-web -- \\\n  bundle exec rails runner 'puts ActiveRecord"),
    ("kubectl exec deployment/mastodon-web -- \\\n  bundle exec rails runner 'puts Redis",
     "kubectl exec deployment/mastodon-helm-web -- \\\n  bundle exec rails runner 'puts Redis"),
    # Level 1 waits for every component it brings back
    ("kubectl wait --for=condition=ready pod -l app=mastodon-web --timeout=60s\n\n# Ingressを旧Serviceに戻す",
     "kubectl rollout status deployment/mastodon-web --timeout=60s\nkubectl rollout status "
     "deployment/mastodon-streaming --timeout=60s\nkubectl rollout status deployment/mastodon-worker --timeout=60s"
     "\n\n# Ingressを旧Serviceに戻す"),
    # Level 2 and Level 3 wait for everything they restart
    ("kubectl wait --for=condition=ready pod -l app=mastodon-web --timeout=300s",
     "kubectl rollout status deployment/mastodon-web --timeout=300s\nkubectl rollout status "
     "deployment/mastodon-streaming --timeout=300s\nkubectl rollout status deployment/mastodon-worker --timeout=300s"),
    ("# 7. 動作確認\n", "kubectl rollout status deployment/mastodon-web --timeout=300s\nkubectl rollout status "
     "deployment/mastodon-streaming --timeout=300s\nkubectl rollout status deployment/mastodon-worker --timeout=300s"
     "\n\n# 7. 動作確認\n"),
    # Level 2 names its release once
    ("# Helm releaseの削除\nhelm uninstall mastodon\n\n# または特定のリリース名の場合\nhelm uninstall mastodon-helm",
     "# Helm releaseの削除\nhelm uninstall mastodon-helm"),
    # Level 3 names what it stops, restores the backup step 3 found
    ("kubectl scale deployment --all --replicas=0",
     "kubectl scale deployment mastodon-web mastodon-streaming mastodon-worker --replicas=0"),
    ("gcloud sql backups restore 1234567890123 \\\n  --backup-instance=mastodon-db \\\n  --project=YOUR_PROJECT_ID",
     "gcloud sql backups restore \"$BACKUP_ID\" \\\n  --restore-instance=mastodon-db \\\n"
     "  --backup-instance=mastodon-db"),
]


def _analysis(deployed, runbook):
    state = ClusterState(deployed.kube)
    before = resource_versions(deployed.kube)
    result = run_preflight(deployed.kube, runbook, deployed.workdir, deployed.datastores.list_backups(), None,
                           state, deployed.app)
    assert resource_versions(deployed.kube) == before, "the analysis changed the cluster"
    return result["findings"]


def test_each_static_and_live_class_is_found_with_its_evidence(deployed):
    found = _analysis(deployed, load_runbook(DEFAULT_RUNBOOK))
    kinds = {f["kind"] for f in found}
    assert {"missing_object", "no_wait", "alternative", "broad_scope", "placeholder"} <= kinds, kinds
    sidekiq = [f for f in found if f["kind"] == "missing_object" and "mastodon-sidekiq-all-queues" in f["problem"]]
    assert sidekiq and "mastodon-helm-sidekiq-all-queues" in sidekiq[0]["action"]
    web = [f for f in found if f["kind"] == "missing_object" and "mastodon-web has no running pod" in f["problem"]]
    assert web and web[0]["observed"] == "mastodon-web: 0 ready replicas"
    assert any("every deployment in the namespace" in f["problem"] or "every deployment" in f["problem"]
               for f in found if f["kind"] == "broad_scope")
    assert [f["severity"] for f in found] == sorted((f["severity"] for f in found),
                                                    key={"high": 0, "medium": 1, "low": 2}.get)


def test_a_corrected_runbook_is_silent_for_those_classes(deployed):
    text = TEXT
    for old, new in CORRECTIONS:
        assert old in text, old[:60]
        text = text.replace(old, new, 1)
    found = _analysis(deployed, parse_runbook_text(text, "corrected.md"))
    loud = [f for f in found if f["kind"] in ("missing_object", "no_wait", "alternative", "placeholder")
            or (f["kind"] == "broad_scope" and "--all" in f["command"])]
    assert not loud, [(f["kind"], f["line"], f["problem"][:80]) for f in loud]


# Level 1 as its owner would correct it after a drill on this cluster: wait on the Deployments before
# the pod-label wait (no race), and a stated duration that matches what the block takes here.
LEVEL1_CORRECTED = ("# Podの起動を待つ（30秒-1分）\nkubectl wait --for=condition=ready pod -l app=mastodon-web --timeout=60s",
                    "# Podの起動を待つ（0-30秒）\nkubectl rollout status deployment/mastodon-web --timeout=60s\n"
                    "kubectl rollout status deployment/mastodon-streaming --timeout=60s\n"
                    "kubectl rollout status deployment/mastodon-worker --timeout=60s\n"
                    "kubectl wait --for=condition=ready pod -l app=mastodon-web --timeout=60s")


def test_a_corrected_level_1_run_on_the_cluster_is_silent_for_wait_race_and_duration(cluster, deployed):
    """As written, the drills find wait_race (the pods the wait sees were made by the scale-up just
    before) and duration; the corrected copy runs the same commands with the live analysis and is
    silent for both, and for no_wait."""
    old, new = LEVEL1_CORRECTED
    assert old in TEXT
    drill = Drill(cluster, parse_runbook_text(TEXT.replace(old, new, 1), "corrected.md"))
    try:
        drill.prepare()
        drill.rollback(1)
    finally:
        drill.close()
    ran = {r.text: r for r in drill.tl.commands if r.level == 1}
    wait = ran["kubectl wait --for=condition=ready pod -l app=mastodon-web --timeout=60s"]
    assert wait.exit_code == 0 and ran["kubectl rollout status deployment/mastodon-worker --timeout=60s"].exit_code == 0
    block = [r for r in ran.values() if r.text.startswith(("kubectl rollout status", "kubectl wait"))]
    assert 0 < max(r.end for r in block) - min(r.start for r in block) < 30  # the corrected statement holds here
    found = [f.to_dict() for f in drill.ctx.findings]
    assert not [f for f in found if f["kind"] in ("wait_race", "duration", "no_wait", "failed")], found
    waits = [f for f in found if "kubectl wait" in f["command"]]
    assert not waits, waits
