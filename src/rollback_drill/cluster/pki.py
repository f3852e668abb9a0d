"""The drill cluster's certificates, made with openssl: one CA, serving and client certs.

Why openssl: it is on every machine, and a drill cluster needs nothing a CA library adds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# name -> (subject, extended key usage, SANs or None)
CLIENTS = {
    "admin": "/O=system:masters/CN=rollback-drill-admin",
    "controller-manager": "/CN=system:kube-controller-manager",
    "scheduler": "/CN=system:kube-scheduler",
    "kube-proxy": "/CN=system:kube-proxy",
    "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
    # the API server's identity towards aggregated APIs (metrics-server), by the requestheader rules
    "front-proxy-client": "/CN=front-proxy-client",
}


def _ssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def _cert(d: Path, name: str, subject: str, eku: str, sans: list[str] | None = None) -> None:
    if (d / f"{name}.crt").exists():
        return
    ext = d / f"{name}.ext"
    lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
             f"extendedKeyUsage={eku}"]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    _ssl("genrsa", "-out", f"{name}.key", "2048", cwd=d)
    _ssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=d)
    _ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "365", "-extfile", ext.name, "-out", f"{name}.crt", cwd=d)
    (d / f"{name}.key").chmod(0o600)


def ensure(d: Path, node_ip: str, node_name: str) -> None:
    """Create whatever is missing under `d` (idempotent)."""
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    if not (d / "ca.crt").exists():
        _ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "365", "-subj", "/CN=rollback-drill-ca", cwd=d)
    _cert(d, "apiserver", "/CN=kube-apiserver", "serverAuth",
          [f"IP:{node_ip}", "IP:127.0.0.1", "IP:10.96.0.1", "DNS:kubernetes", "DNS:kubernetes.default",
           "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local", "DNS:localhost"])
    _cert(d, "kubelet-serving", f"/CN={node_name}", "serverAuth", [f"IP:{node_ip}", f"DNS:{node_name}"])
    _cert(d, "kubelet", f"/O=system:nodes/CN=system:node:{node_name}", "clientAuth")
    for name, subject in CLIENTS.items():
        _cert(d, name, subject, "clientAuth")
    if not (d / "sa.key").exists():
        _ssl("genrsa", "-out", "sa.key", "2048", cwd=d)
        _ssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
