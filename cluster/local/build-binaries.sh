#!/usr/bin/env bash
# Build the upstream Kubernetes components, etcd, CoreDNS, helm and metrics-server from the Go module proxy.
#
# Why a wrapper module: `go install k8s.io/kubernetes/cmd/...@vX` refuses to work because the
# kubernetes module uses replace directives for its staging modules. We require it from a tiny
# module of our own and replace each staging module with its published v0.<minor>.<patch>.
#
# Output: $CACHE/bin/<version>/{etcd,kube-apiserver,...}; a stamp file marks a complete build,
# so a second run returns at once. Usage: build-binaries.sh [CACHE_DIR]
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.19.5}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.4}"
CACHE="${1:-${ROLLBACK_DRILL_CACHE:-/var/cache/rollback-drill}}"
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}_coredns-${COREDNS_VERSION}"
OUT="$CACHE/bin/$KEY"
STAMP="$OUT/.complete"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOPATH="${GOPATH:-$CACHE/gopath}" GOCACHE="${GOCACHE:-$CACHE/gocache}"

# --- metrics-server (`kubectl top`; keep its version in step with METRICS_SERVER_VERSION in
# src/rollback_drill/cluster/local.py) ----------------------------------------------------------
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.8.0}"
if [[ ! -x "$CACHE/bin/metrics-server-$METRICS_SERVER_VERSION/metrics-server" ]]; then
  echo "[build $(date +%T)] metrics-server $METRICS_SERVER_VERSION" >&2
  GOBIN="$CACHE/bin/metrics-server-$METRICS_SERVER_VERSION" GOFLAGS= \
    go install "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION" >&2
fi

# Bump when the CoreDNS plugin list below changes: only CoreDNS is rebuilt then.
COREDNS_RECIPE=2
if [[ -f "$STAMP" && -f "$OUT/.coredns-recipe-$COREDNS_RECIPE" ]]; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$OUT" "$CACHE/src"
minor="${K8S_VERSION#v1.}"          # 34.4
staging_version="v0.${minor}"       # v0.34.4
major_minor="${K8S_VERSION%.*}"     # v1.34

STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
  kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller)

log() { echo "[build $(date +%T)] $*" >&2; }

# --- Kubernetes ---------------------------------------------------------------------------
src="$CACHE/src/kubernetes-$K8S_VERSION"
mkdir -p "$src"
cd "$src"
if [[ ! -f go.mod ]]; then
  cat > go.mod <<EOF
module rollbackdrill/k8sbuild

go 1.24
EOF
  cat > tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
  for m in "${STAGING[@]}"; do
    go mod edit -replace "k8s.io/$m=k8s.io/$m@$staging_version"
  done
  go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
  log "resolving kubernetes $K8S_VERSION modules"
  go mod tidy -e >/dev/null 2>&1 || true
  go get "k8s.io/kubernetes@$K8S_VERSION"
fi
git_major=1
git_minor="${major_minor#v1.}"
ld=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$git_major -X $pkg.gitMinor=$git_minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
if [[ ! -f "$STAMP" ]]; then
log "building kubernetes components (cold: tens of minutes on 2 cores)"
go build -trimpath -ldflags "-s -w $ld" -o "$OUT/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl
fi

# --- etcd ---------------------------------------------------------------------------------
src="$CACHE/src/etcd-$ETCD_VERSION"
mkdir -p "$src" && cd "$src"
if [[ ! -f go.mod ]]; then
  printf 'module rollbackdrill/etcdbuild\n\ngo 1.24\n' > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
fi
[[ -f "$STAMP" ]] || { log "building etcd $ETCD_VERSION"; go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3; }

# --- CoreDNS with only the plugins a cluster DNS needs --------------------------------------
src="$CACHE/src/coredns-$COREDNS_VERSION-r$COREDNS_RECIPE"
mkdir -p "$src" && cd "$src"
if [[ ! -f go.mod ]]; then
  printf 'module rollbackdrill/corednsbuild\n\ngo 1.24\n' > go.mod
  cat > main.go <<'EOF'
// A CoreDNS with the few plugins a single-node drill cluster needs (the full build pulls
// every cloud SDK and doubles the compile time on two cores).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	"github.com/coredns/coredns/coremain"
)

func init() {
	dnsserver.Directives = []string{"reload", "bind", "log", "health", "ready", "errors", "cache",
		"loadbalance", "kubernetes", "forward"}
}

func main() { coremain.Run() }
EOF
  go get "github.com/coredns/coredns@$COREDNS_VERSION"
  go mod tidy
fi
log "building coredns $COREDNS_VERSION"
go build -trimpath -ldflags "-s -w" -o "$OUT/coredns" .
touch "$OUT/.coredns-recipe-$COREDNS_RECIPE"

# --- helm ---------------------------------------------------------------------------------
src="$CACHE/src/helm-$HELM_VERSION"
mkdir -p "$src" && cd "$src"
if [[ ! -f go.mod ]]; then
  printf 'module rollbackdrill/helmbuild\n\ngo 1.24\n' > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v3/cmd/helm"\n' > tools.go
  go get "helm.sh/helm/v3@$HELM_VERSION"
  go mod tidy -e >/dev/null 2>&1 || true
fi
[[ -f "$STAMP" ]] || { log "building helm $HELM_VERSION"
go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  -o "$OUT/helm" helm.sh/helm/v3/cmd/helm; }

touch "$STAMP"
log "done: $OUT"
echo "$OUT"
