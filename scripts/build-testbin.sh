#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) from Go
# modules into a cache outside the repository, keyed by version. A second run finds the binaries
# and returns at once. Recipe: testbin/k8s/go.mod and testbin/etcd/go.mod (see README, "Test
# control plane"). Helm: testbin/helm/go.mod.
#
# Settings (environment):
#   TESTBIN_DIR  where binaries go (default: ${XDG_CACHE_HOME:-$HOME/.cache}/jfo-testbin/<versions>)
#
# Prints the binary directory on its last line of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
K8S_VERSION=v1.36.3
K8S_MINOR=36
ETCD_VERSION=v3.6.16
out=${TESTBIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jfo-testbin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION}
mkdir -p "$out"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

# Helm (the chart's renderer and linter), from Go modules (testbin/helm/go.mod), into the same
# directory. Keyed by the version the binary reports, so a version change rebuilds it.
HELM_VERSION=v4.3.2
if [ "$("$out/helm" version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]; then
  helm_tmp=$(mktemp -d)
  ( cd "$here/testbin/helm" && go build -trimpath \
      -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
      -o "$helm_tmp/helm" helm.sh/helm/v4/cmd/helm ) >&2
  mv "$helm_tmp/helm" "$out/helm"
  rm -rf "$helm_tmp"
fi

want=(etcd kube-apiserver kube-controller-manager kubectl)
missing=0
for b in "${want[@]}"; do [ -x "$out/$b" ] || missing=1; done
if [ "$missing" = 0 ]; then
  echo "$out"
  exit 0
fi

vld="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
vld+=" -X k8s.io/component-base/version.gitMinor=$K8S_MINOR -X k8s.io/component-base/version.gitTreeState=clean"
vld+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
vld+=" -X k8s.io/client-go/pkg/version.gitMinor=$K8S_MINOR -X k8s.io/client-go/pkg/version.gitTreeState=clean"

start=$(date +%s)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Build into a temporary directory, then move: an interrupted build never leaves a half binary
# that the cache check above would take for a finished one.
( cd "$here/testbin/etcd" && go build -trimpath -ldflags="-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 ) >&2
( cd "$here/testbin/k8s" && go build -trimpath -ldflags="-s -w $vld" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl ) >&2
for b in "${want[@]}"; do mv "$tmp/$b" "$out/$b"; done
echo "Built test control plane in $(( $(date +%s) - start )) s" >&2
echo "$out"
