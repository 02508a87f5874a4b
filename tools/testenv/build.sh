#!/usr/bin/env bash
# Build the test-environment binaries into a cache outside the clone: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy (Kubernetes; and the previous patch release's
# control plane, kubelet and kube-proxy), containerd, its runc shim and ctr, kwok, helm, CoreDNS (the cluster DNS
# of the local mother and the guests), Ignition's validator, and the Go programs of the project's images (pause,
# flanneld, the worker VMs' nodeinit and CNI plugins, konnectivity's server and agent, metrics-server,
# kube-network-policies).
# Each Go module is built once per content hash of its go.mod + go.sum (and its own sources), so a second run (or
# a second clone) costs nothing.
# Prints the bin directory that holds all binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${KUBECEPTION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeception}
bin=$cache/testenv/bin
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
mkdir -p "$bin"

modversion() {  # modversion DIR MODULE -> version required in DIR/go.mod
  awk -v m="$2" '$1 == m { print $2; exit }' "$1/go.mod"
}

build_module() {  # build_module NAME DIR LDFLAGS PACKAGES... (env: TAGS, CGO_ENABLED, INTO: a folder of bin, GO: build)
  local name=$1 dir=$2 ldflags=$3; shift 3
  local key; key=$(cat "$dir/go.mod" "$dir/go.sum" $(find "$dir" -name '*.go' | sort) | sha256sum | cut -c1-16)
  local out=$cache/testenv/$name-$key
  if [ ! -f "$out/.complete" ]; then
    echo "testenv: building $name ($key) into $out" >&2
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    local start=$SECONDS
    (cd "$dir" && go ${GO:-build} -trimpath -tags "${TAGS:-}" -ldflags "-s -w $ldflags" -o "$out.tmp/" "$@")
    touch "$out.tmp/.complete" && rm -rf "$out" && mv "$out.tmp" "$out"
    echo "testenv: built $name in $((SECONDS - start)) s" >&2
  fi
  local f into=$bin/${INTO:-}
  mkdir -p "$into"
  for f in "$out"/*; do ln -sfn "$f" "$into/$(basename "$f")"; done
}

k8s_ldflags() {  # k8s_ldflags VERSION -> what `kubectl version` and /version report
  echo "-X k8s.io/component-base/version.gitVersion=$1 -X k8s.io/component-base/version.gitTreeState=clean \
    -X k8s.io/component-base/version.gitMajor=$(echo "${1#v}" | cut -d. -f1) \
    -X k8s.io/component-base/version.gitMinor=$(echo "${1#v}" | cut -d. -f2)"
}
# `build.sh conformance`: only the Kubernetes conformance suite (make conformance; never make testenv, it is
# large): e2e.test (`go test -c`), ginkgo and agnhost (its image, images/agnhost.yaml) of the guests' version.
if [ "${1:-}" = conformance ]; then
  GO="test -c" build_module e2e "$here/k8s-e2e" "$(k8s_ldflags "$(modversion "$here/k8s-e2e" k8s.io/kubernetes)")" \
    k8s.io/kubernetes/test/e2e
  CGO_ENABLED=0 build_module e2e-tools "$here/k8s-e2e" "" github.com/onsi/ginkgo/v2/ginkgo \
    k8s.io/kubernetes/test/images/agnhost
  echo "$bin"
  exit 0
fi
build_module k8s "$here/k8s" "$(k8s_ldflags "$(modversion "$here/k8s" k8s.io/kubernetes)")" ./cmd/...
# The previous Kubernetes patch release's control plane (kvm-operator's upgrade tests roll a guest from it), in
# bin/<version>/ for images/kubernetes-previous.yaml.
previous=$(modversion "$here/k8s-previous" k8s.io/kubernetes)
INTO=$previous build_module k8s-previous "$here/k8s-previous" "$(k8s_ldflags "$previous")" ./cmd/...
build_module kwok "$here/kwok" "-X sigs.k8s.io/kwok/pkg/consts.Version=$(modversion "$here/kwok" sigs.k8s.io/kwok)" \
  sigs.k8s.io/kwok/cmd/kwok
build_module helm "$here/helm" "-X helm.sh/helm/v3/internal/version.version=$(modversion "$here/helm" helm.sh/helm/v3)" \
  helm.sh/helm/v3/cmd/helm
containerd=$(modversion "$here/containerd" github.com/containerd/containerd/v2)
TAGS="no_btrfs no_devmapper no_zfs" build_module containerd "$here/containerd" \
  "-X github.com/containerd/containerd/v2/version.Version=$containerd" \
  github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr
CGO_ENABLED=0 build_module coredns "$here/coredns" "-X github.com/coredns/coredns/coremain.GitCommit=$(modversion "$here/coredns" github.com/coredns/coredns)" .
CGO_ENABLED=0 build_module pause "$root/images/pause" "" .
CGO_ENABLED=0 build_module nodeinit "$root/images/node/nodeinit" "" .
# Ignition's own validator: the tests check every worker boot configuration kvm-operator renders with it.
CGO_ENABLED=0 build_module ignition "$here/ignition" "" github.com/coreos/ignition/v2/validate
ln -sfn "$(readlink "$bin/validate")" "$bin/ignition-validate" && rm "$bin/validate"
flannel=$(modversion "$root/images/flannel" github.com/flannel-io/flannel)
build_module flannel "$root/images/flannel" "-X github.com/flannel-io/flannel/pkg/version.Version=$flannel" \
  github.com/flannel-io/flannel
# kube-network-policies (NetworkPolicy on the local mother's real nodes) with a patch of ours, its reasons in the
# file: the module the Go proxy serves is copied to a scratch directory, patched there and built through a replace
# to that copy (the build's key covers the patched sources).
knp=$root/images/kube-network-policies
knp_work=$cache/testenv/kube-network-policies.src
knp_module=sigs.k8s.io/kube-network-policies@$(modversion "$knp" sigs.k8s.io/kube-network-policies)
knp_source=$(cd "$knp" && go mod download -json "$knp_module" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
rm -rf "$knp_work" && mkdir -p "$knp_work" && cp "$knp/go.mod" "$knp/go.sum" "$knp_work/"
cp -r "$knp_source" "$knp_work/upstream" && chmod -R u+w "$knp_work/upstream"
patch -d "$knp_work/upstream" -p1 --quiet --no-backup-if-mismatch < "$knp/nfqueue-xt-target.patch"
(cd "$knp_work" && go mod edit -replace sigs.k8s.io/kube-network-policies=./upstream)
CGO_ENABLED=0 build_module kube-network-policies "$knp_work" "" sigs.k8s.io/kube-network-policies/cmd
ln -sfn "$(readlink "$bin/cmd")" "$bin/kube-network-policies" && rm "$bin/cmd" && rm -rf "$knp_work"
# The worker VMs' CNI plugins (bin/cni/): portmap and bridge of this release speak nftables, so a VM needs no
# iptables. Static: they run in the VM's initramfs.
cni=github.com/containernetworking/plugins
CGO_ENABLED=0 INTO=cni build_module cni "$here/cni" \
  "-X $cni/pkg/utils/buildversion.BuildVersion=$(modversion "$here/cni" $cni)" \
  $cni/plugins/main/bridge $cni/plugins/main/loopback $cni/plugins/ipam/host-local $cni/plugins/meta/portmap
# Guest add-ons: konnectivity's server (beside a guest's API server) and agent (bin/konnectivity/: upstream names
# them server and agent), and metrics-server.
konnectivity=sigs.k8s.io/apiserver-network-proxy
CGO_ENABLED=0 INTO=konnectivity build_module konnectivity "$here/konnectivity" "" $konnectivity/cmd/server \
  $konnectivity/cmd/agent
CGO_ENABLED=0 build_module metrics-server "$here/metrics-server" \
  "-X k8s.io/client-go/pkg/version.gitVersion=$(modversion "$here/metrics-server" sigs.k8s.io/metrics-server)" \
  sigs.k8s.io/metrics-server/cmd/metrics-server
echo "$bin"
