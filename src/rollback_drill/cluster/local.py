"""The local provider: a single-node Kubernetes made of upstream components as host processes.

Why: kind cannot create its node containers on machines whose Docker lacks --privileged, yet
the drill must run on a real API server, kubelet and containers. So we run etcd,
kube-apiserver, kube-controller-manager, kube-scheduler, containerd (Debian) + runc, kubelet,
kube-proxy (iptables), CoreDNS and Traefik (Ingress on 127.0.0.1) ourselves.

Network: one bridge of ours, `rbdrill0` 10.88.0.1/16, carries the pods (CNI bridge +
host-local). The API server, kubelet and CoreDNS listen on 10.88.0.1 so that pods reach them;
everything else listens on 127.0.0.1. `down` removes every process, mount, netns, iptables
rule and the bridge we made, also after a failed `up`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from rollback_drill import PROJECT_ROOT
from rollback_drill.cluster.kube import server_version
from rollback_drill.cluster import Cluster, ClusterError, ClusterStatus, NodeImage, remember_provider
from rollback_drill.cluster import pki
from rollback_drill.cluster.images import pause_image
from rollback_drill.settings import cache_dir, state_dir
from rollback_drill.untrusted import write_private

K8S_VERSION = "v1.34.4"
BRIDGE = "rbdrill0"
NODE_IP = "10.88.0.1"
POD_CIDR = "10.88.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
NODE_NAME = "rollback-drill"
ETCD_PORT, ETCD_PEER_PORT = 23790, 23800
INGRESS_PORT = int(os.environ.get("ROLLBACK_DRILL_INGRESS_PORT", "8088"))
IPTABLES_CHAIN = "RBDRILL-FORWARD"
METRICS_PORT = 4443
METRICS_SERVER_VERSION = "v0.8.0"

# (component, host, port) each component listens on; checked before start.
PORTS = [("etcd", "127.0.0.1", ETCD_PORT), ("etcd", "127.0.0.1", ETCD_PEER_PORT),
         ("kube-apiserver", NODE_IP, 6443), ("kube-controller-manager", "127.0.0.1", 10257),
         ("kube-scheduler", "127.0.0.1", 10259), ("kubelet", NODE_IP, 10250),
         ("kubelet", "127.0.0.1", 10248), ("kube-proxy", "127.0.0.1", 10249),
         ("kube-proxy", "127.0.0.1", 10256), ("coredns", NODE_IP, 53),
         ("traefik", "127.0.0.1", INGRESS_PORT), ("metrics-server", NODE_IP, METRICS_PORT)]
ORDER = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd",
         "kubelet", "kube-proxy", "coredns", "traefik", "metrics-server"]


def metrics_server_binary() -> Path | None:
    """metrics-server, built from the Go module proxy by cluster/local/build-binaries.sh (None: `kubectl top` fails)."""
    b = cache_dir() / "bin" / f"metrics-server-{METRICS_SERVER_VERSION}" / "metrics-server"
    return b if b.exists() else None


def _run(cmd: list[str], check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        if check:
            raise ClusterError(f"'{' '.join(cmd)}' did not finish within {timeout:.0f}s") from None
        return subprocess.CompletedProcess(cmd, 124, "", "timed out")
    if check and proc.returncode != 0:
        raise ClusterError(f"'{' '.join(cmd)}' failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return proc


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat (start time in clock ticks since boot), '' when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _port_owner(host: str, port: int) -> str | None:
    """Who holds host:port, or None when it is free (checked by binding, not by scanning)."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM) if port == 53 else (socket.SOCK_STREAM,):
        s = socket.socket(socket.AF_INET, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            ss = _run(["ss", "-Hltunp", f"sport = :{port}"], check=False).stdout.strip()
            return ss.split("users:")[-1] if "users:" in ss else "another process"
        finally:
            s.close()
    return None


def remove_kube_chains() -> list[str]:
    """What kubelet and kube-proxy leave in iptables and ip6tables (`kube-proxy --cleanup` does not
    remove kubelet's KUBE-FIREWALL jumps in INPUT/OUTPUT, KUBE-KUBELET-CANARY or KUBE-IPTABLES-HINT):
    every rule jumping to a KUBE-* chain, then every KUBE-* chain, in filter, nat and mangle.
    Returns what was removed."""
    removed = []
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            continue
        for table in ("filter", "nat", "mangle"):
            rules = _run([tool, "-t", table, "-S"], check=False).stdout.splitlines()
            chains = [r.split()[1] for r in rules if r.startswith("-N KUBE-")]
            for r in rules:
                words = r.split()
                if words[:1] == ["-A"] and not words[1].startswith("KUBE-") and "-j" in words \
                        and words[words.index("-j") + 1].startswith("KUBE-"):
                    _run([tool, "-t", table, "-D", *shlex.split(r)[1:]], check=False)
                    removed.append(f"{tool} -t {table} {r}")
            for c in chains:
                _run([tool, "-t", table, "-F", c], check=False)
            for c in chains:
                if _run([tool, "-t", table, "-X", c], check=False).returncode == 0:
                    removed.append(f"{tool} -t {table} chain {c}")
    return removed


class LocalCluster(Cluster):
    name = "local"

    def __init__(self) -> None:
        self.root = state_dir() / "local"
        self.logs = state_dir() / "logs" / "local"  # kept after down: the first place to look
        self.pids = self.root / "pids"
        self.run_dir = Path("/run/rollback-drill")
        self.cri_sock = self.run_dir / "containerd" / "containerd.sock"

    # ---- interface --------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{INGRESS_PORT}"

    @property
    def bin_dir(self) -> Path | None:
        return self._binaries(build=False)

    @property
    def pod_host_address(self) -> str:
        return NODE_IP

    def status(self) -> ClusterStatus:
        comps = {c: ("running" if self._alive(c) else "stopped") for c in ORDER
                 if c != "metrics-server" or metrics_server_binary() is not None}
        ready = all(v == "running" for v in comps.values()) and self._node_ready()
        version = server_version(self.kubeconfig)[1] if ready else ""  # read from the API server, never assumed
        return ClusterStatus("local", str(self.kubeconfig), version, self.ingress_url, ready, comps,
                             f"logs: {self.logs}")

    def up(self) -> ClusterStatus:
        st = self.status()
        if st.ready:
            return st
        if any(v == "running" for v in st.components.values()) or self.root.exists():
            self.down()  # half-up from an earlier run: start clean rather than guess
        try:
            self._preflight()
            remember_provider("local")
            bins = self._binaries()
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(self.logs, ignore_errors=True)
            self.logs.mkdir(parents=True)
            self.pids.mkdir(exist_ok=True)
            self._network()
            pki.ensure(self.root / "pki", NODE_IP, NODE_NAME)
            self._kubeconfigs()
            self._start_control_plane(bins)
            self._start_node(bins)
            self._bootstrap_objects(bins)
            self._wait(self._node_ready, 120, "the node to become Ready", "kubelet")
            self._start_addons(bins)
            self._wait(lambda: self._http_ok("http://127.0.0.1:18181/ready"), 30, "CoreDNS to be ready", "coredns")
            self._wait(self._ingress_serving, 60, "the Ingress controller to serve", "traefik")
            return self.status()
        except BaseException as e:
            tails = self._log_tails()
            try:
                self.down()
            finally:
                if isinstance(e, ClusterError) and tails:
                    raise ClusterError(f"{e}\n{tails}") from None
            raise

    def down(self) -> None:
        self._run_teardowns()  # the datastores listen on our bridge: stop them before it goes
        for comp in reversed(ORDER):
            if comp == "containerd":
                self._kill_containers()
            self._stop(comp)
        if (bins := self._binaries(build=False)) is not None:
            _run([str(bins / "kube-proxy"), "--cleanup"], check=False)
        self._unmount_all()
        self._delete_netns()
        _run(["iptables", "-D", "FORWARD", "-j", IPTABLES_CHAIN], check=False)
        _run(["iptables", "-F", IPTABLES_CHAIN], check=False)
        _run(["iptables", "-X", IPTABLES_CHAIN], check=False)
        remove_kube_chains()
        _run(["ip", "link", "del", BRIDGE], check=False)
        self._remove_cgroups()
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def has_image(self, name: str) -> bool:
        """Whether the node's runtime holds the image (kubectl's short names get docker.io/)."""
        full = name if "/" in name.split(":")[0] and "." in name.split("/")[0] else f"docker.io/{name}"
        have = self._ctr("images", "ls", "-q", check=False).stdout.split()
        return name in have or full in have

    def load_image(self, archive: Path, name: str) -> None:
        if name in self._node_images():
            return
        self._ctr("images", "import", str(archive))

    # the node is this machine: its containerd pulls from a registry on 127.0.0.1 over plain HTTP (CRI's
    # default for a loopback host), and ctr names, removes and reads its images
    pulls_from_loopback = True

    def _ctr_argv(self, *args: str) -> list[str]:
        return ["ctr", "-a", str(self.cri_sock), "-n", "k8s.io", *args]

    def _ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run(self._ctr_argv(*args), check=check)

    def _node_images(self) -> list[str]:
        return self._ctr("images", "ls", "-q").stdout.split()

    def tag_image(self, src: str, dst: str) -> None:
        if dst not in self._node_images():
            self._ctr("images", "tag", src, dst)

    def remove_image(self, ref: str) -> bool:
        if ref not in self._node_images():
            return False
        self._ctr("images", "rm", ref)
        return True

    def node_image(self, ref: str) -> NodeImage:
        rows = [ln.split() for ln in self._ctr("images", "ls", f"name=={ref}").stdout.splitlines()[1:] if ln.strip()]
        if not rows:
            raise ClusterError(f"the node has no image {ref}")
        _, media_type, digest = rows[0][:3]
        manifest = self.read_blob(digest)
        if manifest is None:
            raise ClusterError(f"the node lists image {ref} but has no manifest {digest}")
        return NodeImage(media_type, digest, manifest)

    def read_blob(self, digest: str) -> bytes | None:
        p = subprocess.run(self._ctr_argv("content", "get", digest), capture_output=True, timeout=120)  # bytes
        return p.stdout if p.returncode == 0 else None

    # ---- pieces -----------------------------------------------------------------------------
    def _preflight(self) -> None:
        missing = [t for t in ("containerd", "runc", "iptables", "ip", "openssl", "ctr", "conntrack", "go")
                   if not shutil.which(t)]
        if not Path("/usr/lib/cni/bridge").exists():
            missing.append("containernetworking-plugins")
        if missing:
            raise ClusterError(f"missing tools for the local cluster: {', '.join(missing)} "
                               f"(run 'bash .ci/setup-host' or apt-get install them)")
        for comp, host, port in PORTS:
            if host == NODE_IP:
                continue  # our own bridge address does not exist yet
            owner = _port_owner(host, port)
            if owner:
                hint = " or set ROLLBACK_DRILL_INGRESS_PORT to a free port" if comp == "traefik" else ""
                raise ClusterError(f"port {host}:{port} needed by {comp} is already in use by {owner}: "
                                   f"stop that process{hint} (a cluster left by an older rollback-drill: "
                                   f"'rollback-drill cluster down' after stopping it)")

    def _binaries(self, build: bool = True) -> Path | None:
        """The cached Kubernetes binaries; built from the Go module proxy when missing."""
        script = PROJECT_ROOT / "cluster" / "local" / "build-binaries.sh"
        if not build:
            found = sorted((cache_dir() / "bin").glob(f"k8s-{K8S_VERSION}_*/.complete"))
            return found[-1].parent if found else None
        env = dict(os.environ, K8S_VERSION=K8S_VERSION, METRICS_SERVER_VERSION=METRICS_SERVER_VERSION)
        proc = subprocess.run(["bash", str(script), str(cache_dir())], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ClusterError("building the Kubernetes binaries failed:\n" + proc.stderr[-2000:])
        return Path(proc.stdout.strip().splitlines()[-1])

    def _network(self) -> None:
        """Our bridge, forwarding and the sysctls kube-proxy and the CNI bridge need."""
        if _run(["ip", "link", "show", BRIDGE], check=False).returncode != 0:
            _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
            _run(["ip", "addr", "add", f"{NODE_IP}/16", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        _run(["modprobe", "br_netfilter"], check=False)
        for key in ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"):
            p = Path("/proc/sys") / key
            if p.exists():
                p.write_text("1")
        # Docker and others set FORWARD to DROP: allow our pod range, in a chain of our own.
        _run(["iptables", "-N", IPTABLES_CHAIN], check=False)
        _run(["iptables", "-F", IPTABLES_CHAIN])
        _run(["iptables", "-A", IPTABLES_CHAIN, "-s", POD_CIDR, "-j", "ACCEPT"])
        _run(["iptables", "-A", IPTABLES_CHAIN, "-d", POD_CIDR, "-j", "ACCEPT"])
        if _run(["iptables", "-C", "FORWARD", "-j", IPTABLES_CHAIN], check=False).returncode != 0:
            _run(["iptables", "-I", "FORWARD", "1", "-j", IPTABLES_CHAIN])
        netns = Path("/var/run/netns")
        before = sorted(p.name for p in netns.glob("cni-*")) if netns.exists() else []
        (self.root / "netns-before.json").write_text(json.dumps(before))

    def _kubeconfigs(self) -> None:
        p = self.root / "pki"
        for name, cert in [("kubeconfig", "admin"), ("controller-manager.kubeconfig", "controller-manager"),
                           ("scheduler.kubeconfig", "scheduler"), ("kubelet.kubeconfig", "kubelet"),
                           ("kube-proxy.kubeconfig", "kube-proxy")]:
            cfg = {
                "apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "rollback-drill", "cluster": {
                    "server": f"https://{NODE_IP}:6443", "certificate-authority": str(p / "ca.crt")}}],
                "users": [{"name": cert, "user": {"client-certificate": str(p / f"{cert}.crt"),
                                                  "client-key": str(p / f"{cert}.key")}}],
                "contexts": [{"name": "rollback-drill", "context": {"cluster": "rollback-drill", "user": cert}}],
                "current-context": "rollback-drill",
            }
            write_private(self.root / name, json.dumps(cfg, indent=2))

    def _start_control_plane(self, bins: Path) -> None:
        p = self.root / "pki"
        self._spawn("etcd", [str(bins / "etcd"), "--name", "drill", "--data-dir", str(self.root / "etcd"),
                             "--listen-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                             "--advertise-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                             "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
                             "--initial-cluster", f"drill=http://127.0.0.1:{ETCD_PEER_PORT}",
                             "--unsafe-no-fsync", "--listen-metrics-urls", ""])
        self._spawn("kube-apiserver", [
            str(bins / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
            f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}", "--secure-port=6443",
            f"--tls-cert-file={p}/apiserver.crt", f"--tls-private-key-file={p}/apiserver.key",
            f"--client-ca-file={p}/ca.crt", f"--service-account-key-file={p}/sa.pub",
            f"--service-account-signing-key-file={p}/sa.key",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
            f"--kubelet-client-certificate={p}/apiserver-kubelet-client.crt",
            f"--kubelet-client-key={p}/apiserver-kubelet-client.key", "--allow-privileged=true",
            "--profiling=false", "--endpoint-reconciler-type=lease",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            # aggregation, for metrics-server (`kubectl top`): the API server proxies as front-proxy-client
            f"--requestheader-client-ca-file={p}/ca.crt", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User", f"--proxy-client-cert-file={p}/front-proxy-client.crt",
            f"--proxy-client-key-file={p}/front-proxy-client.key", "--enable-aggregator-routing=true"])
        self._wait(lambda: self._https_ok(f"https://{NODE_IP}:6443/readyz"), 90, "the API server", "kube-apiserver")
        self._spawn("kube-controller-manager", [
            str(bins / "kube-controller-manager"), f"--kubeconfig={self.root}/controller-manager.kubeconfig",
            f"--authentication-kubeconfig={self.root}/controller-manager.kubeconfig",
            f"--authorization-kubeconfig={self.root}/controller-manager.kubeconfig",
            "--leader-elect=false", "--bind-address=127.0.0.1",
            f"--service-account-private-key-file={p}/sa.key", f"--root-ca-file={p}/ca.crt",
            f"--cluster-signing-cert-file={p}/ca.crt", f"--cluster-signing-key-file={p}/ca.key",
            "--use-service-account-credentials=true", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller"])
        self._spawn("kube-scheduler", [
            str(bins / "kube-scheduler"), f"--kubeconfig={self.root}/scheduler.kubeconfig",
            f"--authentication-kubeconfig={self.root}/scheduler.kubeconfig",
            f"--authorization-kubeconfig={self.root}/scheduler.kubeconfig",
            "--leader-elect=false", "--bind-address=127.0.0.1"])

    def _start_node(self, bins: Path) -> None:
        pause = pause_image()
        cri = self.root / "containerd"
        cni = self.root / "cni"
        (cni / "net.d").mkdir(parents=True, exist_ok=True)
        (cni / "net.d" / "10-rollback-drill.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": "rollback-drill", "plugins": [{
                "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": str(cni / "ipam"),
                         "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP,
                                      "rangeStart": "10.88.1.0", "rangeEnd": "10.88.255.254"}]],
                         "routes": [{"dst": "0.0.0.0/0"}]}}]}))
        cri.mkdir(parents=True, exist_ok=True)
        (cri / "config.toml").write_text(f"""version = 2
root = "{cache_dir() / 'containerd-root'}"
state = "{self.run_dir / 'containerd' / 'state'}"
[grpc]
  address = "{self.cri_sock}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause.name}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni / 'net.d'}"
""")
        self._spawn("containerd", ["containerd", "--config", str(cri / "config.toml")])
        self._wait(lambda: self.cri_sock.exists() and _run(
            ["ctr", "-a", str(self.cri_sock), "version"], check=False).returncode == 0, 30, "containerd", "containerd")
        self.load_image(pause.archive, pause.name)
        p = self.root / "pki"
        resolv = self.root / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\n")  # pods get CoreDNS; nothing upstream on these machines
        kubelet_cfg = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": NODE_IP, "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
            "authentication": {"x509": {"clientCAFile": str(p / "ca.crt")}, "webhook": {"enabled": False},
                               "anonymous": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs", "failSwapOn": False, "failCgroupV1": False,
            "containerRuntimeEndpoint": f"unix://{self.cri_sock}",
            "clusterDNS": [NODE_IP], "clusterDomain": "cluster.local", "resolvConf": str(resolv),
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "tlsCertFile": str(p / "kubelet-serving.crt"), "tlsPrivateKeyFile": str(p / "kubelet-serving.key"),
            "serializeImagePulls": False, "maxPods": 60, "syncFrequency": "10s",
            "fileCheckFrequency": "10s", "nodeStatusUpdateFrequency": "4s", "rotateCertificates": False,
            "localStorageCapacityIsolation": False,
        }
        (self.root / "kubelet-config.json").write_text(json.dumps(kubelet_cfg, indent=2))
        self._spawn("kubelet", [str(bins / "kubelet"), f"--config={self.root}/kubelet-config.json",
                                f"--kubeconfig={self.root}/kubelet.kubeconfig", f"--root-dir={self.root}/kubelet",
                                f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}", "--v=1"])
        proxy_cfg = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.root / "kube-proxy.kubeconfig")},
            "mode": "iptables", "clusterCIDR": POD_CIDR, "hostnameOverride": NODE_NAME,
            "bindAddress": "127.0.0.1", "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249", "nodePortAddresses": ["127.0.0.1/32"],
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "iptables": {"masqueradeAll": False, "syncPeriod": "5s", "minSyncPeriod": "0s"},
        }
        (self.root / "kube-proxy-config.json").write_text(json.dumps(proxy_cfg, indent=2))
        self._spawn("kube-proxy", [str(bins / "kube-proxy"), f"--config={self.root}/kube-proxy-config.json"])

    def _bootstrap_objects(self, bins: Path) -> None:
        manifest = PROJECT_ROOT / "cluster" / "local" / "bootstrap.yaml"
        self._kubectl(bins, "apply", "-f", str(manifest))

    def _start_addons(self, bins: Path) -> None:
        corefile = self.root / "Corefile"
        corefile.write_text(f""".:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:18180
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {self.kubeconfig} rollback-drill
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
    loadbalance
}}
""")
        self._spawn("coredns", [str(bins / "coredns"), "-conf", str(corefile)])
        ms = metrics_server_binary()
        if ms is not None:  # `kubectl top` (手順5, troubleshooting); registered by bootstrap.yaml's APIService
            (self.root / "metrics-server").mkdir(exist_ok=True)
            self._spawn("metrics-server", [
                str(ms), f"--secure-port={METRICS_PORT}", f"--bind-address={NODE_IP}",
                f"--cert-dir={self.root}/metrics-server", f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}",
                "--kubelet-insecure-tls", "--kubelet-preferred-address-types=InternalIP",
                "--metric-resolution=10s", "--kubelet-request-timeout=5s", "--kubelet-use-node-status-port"])
            self._wait(lambda: self._https_ok(f"https://{NODE_IP}:{METRICS_PORT}/readyz", insecure=True), 60,
                       "metrics-server", "metrics-server")
            self._kubectl(bins, "apply", "-f", str(PROJECT_ROOT / "cluster" / "local" / "metrics-server.yaml"))
        traefik = shutil.which("traefik") or str(Path(os.sys.executable).parent / "traefik")
        self._spawn("traefik", [traefik, f"--entryPoints.web.address=127.0.0.1:{INGRESS_PORT}",
                                "--providers.kubernetesIngress=true",
                                "--providers.kubernetesIngress.throttleDuration=0s",
                                # a Service without ready endpoints answers 503, as production's load
                                # balancer answers 502 (GCE) — not 404, which no 5xx criterion counts
                                "--providers.kubernetesIngress.allowEmptyServices=true",
                                "--log.level=INFO", "--accesslog=false", "--global.checkNewVersion=false",
                                "--global.sendAnonymousUsage=false"],
                    env={"KUBECONFIG": str(self.kubeconfig)})

    # ---- helpers ----------------------------------------------------------------------------
    def _kubectl(self, bins: Path, *args: str) -> str:
        return _run([str(bins / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]).stdout

    def _spawn(self, comp: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.logs / f"{comp}.log", "ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, **(env or {})}, cwd=self.root)
        (self.pids / f"{comp}.pid").write_text(f"{proc.pid} {_start_time(proc.pid)}")

    def _pid(self, comp: str) -> int | None:
        """The component's pid, only while it is the very process we started.

        The pid file holds the pid and the process start time: a recycled pid has another start
        time. (Matching the command line instead races with exec: a just-spawned child reading its
        binary from a cold disk has an empty cmdline for a while.)
        """
        f = self.pids / f"{comp}.pid"
        try:
            pid_s, started = f.read_text().split()
            pid = int(pid_s)
        except (OSError, ValueError):
            return None
        return pid if _start_time(pid) == started else None

    def _alive(self, comp: str) -> bool:
        pid = self._pid(comp)
        if pid is None:
            return False
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            return False
        return state != "Z"

    def _stop(self, comp: str) -> None:
        pid = self._pid(comp)
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._alive(comp):
            time.sleep(0.1)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def _kill_containers(self) -> None:
        """Stop every task our containerd runs, so no shim or container outlives the cluster."""
        if not self.cri_sock.exists():
            return
        ctr = ["ctr", "--connect-timeout", "5s", "-a", str(self.cri_sock), "-n", "k8s.io"]
        if _run(ctr + ["version"], check=False, timeout=10).returncode != 0:
            return  # containerd is gone (e.g. the machine's processes were ended): shims went with it
        for tid in _run(ctr + ["tasks", "ls", "-q"], check=False).stdout.split():
            _run(ctr + ["tasks", "kill", "-s", "SIGKILL", tid], check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _run(ctr + ["tasks", "ls", "-q"], check=False).stdout.strip():
            for tid in _run(ctr + ["tasks", "ls", "-q"], check=False).stdout.split():
                _run(ctr + ["tasks", "rm", "-f", tid], check=False)
            time.sleep(0.2)
        for cid in _run(ctr + ["containers", "ls", "-q"], check=False).stdout.split():
            _run(ctr + ["containers", "rm", cid], check=False)
        # Shims that lost their containerd exit on their own; make sure of it.
        for pid_dir in Path("/proc").glob("[0-9]*"):
            try:
                cmd = (pid_dir / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmd and str(self.cri_sock).encode() in cmd:
                try:
                    os.kill(int(pid_dir.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _unmount_all(self) -> None:
        roots = (str(self.root), str(self.run_dir), str(cache_dir() / "containerd-root"))
        for _ in range(3):
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
            ours = [m for m in mounts if m.startswith(roots)]
            if not ours:
                return
            for m in sorted(ours, key=len, reverse=True):
                _run(["umount", "-l", m], check=False)

    def _delete_netns(self) -> None:
        before_file = self.root / "netns-before.json"
        before = set(json.loads(before_file.read_text())) if before_file.exists() else None
        netns = Path("/var/run/netns")
        if before is None or not netns.exists():
            return
        for ns in netns.glob("cni-*"):
            if ns.name not in before:
                _run(["ip", "netns", "del", ns.name], check=False)

    def _remove_cgroups(self) -> None:
        for ctrl in Path("/sys/fs/cgroup").iterdir():
            kp = ctrl / "kubepods"
            if kp.is_dir():
                for d in sorted(kp.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                    if d.is_dir():
                        try:
                            d.rmdir()
                        except OSError:
                            pass
                try:
                    kp.rmdir()
                except OSError:
                    pass

    def _https_ok(self, url: str, insecure: bool = False) -> bool:
        """`insecure`: a self-signed serving cert (metrics-server makes its own; the APIService skips it too)."""
        p = self.root / "pki"
        ctx = ssl.create_default_context(cafile=str(p / "ca.crt"))
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(str(p / "admin.crt"), str(p / "admin.key"))
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def _node_ready(self) -> bool:
        if not self.kubeconfig.exists() or not (self.root / "pki" / "admin.crt").exists():
            return False
        p = self.root / "pki"
        ctx = ssl.create_default_context(cafile=str(p / "ca.crt"))
        ctx.load_cert_chain(str(p / "admin.crt"), str(p / "admin.key"))
        try:
            with urllib.request.urlopen(f"https://{NODE_IP}:6443/api/v1/nodes/{NODE_NAME}",
                                        context=ctx, timeout=2) as r:
                node = json.load(r)
        except (OSError, ValueError):
            return False
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))

    @staticmethod
    def _http_ok(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def _ingress_serving(self) -> bool:
        try:
            with urllib.request.urlopen(self.ingress_url + "/", timeout=2):
                return True
        except urllib.error.HTTPError as e:
            return e.code == 404  # Traefik answers 404 for unknown hosts: it is serving
        except OSError:
            return False

    def _wait(self, ok, timeout: float, what: str, comp: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            if comp in ORDER and (self.pids / f"{comp}.pid").exists() and not self._alive(comp):
                raise ClusterError(f"{comp} exited while waiting for {what} (log: {self.logs / (comp + '.log')})")
            time.sleep(0.25)
        raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} (log: {self.logs / (comp + '.log')})")

    def _log_tails(self, lines: int = 15) -> str:
        if not self.logs.exists():
            return ""
        out = []
        for f in sorted(self.logs.glob("*.log")):
            tail = f.read_text(errors="replace").splitlines()[-lines:]
            if tail:
                out.append(f"--- {f.name} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(out)
