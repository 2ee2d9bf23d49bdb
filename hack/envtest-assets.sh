#!/usr/bin/env bash
# Builds kube-apiserver and etcd for envtest from the Go module proxy, so tests and
# `make demo` need no download site. Binaries are cached outside the repo, keyed by
# version; a warm run only checks the cache. Prints the assets directory on stdout.
#
# Versions are pinned to the Kubernetes version of controller-runtime in go.mod
# (controller-runtime v0.25 builds on k8s.io/* v0.37 = Kubernetes 1.37, etcd 3.7).
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.0}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-3.7.0}"

log() { echo "envtest-assets: $*" >&2; }

has_assets() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ]; }

# Reuse assets the caller already provides.
if [ -n "${KUBEBUILDER_ASSETS:-}" ] && has_assets "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

cache_root="${KUBELICENSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubelicense}"
assets="$cache_root/envtest/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
if has_assets "$assets"; then
  echo "$assets"
  exit 0
fi

mkdir -p "$cache_root/envtest"
# Two runs starting at once: the second waits for the first, then finds the cache warm.
exec 9>"$cache_root/envtest/.lock"
if ! flock -n 9; then
  log "another build is running; waiting for it"
  flock 9
fi
if has_assets "$assets"; then
  echo "$assets"
  exit 0
fi

command -v go >/dev/null || { log "go is not on PATH: install Go 1.26+"; exit 1; }
work="$(mktemp -d "$cache_root/envtest/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOWORK=off

log "building kube-apiserver v$K8S_VERSION and etcd v$ETCD_VERSION from the Go module proxy (first run: about 15-20 minutes on 2 cores)"

# kube-apiserver: k8s.io/kubernetes replaces its staging modules with ./staging paths,
# which do not exist in the module zip; a throwaway module points each one at its
# published version (v0.X.Y for Kubernetes v1.X.Y).
staging_version="v0.${K8S_VERSION#1.}"
mkdir -p "$work/apiserver"
(
  cd "$work/apiserver"
  go mod init kubelicense.local/envtest-apiserver >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
  go mod download "k8s.io/kubernetes@v$K8S_VERSION"
  modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v$K8S_VERSION.mod"
  for m in $(sed -n '/^replace (/,/^)/p' "$modfile" | awk '$2 == "=>" && $3 ~ /^\.\/staging/ {print $1}'); do
    go mod edit -replace="$m=$m@$staging_version"
  done
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  ldflags="-s -w"
  for kv in "gitVersion=v$K8S_VERSION" "gitMajor=${K8S_VERSION%%.*}" "gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)" "gitTreeState=clean"; do
    ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
  done
  go build -trimpath -ldflags "$ldflags" -o "$work/out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
)
log "kube-apiserver built"

# etcd: the server module carries the etcd main package.
mkdir -p "$work/etcd"
(
  cd "$work/etcd"
  go mod init kubelicense.local/envtest-etcd >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$work/out/etcd" go.etcd.io/etcd/server/v3
)
log "etcd built"

# Publish atomically: a reader sees either no directory or a complete one.
rm -rf "$assets.tmp"
mv "$work/out" "$assets.tmp"
mv "$assets.tmp" "$assets"
echo "$assets"
