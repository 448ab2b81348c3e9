#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from pinned Go modules, and copies
# their CRDs out of the same module versions.
#
# Why from source: no Docker here (so no controller images), only package registries; the Go
# module proxy serves the controllers' source. Each controller has its own go.mod beside this
# script (source/, kustomize/) so neither drags the other's dependency versions. Idempotent:
# binaries land in $CACHE/bin/<name>-<version>/<name>, CRDs in $CACHE/bin/flux-crds-<versions>/,
# and both are skipped when present.
#
# stdout: MG_FLUX_SOURCE_CONTROLLER= / MG_FLUX_KUSTOMIZE_CONTROLLER= / MG_FLUX_CRDS= lines (for
# `set -a; . file`); logs go to stderr.
# Env: MG_CACHE (default ~/.cache/migration-gate); GOMODCACHE / GOCACHE default under it;
# MG_GO_P (default 2): `go build -p`, 1 when another build shares the two cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-env.sh
. "$here/../lib/go-env.sh" "tools/flux/build.sh"
jobs="${MG_GO_P:-2}"

# build NAME DIR MODULE: NAME from MODULE's root package at the version DIR's go.mod pins.
build() {
    local name="$1" dir="$2" module="$3" version out tmp start
    version="$(cd "$dir" && go list -m -f '{{.Version}}' "$module")"
    out="$bin_root/$name-$version/$name"
    if [[ -x "$out" ]]; then
        log "cached: $name ($version)"
        echo "$out"
        return 0
    fi
    tmp="$(mktemp -d "$bin_root/.build.XXXXXX")"
    log "building $module ($version) ..."
    start=$SECONDS
    # The upstream Dockerfile's flags (-trimpath, CGO off), stripped like tools/k8s.
    if ! (cd "$dir" && go build -p "$jobs" -trimpath -ldflags="-s -w" -o "$tmp/$name" "$module"); then
        rm -rf "$tmp"
        die "go build $module failed (module dir $dir)"
    fi
    mkdir -p "$(dirname "$out")"
    mv -f "$tmp/$name" "$out"
    rm -rf "$tmp"
    log "built $name in $((SECONDS - start)) s"
    echo "$out"
}

# module_dir DIR MODULE -> MODULE's directory in the module cache (downloads it if needed).
module_dir() {
    (cd "$1" && go mod download "$2" && go list -m -f '{{.Dir}}' "$2")
}

src_bin="$(build source-controller "$here/source" github.com/fluxcd/source-controller)"
kus_bin="$(build kustomize-controller "$here/kustomize" github.com/fluxcd/kustomize-controller)"

# The CRDs each release ships (config/crd/bases), copied from the very module versions built
# above, so the API the controllers speak is the API installed.
src_version="$(basename "$(dirname "$src_bin")")"
kus_version="$(basename "$(dirname "$kus_bin")")"
crds="$bin_root/flux-crds-${src_version#source-controller-}-${kus_version#kustomize-controller-}"
if [[ ! -f "$crds/.complete" ]]; then
    tmp="$(mktemp -d "$bin_root/.crds.XXXXXX")"
    for spec in source:github.com/fluxcd/source-controller kustomize:github.com/fluxcd/kustomize-controller; do
        dir="$(module_dir "$here/${spec%%:*}" "${spec#*:}")"
        cp "$dir"/config/crd/bases/*.yaml "$tmp/" || die "no CRDs in $dir/config/crd/bases"
    done
    chmod 0644 "$tmp"/*.yaml
    touch "$tmp/.complete"
    rm -rf "$crds"
    mv -f "$tmp" "$crds"
    log "CRDs in $crds"
fi

echo "MG_FLUX_SOURCE_CONTROLLER=$src_bin"
echo "MG_FLUX_KUSTOMIZE_CONTROLLER=$kus_bin"
echo "MG_FLUX_CRDS=$crds"
