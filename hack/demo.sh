#!/usr/bin/env bash
# Runs the demo driver (hack/demo/main.go); `make demo` builds bin/ and the control plane first.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v kubectl >/dev/null 2>&1; then
  echo "demo: kubectl is not installed: the demo drives the cluster with kubectl; install it and run 'make demo' again" >&2
  exit 1
fi
exec go run ./hack/demo
