"""Commands as a shell reads them (runbook/shell.py): prompts stripped and listed, pasted output never
run, comments kept as labels, continuations and heredocs joined, any fence."""

import pytest

from rollback_drill.runbook.model import parse_commands, parse_runbook_text


def _block(text: str, first: int = 10) -> list[tuple[int, str]]:
    return [(first + i, line) for i, line in enumerate(text.split("\n"))]


def test_plain_shell_block_comments_are_labels_and_continuations_join():
    cmds, manual = parse_commands(_block("# Podの起動を待つ（30秒-1分）\nkubectl wait --for=condition=ready pod \\\n"
                                         "  -l app=web --timeout=60s\n\n# 手動でブラウザから確認\n"), "bash")
    assert [(c.text, c.line, c.comment, c.rewrites) for c in cmds] == [
        ("kubectl wait --for=condition=ready pod -l app=web --timeout=60s", 11, "Podの起動を待つ（30秒-1分）", ())]
    assert manual == ["手動でブラウザから確認"]


def test_console_block_prompts_stripped_output_not_run():
    cmds, _ = parse_commands(_block("# 旧環境をスケールアップ\n$ kubectl scale deployment mastodon-web --replicas=1\n"
                                    "deployment.apps/mastodon-web scaled\n$ kubectl apply -f backup/ingress-mastodon.yaml\n"
                                    "ingress.networking.k8s.io/mastodon configured"), "console")
    assert [c.text for c in cmds] == ["kubectl scale deployment mastodon-web --replicas=1",
                                      "kubectl apply -f backup/ingress-mastodon.yaml"]
    assert cmds[0].comment == "旧環境をスケールアップ"
    assert cmds[0].rewrites == ("line 11: prompt '$ ' removed", "line 12: output shown below the command, not run")


def test_a_bash_block_with_prompts_is_a_session_too():
    cmds, _ = parse_commands(_block("$ kubectl get pods\nNAME READY STATUS\nweb-1 1/1 Running"), "bash")
    assert [c.text for c in cmds] == ["kubectl get pods"]


def test_continuation_prompts_and_user_host_prompts():
    cmds, _ = parse_commands(_block("user@bastion:~$ kubectl annotate service mastodon-web \\\n"
                                    ">   beta.cloud.google.com/backend-config='x' \\\n> --overwrite\n"
                                    "service/mastodon-web annotated"), "console")
    assert [c.text for c in cmds] == ["kubectl annotate service mastodon-web beta.cloud.google.com/backend-config='x' "
                                      "--overwrite"]
    assert len(cmds[0].rewrites) == 4


def test_root_prompt_only_in_a_console_block_without_dollar_prompts():
    cmds, _ = parse_commands(_block("# kubectl get pods\nNAME READY\n# ここは説明"), "console")
    assert [c.text for c in cmds] == ["kubectl get pods"] and "root prompt" in cmds[0].rewrites[0]
    cmds, _ = parse_commands(_block("# kubectl get pods\nkubectl get pods"), "bash")
    assert [(c.text, c.comment) for c in cmds] == [("kubectl get pods", "kubectl get pods")]


def test_heredoc_joined_as_one_command():
    cmds, _ = parse_commands(_block("kubectl apply -f - <<'EOF'\napiVersion: v1\nkind: ConfigMap\nEOF\nkubectl get cm"))
    assert [c.text for c in cmds] == ["kubectl apply -f - <<'EOF'\napiVersion: v1\nkind: ConfigMap\nEOF",
                                      "kubectl get cm"]


def test_alternative_comment_marks_the_next_command():
    cmds, _ = parse_commands(_block("helm uninstall mastodon\n\n# または特定のリリース名の場合\nhelm uninstall x"))
    assert [c.alternative_to for c in cmds] == [None, 0]


DOC = """# RB

## Rollback criteria

### Critical (roll back immediately)
- Service down (5xx error rate > 50%)

## Rollback levels

### Level 1: Ingress only

Duration: 1-2 min

{fence}{info}
$ kubectl apply -f backup/ingress-mastodon.yaml
ingress.networking.k8s.io/mastodon configured
{fence}
"""


@pytest.mark.parametrize("fence,info", [("```", "console"), ("~~~", ""), ("````", "bash"), ("~~~", "sh {.x}")])
def test_any_fence_and_info_string(fence, info):
    rb = parse_runbook_text(DOC.format(fence=fence, info=info), "rb.md")
    assert [c.text for c in rb.level(1).commands] == ["kubectl apply -f backup/ingress-mastodon.yaml"]
    assert rb.level(1).commands[0].line == 15
