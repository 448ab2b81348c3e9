# Sourced by the project's Go build scripts (tools/k8s, tools/flux, tools/peers): one cache layout,
# one set of Go settings, one log format. Usage: . tools/lib/go-env.sh NAME   (NAME prefixes logs)
# Env: MG_CACHE (default ~/.cache/migration-gate); GOMODCACHE / GOCACHE default under it so a
# fresh clone reuses them; set them to empty temp dirs to measure a true cold build.
_go_env_name="$1"
cache="${MG_CACHE:-$HOME/.cache/migration-gate}"
bin_root="$cache/bin"

export GOMODCACHE="${GOMODCACHE:-$cache/go/mod}"
export GOCACHE="${GOCACHE:-$cache/go/build}"
# go.sum is committed: never let a build rewrite it, never fetch another toolchain.
export GOFLAGS="-mod=readonly"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

log() { printf '%s: %s\n' "$_go_env_name" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not installed (need Go >= 1.26; see docs/e2e.md)"
mkdir -p "$bin_root"
