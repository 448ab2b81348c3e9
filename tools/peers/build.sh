#!/usr/bin/env bash
# Builds the peer policy CLIs that B10 compares `migration-gate validate` with, from their Go
# modules at pinned versions, into ~/.cache/migration-gate/bin/<tool>-<version>/<tool>.
# Idempotent: a tool already built at its pinned version is skipped. Prints one line per tool:
#   <tool> <version> <path> <seconds to build>   or   <tool> <version> FAILED <why>
# Builds run with -p 1 when another `go build` is running (a 2-core machine is shared).
#   tools/peers/build.sh [conftest] [gator] [kyverno]   (default: all three)
set -uo pipefail

cache="${MIGRATION_GATE_CACHE:-$HOME/.cache/migration-gate}"
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-mod=mod GOTOOLCHAIN=local
log() { printf 'tools/peers/build.sh: %s\n' "$*" >&2; }

declare -A PKG=(
    [conftest]="github.com/open-policy-agent/conftest"
    [gator]="github.com/open-policy-agent/gatekeeper/v3/cmd/gator"
    [kyverno]="github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno"
)
declare -A VERSION=([conftest]="v0.71.1" [gator]="v3.23.1" [kyverno]="v1.19.1")
declare -A BINARY=([conftest]="conftest" [gator]="gator" [kyverno]="kubectl-kyverno")

command -v go >/dev/null 2>&1 || { log "no Go toolchain"; exit 1; }
status=0
for tool in "${@:-conftest gator kyverno}"; do
  for t in $tool; do
    v="${VERSION[$t]:-}"
    [[ -n "$v" ]] || { log "unknown peer $t"; status=1; continue; }
    dir="$cache/bin/$t-$v"
    if [[ -x "$dir/${BINARY[$t]}" ]]; then
        echo "$t $v $dir/${BINARY[$t]} cached"; continue
    fi
    par=()
    if [[ $t == kyverno ]] || pgrep -f "go build" >/dev/null 2>&1 || pgrep -x compile >/dev/null 2>&1; then
        par=(-p 1)  # kyverno: about 430 modules, always one package at a time on a shared machine
    fi
    mkdir -p "$dir.tmp"
    log "building $t $v (${par[*]:-parallel}; a one-off, minutes)"
    start=$(date +%s)
    if [[ $t == kyverno ]]; then
        # kyverno's go.mod has a replace directive (k8s.io/pod-security-admission => its fork),
        # which `go install pkg@version` refuses by design: build inside a copy of the module
        build() {
            local mod src
            mod="github.com/kyverno/kyverno@$v"
            src=$(go mod download -json "$mod" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p') || return 1
            [[ -n "$src" ]] || return 1
            rm -rf "$dir.src" && cp -r "$src" "$dir.src" && chmod -R u+w "$dir.src" || return 1
            (cd "$dir.src" && GOFLAGS=-mod=mod go build "${par[@]}" -trimpath \
                -ldflags="-s -w" -o "$dir.tmp/${BINARY[$t]}" ./cmd/cli/kubectl-kyverno)
        }
    else
        build() {
            GOBIN="$dir.tmp" go install "${par[@]}" -trimpath -ldflags="-s -w" "${PKG[$t]}@$v"
        }
    fi
    if build >"$dir.log" 2>&1; then
        rm -rf "$dir.src"
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
        echo "$t $v $dir/${BINARY[$t]} $(( $(date +%s) - start ))"
    else
        rm -rf "$dir.tmp" "$dir.src"
        echo "$t $v FAILED $(tail -n 3 "$dir.log" | tr '\n' ' ')"
        status=1
    fi
  done
done
exit $status
