#!/usr/bin/env bash
# Installs the real Prometheus and Alertmanager the e2e alert scenario runs (Debian packages
# `prometheus` and `prometheus-alertmanager`). Idempotent: does nothing when both binaries exist.
#
# The tests run the binaries directly, on loopback ports with their own temp config and data
# dirs; never as services. So a package's postinst must not start its daemon either: when no
# /usr/sbin/policy-rc.d exists, one that refuses every start (exit 101, the documented Debian
# mechanism) is put in place for the install and removed afterwards; an existing one is kept.
#
# stdout: MG_PROMETHEUS= / MG_ALERTMANAGER= / MG_PROMTOOL= lines (for `set -a; . file`); logs go
# to stderr. Exit non-zero, naming the package, on any failure.
set -euo pipefail

log() { printf 'tools/monitoring/install.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

prometheus=/usr/bin/prometheus
alertmanager=/usr/bin/prometheus-alertmanager
promtool=/usr/bin/promtool

if [[ -x "$prometheus" && -x "$alertmanager" && -x "$promtool" ]]; then
    log "present: $("$prometheus" --version 2>&1 | head -1)"
    log "present: $("$alertmanager" --version 2>&1 | head -1)"
else
    command -v apt-get >/dev/null 2>&1 || die "prometheus/alertmanager missing and no apt-get"
    sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "installing prometheus needs root (apt-get)"
        sudo=(sudo)
    fi
    policy=/usr/sbin/policy-rc.d
    placed=""
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\n# placed by migration-gate tools/monitoring/install.sh\nexit 101\n' |
            "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 0755 "$policy"
        placed=1
    fi
    cleanup() { if [[ -n "$placed" ]]; then "${sudo[@]}" rm -f "$policy"; fi; }
    trap cleanup EXIT
    pkgs=(prometheus prometheus-alertmanager)
    log "installing ${pkgs[*]} (Debian packages) ..."
    install() {
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q \
            --no-install-recommends "${pkgs[@]}" >&2
    }
    if ! install; then
        log "apt-get install failed; refreshing the package lists once"
        "${sudo[@]}" apt-get update -q >&2
        install || die "apt-get install ${pkgs[*]} failed"
    fi
    for b in "$prometheus" "$alertmanager" "$promtool"; do
        [[ -x "$b" ]] || die "installed, but $b is missing"
    done
fi

echo "MG_PROMETHEUS=$prometheus"
echo "MG_ALERTMANAGER=$alertmanager"
echo "MG_PROMTOOL=$promtool"
