#!/usr/bin/env bash
# Installs the load generators and the profiler the benchmarks use. Idempotent: each tool is
# skipped when already present; anything built or downloaded lands under ~/.cache/migration-gate.
#   wrk  (throughput, Lua POST bodies)      Debian package `wrk`
#   vegeta (fixed-rate latency, open loop)  built from its Go module github.com/tsenart/vegeta/v12
#                                           (Go module proxy) into $CACHE/bin when Go is present
#   hey  (fixed-rate fallback, -q)          Debian package `hey`, else built from its Go module
#                                           github.com/rakyll/hey into $CACHE/bin
#   py-spy (sampling profiler)              PyPI wheel installed with --target into $CACHE/pytools
# Debian installs need root (apt-get); without it the script says what is missing and fails.
set -euo pipefail

cache="${MIGRATION_GATE_CACHE:-$HOME/.cache/migration-gate}"
bin="$cache/bin"
mkdir -p "$bin"
log() { printf 'bench/bin/install-tools.sh: %s\n' "$*" >&2; }

have() { command -v "$1" >/dev/null 2>&1 || [[ -x "$bin/$1" ]]; }

apt_install() {
    if [[ $(id -u) -ne 0 ]]; then
        log "need root to apt-get install $*"; return 1
    fi
    if [[ ! -f "$cache/.apt-updated" ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq && touch "$cache/.apt-updated"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! have wrk; then
    log "installing wrk"
    apt_install wrk
fi

if ! have hey; then
    log "installing hey"
    if ! apt_install hey; then
        command -v go >/dev/null 2>&1 || { log "no hey package and no Go toolchain"; exit 1; }
        GOBIN="$bin" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" \
            go install github.com/rakyll/hey@v0.1.4
    fi
fi

if ! have vegeta && command -v go >/dev/null 2>&1; then
    log "building vegeta from its Go module (one-off, about a minute)"
    GOBIN="$bin" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-mod=mod \
        go install github.com/tsenart/vegeta/v12@v12.12.0 \
        || log "vegeta build failed: B2 falls back to hey"
fi

py="${PYTHON:-$(dirname "$0")/../../.venv/bin/python}"
if ! have py-spy && [[ ! -x "$(dirname "$py")/py-spy" ]]; then
    log "installing py-spy"
    "$py" -m pip install -q --target "$cache/pytools" "py-spy>=0.3,<1"
    ln -sf "$cache/pytools/bin/py-spy" "$bin/py-spy"
fi

for t in wrk hey py-spy; do
    if command -v "$t" >/dev/null 2>&1; then log "$t: $(command -v "$t")";
    elif [[ -x "$bin/$t" ]]; then log "$t: $bin/$t";
    elif [[ -x "$(dirname "$py")/$t" ]]; then log "$t: $(dirname "$py")/$t";
    else log "$t: MISSING"; exit 1; fi
done
if have vegeta; then log "vegeta: $(command -v vegeta 2>/dev/null || echo "$bin/vegeta")";
else log "vegeta: missing (B2 uses hey)"; fi
