"""The offline image pipeline: build OCI images from Debian packages and project files, no registry.

It lives with the cluster because the cluster needs it first: the node's pod sandbox (`pause_image`)
is built here before any pod can start. The system under test builds its own images with the same
pipeline (sut/images.py) and hands them to `Cluster.load_image`; the cluster never asks for them.

Why by hand: these machines have no registry and Docker cannot build, so an image is a rootfs
made with debootstrap (cached by its package list) plus a small layer of our own files (cached
by content), written as an OCI archive that `ctr images import` (local provider) or
`kind load image-archive` (kind provider) understands. The tag is the content hash, so a
changed input gives a new image and an unchanged one is never rebuilt.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rollback_drill import FIXTURES
from rollback_drill.settings import cache_dir

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("ROLLBACK_DRILL_DEBIAN_MIRROR", "http://deb.debian.org/debian")
REPO = "docker.io/rollback-drill"


class ImageBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Image:
    name: str  # full reference, e.g. docker.io/rollback-drill/mastodon-stub:3f2a...
    archive: Path  # OCI archive to import

    @property
    def short(self) -> str:
        return self.name.removeprefix("docker.io/")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def images_dir() -> Path:
    d = cache_dir() / "images"
    d.mkdir(parents=True, exist_ok=True)
    return d


def debian_rootfs(packages: tuple[str, ...]) -> Path:
    """A gzip'd tar of a minbase Debian rootfs with `packages`, built once per package list."""
    key = sha(json.dumps([DEBIAN_SUITE, sorted(packages)]).encode())[:16]
    out = images_dir() / f"debian-{DEBIAN_SUITE}-{key}.tar.gz"
    if out.exists():
        return out
    if not shutil.which("debootstrap"):
        raise ImageBuildError("debootstrap is missing: install it with 'apt-get install -y debootstrap'")
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        root = Path(tmp) / "root"
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", DEBIAN_SUITE,
               str(root), DEBIAN_MIRROR]
        log = Path(tmp) / "debootstrap.log"
        with log.open("w") as fh:
            rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT)
        if rc != 0:
            tail = log.read_text(errors="replace").splitlines()[-15:]
            raise ImageBuildError("debootstrap failed:\n  " + "\n  ".join(tail))
        # Slim the image: apt lists and caches are not needed at run time.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
            shutil.rmtree(root / junk, ignore_errors=True)
        partial = out.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-czf", str(partial), "."], check=True)
        partial.rename(out)
    return out


def layer_from_files(files: dict[str, tuple[bytes, int]]) -> bytes:
    """An uncompressed tar layer from {path: (content, mode)} with fixed metadata (reproducible)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for path in sorted(files):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(ti)
            data, mode = files[path]
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = len(data), mode, 0
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def write_oci_archive(name: str, layers: list[tuple[bytes, bool]], config: dict, out: Path) -> Path:
    """Write an OCI image-layout tar. `layers` are (blob, is_gzipped) from the bottom up."""
    blobs: dict[str, bytes] = {}
    layer_descs, diff_ids = [], []
    for blob, gz in layers:
        digest = sha(blob)
        blobs[digest] = blob
        raw = gzip.decompress(blob) if gz else blob
        diff_ids.append("sha256:" + sha(raw))
        media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gz else "")
        layer_descs.append({"mediaType": media, "digest": "sha256:" + digest, "size": len(blob)})
    cfg = {"architecture": "amd64", "os": "linux", "config": config,
           "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": []}
    cfg_blob = json.dumps(cfg, sort_keys=True).encode()
    blobs[sha(cfg_blob)] = cfg_blob
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + sha(cfg_blob), "size": len(cfg_blob)},
                "layers": layer_descs}
    man_blob = json.dumps(manifest, sort_keys=True).encode()
    blobs[sha(man_blob)] = man_blob
    tag = name.rsplit(":", 1)[1]
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(man_blob),
        "size": len(man_blob),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}}]}
    partial = out.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        def add(path: str, data: bytes) -> None:
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            tar.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", json.dumps(index).encode())
        # the Docker archive index too, so `docker load` of Docker 20.10 reads the same file
        add("manifest.json", json.dumps([{"Config": f"blobs/sha256/{sha(cfg_blob)}", "RepoTags": [name],
                                          "Layers": [f"blobs/sha256/{d['digest'][7:]}" for d in layer_descs]}]).encode())
        for digest, blob in blobs.items():
            add(f"blobs/sha256/{digest}", blob)
    partial.rename(out)
    return out


def pause_image() -> Image:
    """The pod sandbox image: a tiny static Go program (FROM scratch), built by the Go toolchain."""
    src = FIXTURES / "images" / "pause" / "main.go"
    key = sha(src.read_bytes())[:12]
    name = f"{REPO}/pause:{key}"
    out = images_dir() / f"pause-{key}.oci.tar"
    if not out.exists():
        with tempfile.TemporaryDirectory() as tmp:
            binary = Path(tmp) / "pause"
            env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod",
                       GOCACHE=str(cache_dir() / "gocache"), GO111MODULE="off")
            proc = subprocess.run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), str(src)],
                                  env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise ImageBuildError(f"building the pause image failed: {proc.stderr.strip()}")
            layer = layer_from_files({"pause": (binary.read_bytes(), 0o755)})
        write_oci_archive(name, [(layer, False)], {"Entrypoint": ["/pause"]}, out)
    return Image(name, out)
