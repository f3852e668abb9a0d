"""The harness's own reads, patches, scales and waits go through the kubernetes client; kubectl
and helm are called only where the CLI is the convention: applying the fixtures' manifests and
kustomizations (what the runbook applies too), rendering a kustomization, `kubectl exec` of the
application's own migrate command, installing, upgrading, rolling back or removing a chart — and, verbatim, the runbook's
own commands (runbook/executor.py)."""

import re

from rollback_drill import PROJECT_ROOT

SRC = PROJECT_ROOT / "src" / "rollback_drill"
EXEMPT = {"runbook/executor.py": "the runbook's own commands, verbatim",
          "cluster/kube.py": "defines the kubectl/helm runners"}
ALLOWED = {"kubectl": {"apply", "exec", "kustomize"}, "helm": {"install", "uninstall", "upgrade", "rollback", "repo"},
           "get_json": set()}
CALLS = [re.compile(r"\b(?:kube\.|self\.)?_?(kubectl|helm)\((?:bins,\s*)?\"([\w-]+)\""),
         re.compile(r"\.(get_json)\(()"),
         re.compile(r"\[\"(kubectl|helm)\",(?:\s*[\w.]+,)?(?:\s*f?\"--[^\"]+\",)*\s*\"([\w-]+)\"")]


def harness_calls() -> list[tuple[str, int, str, str]]:
    out = []
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC).as_posix()
        if rel in EXEMPT:
            continue
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            for rx in CALLS:
                for tool, verb in rx.findall(line):
                    out.append((rel, n, tool, verb))
    return out


def test_no_harness_module_calls_kubectl_or_helm_for_its_own_reads_patches_or_waits():
    calls = harness_calls()
    assert any(t == "kubectl" and v == "apply" for _, _, t, v in calls), "the scan finds nothing: is it broken?"
    wrong = [f"{f}:{n}: {t} {v}" for f, n, t, v in calls if v not in ALLOWED[t]]
    assert not wrong, "use the kubernetes client (cluster/kube.py Kube.api) for: " + "; ".join(wrong)


def test_the_scan_would_see_a_kubectl_get(tmp_path):
    line = 'names = kube.kubectl("get", "deployments", "-o", "json")'
    assert [("kubectl", "get")] == [m for rx in CALLS for m in rx.findall(line)]
    assert [("get_json", "")] == CALLS[1].findall('deps = env.kube.get_json("deployments")["items"]')
    assert [("kubectl", "get")] == CALLS[2].findall('subprocess.run(["kubectl", "--kubeconfig=x", "get", "--raw"])')


def test_the_packages_the_project_asked_for_are_dependencies():
    text = (PROJECT_ROOT / "pyproject.toml").read_text()
    deps = text.split("dependencies = [")[1].split("]")[0]
    for pkg in ("kubernetes", "locust"):
        assert f'"{pkg}' in deps, pkg
    assert '"pytest-bdd' in text and '"pytest>' in text
