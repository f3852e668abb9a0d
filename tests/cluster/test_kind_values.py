"""The kind provider's Traefik values, checked as far as this machine allows (issue 22): the Traefik chart
cannot be fetched here, so its nodeSelector path is rendered the way the chart renders it (`toYaml` of the
value) and the Deployment is sent to the local cluster's API server as a server-side dry run."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from rollback_drill.cluster.kind import TRAEFIK_VALUES

TEMPLATE = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: traefik-dry-run
  namespace: default
spec:
  selector: {matchLabels: {app: t}}
  template:
    metadata: {labels: {app: t}}
    spec:
      nodeSelector:
        {{- toYaml .Values.nodeSelector | nindent 8 }}
      containers:
        - name: t
          image: traefik:v3
          ports:
            - containerPort: 8000
              hostPort: {{ .Values.ports.web.hostPort }}
"""


@pytest.fixture
def chart(tmp_path):
    c = tmp_path / "chart"
    (c / "templates").mkdir(parents=True)
    (c / "Chart.yaml").write_text("apiVersion: v2\nname: traefik-shape\nversion: 0.1.0\n")
    (c / "templates" / "deployment.yaml").write_text(TEMPLATE)
    return c


def _dry_run(cluster, chart, *args: str) -> subprocess.CompletedProcess:
    rendered = subprocess.run([str(cluster.bin_dir / "helm"), "template", "t", str(chart), *args],
                              capture_output=True, text=True, check=True).stdout
    return subprocess.run([str(cluster.bin_dir / "kubectl"), "--kubeconfig", str(cluster.kubeconfig), "apply",
                           "--dry-run=server", "-f", "-"], input=rendered, capture_output=True, text=True)


def test_the_kind_providers_traefik_values_pass_a_server_side_dry_run(cluster, chart, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(TRAEFIK_VALUES))
    p = _dry_run(cluster, chart, "-f", str(values))
    assert p.returncode == 0, p.stderr


def test_a_boolean_node_selector_is_rejected_by_the_api_server(cluster, chart):
    """What `--set nodeSelector.ingress-ready=true` did: the drill that must fail, failing."""
    p = _dry_run(cluster, chart, "--set", "ports.web.hostPort=80", "--set", "nodeSelector.ingress-ready=true")
    assert p.returncode != 0 and "bool" in p.stderr, p.stderr
