"""Issue 18 on the real cluster: a GKE-style kubeconfig whose auth plugin calls `gcloud` still works
through a drill's runbook command (the stand-in hands it to the real gcloud), and secrets planted in
every form never reach any artifact of a drill."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import yaml

from rollback_drill import DEFAULT_RUNBOOK
from rollback_drill.evidence.redaction import Redactor
from rollback_drill.observe.timeline import Timeline
from rollback_drill.runbook.executor import ExecContext, run_commands
from rollback_drill.runbook.model import Command
from rollback_drill.sut.deploy import environment


def test_a_kubeconfig_auth_plugin_that_calls_gcloud_works_through_a_runbook_command(cluster, tmp_path):
    """As gke-gcloud-auth-plugin does: the plugin asks `gcloud` for a credential. The fake 'real
    gcloud' here hands out the cluster's admin client certificate (no token auth on this cluster)."""
    pki = cluster.root / "pki"
    real = tmp_path / "real-bin"
    real.mkdir()
    cred = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
            "status": {"clientCertificateData": (pki / "admin.crt").read_text(),
                       "clientKeyData": (pki / "admin.key").read_text()}}
    (tmp_path / "cred.json").write_text(json.dumps(cred))
    (real / "gcloud").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/gcloud.log\ncat {tmp_path}/cred.json\n")
    (real / "gcloud").chmod(0o755)
    plugin = tmp_path / "auth-plugin"
    plugin.write_text("#!/bin/sh\nexec gcloud config config-helper --format=json\n")  # what the GKE plugin asks
    plugin.chmod(0o755)
    src = yaml.safe_load(cluster.kubeconfig.read_text())
    kcfg = {"apiVersion": "v1", "kind": "Config", "current-context": "gke",
            "clusters": [{"name": "gke", "cluster": src["clusters"][0]["cluster"]}],
            "users": [{"name": "gke", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                        "command": str(plugin), "interactiveMode": "Never"}}}],
            "contexts": [{"name": "gke", "context": {"cluster": "gke", "user": "gke"}}]}
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kcfg))
    path = f"{cluster.bin_dir}{os.pathsep}{real}{os.pathsep}{os.environ['PATH']}"
    ctx = ExecContext.create(tmp_path, dict(os.environ, PATH=path, KUBECONFIG=str(tmp_path / "kubeconfig")),
                             Timeline(), Redactor(), "h", "http://127.0.0.1:1", "127.0.0.1", None, tmp_path / "s")
    (rec,) = run_commands(ctx, [Command("kubectl get namespace default -o name", 1)], 1)
    assert rec.exit_code == 0 and "namespace/default" in rec.output, rec.output
    assert "config config-helper --format=json" in (tmp_path / "gcloud.log").read_text()
    assert ctx.findings == []


# ---- secrets planted in every form ---------------------------------------------------------------------
PW = "Pl4nted/p@ss:w0rd+9"
ENV_FILE = f"LOCAL_DOMAIN=x.example\nOTP_SECRET=0tpPl4nted7777\nDATABASE_URL=postgres://mastodon:{quote(PW, safe='')}@db/m\n"
TOKEN = "pl4ntedBearerT0ken-abcdef123456"
KUBECONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: pl4ntedKubeT0ken-998877\n"


def _forms() -> dict[str, str]:
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    out = {"password": PW, "password url-encoded": quote(PW, safe=""), "password base64": b64(PW),
           "password json": json.dumps(PW)[1:-1], "env file base64": b64(ENV_FILE), "otp": "0tpPl4nted7777",
           "bearer": TOKEN, "bearer base64": b64(TOKEN), "kube token": "pl4ntedKubeT0ken-998877",
           "kubeconfig base64": b64(KUBECONFIG)[:40], "env base64 wrapped first line": b64(ENV_FILE)[:76]}
    return out


def _bash_literal(s: str) -> str:
    return "$'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


PRINTERS = [
    "kubectl get secret planted -o yaml",
    "kubectl get secret planted -o json",
    "kubectl get secret planted -o jsonpath='{.data.env}' | base64 -d",
    "kubectl get secret planted -o jsonpath='{.data.env}' | base64 -d | base64 -w 76",
    "kubectl get secret planted -o jsonpath='{.data.kubeconfig}' | base64 -d",
    "echo \"Authorization: Bearer $(kubectl get secret planted -o jsonpath='{.data.token}' | base64 -d)\"",
    "kubectl get secret planted -o jsonpath='{.data.password}' | base64 -d | python3 -c 'import json, sys, "
    "urllib.parse; v = sys.stdin.read(); print(urllib.parse.quote(v, safe=\"\")); print(json.dumps({\"v\": v}))'",
]


def test_no_artifact_of_a_drill_holds_a_planted_secret_in_any_form(cluster, tmp_path):
    create = ("kubectl create secret generic planted --from-literal=password=" + _bash_literal(PW)
              + " --from-literal=env=" + _bash_literal(ENV_FILE) + " --from-literal=token=" + _bash_literal(TOKEN)
              + " --from-literal=kubeconfig=" + _bash_literal(KUBECONFIG))
    text = DEFAULT_RUNBOOK.read_text(encoding="utf-8")
    anchor = "# 旧環境がまだ残っている場合、スケールアップ\n"
    runbook = tmp_path / "runbook.md"
    runbook.write_text(text.replace(anchor, "\n".join([create, *PRINTERS]) + "\n" + anchor, 1), encoding="utf-8")
    reports = tmp_path / "reports"
    env = dict(os.environ, ROLLBACK_DRILL_REPORTS=str(reports))
    r = subprocess.run([sys.executable, "-m", "rollback_drill", "run", "--runbook", str(runbook), "--level", "1",
                        "--trigger", "C1"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode in (0, 3), r.stdout[-3000:] + r.stderr[-2000:]
    journal = json.loads(next(reports.rglob("journal.json")).read_text())
    ran = [c for s in journal["scenarios"] for c in s["timeline"]["commands"] if "planted" in c["text"]]
    assert len(ran) == 1 + len(PRINTERS) and all(c["exit_code"] == 0 for c in ran), ran
    assert any("[REDACTED]" in c["output"] for c in ran)
    files = [f for f in reports.rglob("*") if f.is_file()]
    assert {f.name for f in files} >= {"journal.json", "summary.md", "report.html"}
    for f in files:
        content = f.read_text(errors="replace")
        for name, form in _forms().items():
            assert form not in content, f"{name} reached {f.relative_to(reports)}"
    subprocess.run([str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig), "-n",
                    environment(cluster).app.namespace,
                    "delete", "secret", "planted", "--ignore-not-found"], capture_output=True)
