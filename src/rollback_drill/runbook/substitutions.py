"""Explicit, listed substitutions for runbook commands that cannot run on a drill cluster as written.

- `gcloud sql ...` goes to a Cloud SQL stand-in over the drill's real PostgreSQL (the emulated
  environment's sut/cloudsql.py; the shim written here, first on PATH, names it only as the module
  to run). It rejects what real gcloud rejects.
- `curl https://<production host>/...` goes to the Ingress on 127.0.0.1 with the Host header.
- Manual steps (ブラウザから手動) are performed by the login probe.

Every substitution is recorded next to the command in the evidence.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Substituted:
    text: str  # what runs
    note: str  # what was substituted and why ("" when the command runs as written)
    rewrites: tuple[str, ...] = ()  # each difference from the text as written, one line each


def prepare_shims(shim_dir: Path, path: str) -> Path:
    """Write the `gcloud` stand-in into `shim_dir` (put first on PATH while commands run).

    The stand-in answers only `gcloud … sql …` (any invocation naming the `sql` group goes to it, so a
    Cloud SQL call never reaches real Google Cloud from a drill). Everything else — above all a
    kubeconfig's auth plugin asking `gcloud config config-helper` or `gcloud auth print-access-token`
    for a token — is handed to the real gcloud found on `path`, or fails as a missing gcloud would."""
    import shutil
    shim_dir.mkdir(parents=True, exist_ok=True)
    real = shutil.which("gcloud", path=os.pathsep.join(p for p in path.split(os.pathsep)
                                                      if p and Path(p).resolve() != shim_dir.resolve()))
    other = (f"exec {shlex.quote(real)} \"$@\"" if real else
             "echo 'gcloud: command not found (the drill stands in only for gcloud sql)' >&2; exit 127")
    g = shim_dir / "gcloud"
    g.write_text("#!/bin/sh\n"
                 "for a in \"$@\"; do\n"
                 f"  [ \"$a\" = sql ] && exec {shlex.quote(sys.executable)} -m rollback_drill.sut.cloudsql \"$@\"\n"
                 "done\n"
                 f"{other}\n")
    g.chmod(0o755)
    return shim_dir


def substitute(text: str, production_host: str, ingress_url: str, namespace: str = "",
               served_host: str = "") -> Substituted:
    """`served_host`: the host the drilled application's Ingress routes, when it is not the runbook's
    production host (the stub in a namespace of a staging cluster has a host of its own)."""
    notes: list[str] = []
    host = served_host or production_host
    rewrites: list[str] = []
    if re.match(r"^\s*gcloud\s", text):
        notes.append("gcloud -> Cloud SQL stand-in over the drill's PostgreSQL (same argument rules as gcloud)")
        rewrites.append("`gcloud` is the drill's Cloud SQL stand-in (first on PATH), not Google Cloud")
    if re.match(r"^\s*curl\s", text) and f"https://{production_host}" in text:
        text = text.replace(f"https://{production_host}", ingress_url)
        text = re.sub(r"^\s*curl\s", f"curl -sS -H {shlex.quote('Host: ' + host)} ", text)
        notes.append(f"https://{production_host} -> {ingress_url} with Host: {host} (the drill's Ingress)")
        rewrites += [f"URL https://{production_host} -> {ingress_url} (the drilled application's Ingress)",
                     f"added -H 'Host: {host}' (the Ingress routes on the public host name)",
                     "added -sS (no progress meter; errors still shown)"]
    if namespace and re.match(r"^\s*(kubectl|helm)\s", text) and not re.search(r"\s(-n|--namespace)[\s=]", text):
        rewrites.append(f"no namespace in the command: it acts on namespace '{namespace}', the default of the "
                        f"drill's kubeconfig context (as on the operator's own context)")
    if re.search(r"\s-k\s+k8s/overlays/production\b", text):
        rewrites.append("k8s/overlays/production is the drill's working copy: kustomization.yaml's image tag "
                        "IMAGE_TAG set to the stub image built for this drill, secrets.env written by the "
                        "harness (values redacted)")
    return Substituted(text, "; ".join(notes), tuple(rewrites))
