"""Bad input to the cluster layer: one clear line, nothing started. And the kind provider's config."""

import socket

import pytest
import yaml
from click.testing import CliRunner

from rollback_drill.cli import main
from rollback_drill.cluster import ClusterError, get_cluster
from rollback_drill.cluster.existing import ExistingCluster, check_allowed
from rollback_drill.cluster.kind import CONFIG, KindCluster
from rollback_drill.cluster.local import _port_owner


def test_unknown_provider_is_one_clear_line():
    with pytest.raises(ClusterError, match="unknown cluster provider 'minikube': use one of local, kind, existing"):
        get_cluster("minikube")
    r = CliRunner().invoke(main, ["cluster", "up", "--provider", "minikube"])
    assert r.exit_code == 2 and "unknown cluster provider 'minikube'" in r.output


def test_existing_context_not_allowed_is_refused_with_how_to_allow(monkeypatch):
    monkeypatch.delenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", raising=False)
    with pytest.raises(ClusterError) as e:
        ExistingCluster("gke_prod_asia-northeast1_mastodon")
    msg = str(e.value)
    assert "refusing kubeconfig context 'gke_prod_asia-northeast1_mastodon'" in msg
    assert "ROLLBACK_DRILL_ALLOWED_CONTEXTS=gke_prod_asia-northeast1_mastodon" in msg
    monkeypatch.setenv("ROLLBACK_DRILL_ALLOWED_CONTEXTS", "staging, gke_prod_asia-northeast1_mastodon")
    check_allowed("gke_prod_asia-northeast1_mastodon")


def test_port_taken_names_the_owner():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        assert _port_owner("127.0.0.1", port)
    finally:
        s.close()
    assert _port_owner("127.0.0.1", port) is None


def test_kind_config_is_ingress_ready_and_loopback_only():
    cfg = yaml.safe_load(CONFIG.read_text())
    node = cfg["nodes"][0]
    assert node["role"] == "control-plane" and "ingress-ready=true" in node["kubeadmConfigPatches"][0]
    assert node["extraPortMappings"] == [{"containerPort": 80, "hostPort": 8088, "listenAddress": "127.0.0.1",
                                          "protocol": "TCP"}]


def test_kind_command_lines():
    k = KindCluster()
    assert k.create_command()[:5] == ["kind", "create", "cluster", "--name", "rollback-drill"]
    assert "--config" in k.create_command() and str(CONFIG) in k.create_command()
    assert k.load_command(CONFIG) == ["kind", "load", "image-archive", str(CONFIG), "--name", "rollback-drill"]
    install = k.ingress_commands()[-1]
    assert install[install.index("-f") + 1] == str(k.traefik_values_file)
    values = yaml.safe_load(k.traefik_values_file.read_text())
    assert values["ports"]["web"]["hostPort"] == 80
    assert values["nodeSelector"] == {"ingress-ready": "true"}  # a string: a nodeSelector holds strings


def test_kind_without_docker_or_kind_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ClusterError, match="the kind provider needs docker, kind, helm on PATH"):
        KindCluster().up()


def test_the_datastores_go_with_the_cluster_though_the_cluster_does_not_know_them(monkeypatch):
    """`cluster down` (the CLI's provider) removes the datastores; the provider alone removes only itself."""
    from rollback_drill.cli import _cluster
    from rollback_drill.sut import datastores
    removed: list[str] = []
    monkeypatch.setattr(datastores.Datastores, "down", lambda self: removed.append(self.listen))
    monkeypatch.setenv("PATH", "/nonexistent")  # no kind binary: `down` deletes no cluster
    KindCluster().down()
    assert removed == []
    _cluster("kind").down()
    assert removed == ["127.0.0.1"]
