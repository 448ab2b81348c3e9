# postgres level (issue 13): the audit store on a real PostgreSQL (tests/postgres).
#
# `make postgres`       installs PostgreSQL's server binaries from Debian's packages
#                       (tools/postgres/install.sh, idempotent; binaries under
#                       /usr/lib/postgresql/*/bin), then runs tests/postgres: each session
#                       initdb's and pg_ctl's a throwaway cluster as an unprivileged user on a
#                       loopback port. MG_POSTGRES_REQUIRED=1: a missing PostgreSQL FAILS the level
#                       (as under CI=true), it never skips.
# `make bench-postgres` appends/s through the gate's PostgreSQL writer vs raw psycopg, and
#                       admission throughput on PostgreSQL vs SQLite (bench/pg_append.py).

.PHONY: postgres-deps postgres bench-postgres

postgres-deps:
	@tools/postgres/install.sh >/dev/null

postgres: $(STAMP) postgres-deps
	@export MG_POSTGRES_REQUIRED=1; $(BIN)/pytest -q -p no:cacheprovider tests/postgres

bench-postgres: $(STAMP) postgres-deps
	$(BIN)/python -m bench.pg_append

TEST_LEVELS += postgres
