#!/bin/sh
# docker-compose: run once by the postgres image on an empty data directory
# (/docker-entrypoint-initdb.d). Creates the role the gate connects as; the audit-schema service
# then creates the tables as the owner and grants this role INSERT and SELECT only.
set -eu
pw="$(cat "$GATE_PASSWORD_FILE")"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$pw" <<'SQL'
CREATE ROLE gate LOGIN PASSWORD :'pw';
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
