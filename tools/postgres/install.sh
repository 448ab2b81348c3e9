#!/bin/sh
# PostgreSQL server binaries for the postgres test level, from Debian's packages; idempotent.
# Prints the bin directory (initdb, pg_ctl) on its last line. Needs root (or sudo) only when the
# package is not installed yet.
set -eu
find_bin() {
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
        fi
    done | sort -V | tail -n 1
}
bin="$(find_bin)"
if [ -z "$bin" ]; then
    echo "installing PostgreSQL (Debian package postgresql)..." >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y --no-install-recommends postgresql >&2; then
        $sudo apt-get update >&2
        $sudo apt-get install -y --no-install-recommends postgresql >&2
    fi
    # the package starts a system cluster; the tests run their own and need none
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        for conf in /etc/postgresql/*/main; do
            [ -d "$conf" ] || continue
            ver="$(basename "$(dirname "$conf")")"
            $sudo pg_ctlcluster "$ver" main stop >/dev/null 2>&1 || true
        done
    fi
    bin="$(find_bin)"
fi
if [ -z "$bin" ]; then
    echo "error: PostgreSQL binaries not found under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
mkdir -p "${HOME}/.cache/migration-gate"
echo "$bin" > "${HOME}/.cache/migration-gate/postgres-bin"
echo "$bin"
