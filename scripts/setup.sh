#!/usr/bin/env bash
# One-time (and idempotent) set-up of a fresh machine: Debian packages, the Python venv, and the
# Kubernetes/etcd/CoreDNS/helm binaries built from the Go module proxy (cached outside the repo in
# ${ROLLBACK_DRILL_CACHE:-/var/cache/rollback-drill}, keyed by version; a second run reuses them).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(containerd runc containernetworking-plugins iptables conntrack debootstrap docker.io redis-tools
      postgresql-client socat iproute2 kmod openssl curl chromium fonts-ipafont-gothic tmux procps)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts its own redis/postgresql services on install where it can; the drill runs its own
# (as Docker containers, src/rollback_drill/sut/datastores.py).
for svc in redis-server postgresql; do service "$svc" stop >/dev/null 2>&1 || true; done
# The Docker engine for the datastores' containers: no systemd here, so dockerd is started by hand.
if ! docker info >/dev/null 2>&1; then
  echo "setup: starting the Docker engine (dockerd)"
  mkdir -p /var/log/rollback-drill
  (nohup dockerd >/var/log/rollback-drill/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  if ! docker info >/dev/null 2>&1; then
    echo "setup: dockerd did not start; see /var/log/rollback-drill/dockerd.log" >&2
    exit 4
  fi
fi

if [[ ! -x .venv/bin/rollback-drill ]] || ! .venv/bin/python -c "import rollback_drill, locust, pytest_bdd, kubernetes, testcontainers, markdown_it, mdit_py_plugins, jsonschema, hypothesis, importlinter, xdist" 2>/dev/null; then
  echo "setup: creating .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
fi

echo "setup: Kubernetes binaries and metrics-server (cold build: ~15 min on 2 cores; cached afterwards)"
bash cluster/local/build-binaries.sh >/dev/null
CACHE="${ROLLBACK_DRILL_CACHE:-/var/cache/rollback-drill}"
if [[ ! -x "$CACHE/tools/actionlint" ]]; then
  echo "setup: actionlint (lints the nightly workflow) from the Go module proxy"
  GOTOOLCHAIN=local GOBIN="$CACHE/tools" GOCACHE="$CACHE/gocache" GOPATH="$CACHE/gopath" \
    go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.7
fi
echo "setup: done"
