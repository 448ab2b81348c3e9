#!/usr/bin/env bash
# Installs what the UI level needs, idempotently: Debian's chromium (apt-get) and axe-core
# (npm, into ~/.cache/migration-gate/ui/node_modules). Playwright for Python comes with the
# venv (pyproject's dev extra). Re-running does nothing when everything is in place.
set -euo pipefail
CACHE="${MG_CACHE:-$HOME/.cache/migration-gate}/ui"
AXE_VERSION="${MG_AXE_VERSION:-4.10.3}"
CHROMIUM="${MG_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  echo "==> chromium: $("$CHROMIUM" --version 2>/dev/null || echo present)"
else
  echo "==> installing chromium from the Debian packages (apt-get)"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends chromium; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends chromium
  fi
fi

if [ -f "$CACHE/node_modules/axe-core/axe.min.js" ]; then
  echo "==> axe-core: $(node -p "require('$CACHE/node_modules/axe-core/package.json').version" 2>/dev/null || echo present)"
else
  command -v npm >/dev/null || { echo "npm is missing: install Debian's npm (apt-get install npm)" >&2; exit 1; }
  echo "==> installing axe-core@$AXE_VERSION into $CACHE"
  mkdir -p "$CACHE"
  npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error "axe-core@$AXE_VERSION"
fi
