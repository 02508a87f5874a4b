#!/usr/bin/env bash
# Regenerate go.mod for a Kubernetes/etcd version bump: k8s.io/kubernetes requires its staging modules at
# v0.0.0 and replaces them with local folders, so we replace each one with its published v0.X.Y tag.
# Usage: gen-gomod.sh 1.36.3 3.6.16          (this folder: the test environment's Kubernetes and etcd)
#        gen-gomod.sh 1.36.1 "" ../k8s-previous   (the previous control plane, for upgrade tests; no etcd)
#        gen-gomod.sh 1.36.3 "" ../k8s-e2e        (the conformance suite: e2e.test, ginkgo, agnhost)
# A folder's `tool` directives (programs of its dependencies it builds) are kept.
set -euo pipefail
k8s=${1:?kubernetes version, e.g. 1.36.3}; etcd=${2-}
export GOTOOLCHAIN=local
cd "$(dirname "$0")/${3:-.}"
gomod=$(go mod download -json "k8s.io/kubernetes@v$k8s" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
tools=$(grep '^tool ' go.mod 2>/dev/null || true)
staging=$(grep -oE '^\s+k8s.io/[a-z0-9-]+ => ./staging' "$gomod" | awk '{print $1}')
{
  echo "module github.com/kubeception/kubeception/tools/testenv/$(basename "$PWD")"
  echo
  echo "go 1.26.0"
  echo
  echo "require ("
  [ -z "$etcd" ] || echo "	go.etcd.io/etcd/server/v3 v$etcd"
  echo "	k8s.io/kubernetes v$k8s"
  echo ")"
  echo
  echo "replace ("
  for m in $staging; do echo "	$m => $m v0.${k8s#1.}"; done
  echo ")"
  [ -z "$tools" ] || printf '\n%s\n' "$tools"
} > go.mod
go mod tidy
