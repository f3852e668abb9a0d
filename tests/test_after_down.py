"""After `rollback-drill cluster down` nothing of the drill remains on the machine: no container,
volume or network of ours in Docker, no KUBE-* or RBDRILL-* chain or rule in iptables or ip6tables,
no process of the cluster. scripts/test.sh runs this file after tearing the cluster down (marker
`after_down`); with the cluster up it is deselected."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.after_down


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def test_docker_holds_nothing_of_ours():
    assert shutil.which("docker"), "docker CLI missing"
    containers = run("docker", "ps", "-a", "--format", "{{.Names}} {{.Labels}}")
    assert "rollback-drill" not in containers, containers
    volumes = run("docker", "volume", "ls", "--format", "{{.Name}} {{.Labels}}")
    assert "rollback-drill" not in volumes, volumes
    networks = run("docker", "network", "ls", "--format", "{{.Name}}").split()
    assert set(networks) <= {"bridge", "host", "none", "kind"}, networks


@pytest.mark.parametrize("tool", ["iptables", "ip6tables"])
def test_no_chain_or_rule_of_the_cluster_remains(tool):
    for table in ("filter", "nat", "mangle"):
        rules = run(tool, "-t", table, "-S")
        ours = [r for r in rules.splitlines() if "KUBE-" in r or "RBDRILL" in r or "10.88." in r]
        assert not ours, f"{tool} -t {table}: {ours}"


def test_no_process_of_the_cluster_remains():
    """Running processes only: an exited one waiting for a parent that does not reap (state Z) is not running."""
    ps = run("ps", "-eo", "stat=,args=")
    running = [line.split(None, 1)[1] for line in ps.splitlines() if line.strip() and not line.split()[0].startswith("Z")
               and len(line.split(None, 1)) > 1]
    left = [p for p in running if any(w in p for w in ("kube-apiserver", "kubelet ", "etcd ", "kube-proxy",
                                                         "traefik", "metrics-server", "rollback-drill/local"))]
    assert not left, left
