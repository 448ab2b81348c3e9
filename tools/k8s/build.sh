#!/usr/bin/env bash
# Builds the e2e control-plane tools (kube-apiserver, kubectl, etcd, helm) from pinned Go modules.
#
# Why from source: these machines have no Docker (so no kind) and reach only package registries,
# so the real binaries come from the Go module proxy, pinned by the go.mod/go.sum files beside
# this script. Idempotent: each binary lands in $CACHE/bin/<name>-<version>/<name> and is skipped
# when present, so only the first run on a machine pays for the build.
#
# stdout: one `MG_<TOOL>=<path>` line per tool (for `set -a; . file`); logs go to stderr.
# Env: MG_CACHE (default ~/.cache/migration-gate); GOMODCACHE / GOCACHE default under it so a
# fresh clone reuses them; set them to empty temp dirs to measure a true cold build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/go-env.sh
. "$here/../lib/go-env.sh" "tools/k8s/build.sh"

# module_version DIR MODULE -> the version DIR's go.mod pins for MODULE.
module_version() {
    (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

# build_group DIR VERSION LDFLAGS NAME=PKG... : builds every missing NAME in one `go build`
# (one invocation shares compilation of the common dependencies between the binaries).
build_group() {
    local dir="$1" version="$2" ldflags="$3"
    shift 3
    local missing=() pkgs=() spec name pkg
    for spec in "$@"; do
        name="${spec%%=*}"
        if [[ ! -x "$bin_root/$name-$version/$name" ]]; then
            missing+=("$spec")
            pkgs+=("${spec#*=}")
        fi
    done
    if ((${#missing[@]} == 0)); then
        log "cached: ${*%%=*} ($version)"
        return 0
    fi
    local tmp
    tmp="$(mktemp -d "$bin_root/.build.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    log "building ${pkgs[*]} ($version) ..."
    local start=$SECONDS
    for spec in "${missing[@]}"; do
        name="${spec%%=*}"
        pkg="${spec#*=}"
        (cd "$dir" && go build -p 2 -trimpath -ldflags="-s -w $ldflags" -o "$tmp/$name" "$pkg") ||
            die "go build $pkg failed (module dir $dir)"
    done
    for spec in "${missing[@]}"; do
        name="${spec%%=*}"
        mkdir -p "$bin_root/$name-$version"
        mv -f "$tmp/$name" "$bin_root/$name-$version/$name"
    done
    log "built ${missing[*]%%=*} in $((SECONDS - start)) s"
}

kube_dir="$here/kube"
helm_dir="$here/helm"
kube_version="$(module_version "$kube_dir" k8s.io/kubernetes)"
etcd_version="$(module_version "$kube_dir" go.etcd.io/etcd/server/v3)"
helm_version="$(module_version "$helm_dir" helm.sh/helm/v4)"

# What hack/lib/version.sh stamps in a release build, so `kubectl version` and the server's
# /version report the real version instead of v0.0.0-master (kubectl warns on skew otherwise).
kube_minor="${kube_version#v1.}"
kube_minor="${kube_minor%%.*}"
kube_ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ldflags+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=1 -X $p.gitMinor=$kube_minor"
    kube_ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

build_group "$kube_dir" "$kube_version" "$kube_ldflags" \
    kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
    kubectl=k8s.io/kubernetes/cmd/kubectl
build_group "$kube_dir" "$etcd_version" "" \
    etcd=go.etcd.io/etcd/server/v3
build_group "$helm_dir" "$helm_version" \
    "-X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    helm=helm.sh/helm/v4/cmd/helm

echo "MG_KUBE_APISERVER=$bin_root/kube-apiserver-$kube_version/kube-apiserver"
echo "MG_KUBECTL=$bin_root/kubectl-$kube_version/kubectl"
echo "MG_ETCD=$bin_root/etcd-$etcd_version/etcd"
echo "MG_HELM=$bin_root/helm-$helm_version/helm"
