"""PostgreSQL schema: the chain, its derived subject index, alerts; append-only by trigger.

Created and migrated idempotently by `ensure_schema`, under a session-level advisory lock
(the check and the DDL in a transaction begun after it is held) so replicas starting together
do not race. `grant_writer` gives the gate's role what it needs
and nothing more: INSERT and SELECT on the append-only tables (UPDATE only on `alerts`, the
mutable operator state outside the chain). The tables' owner should be another role: an owner
could drop the triggers. `audit verify` still finds any edit a superuser makes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from psycopg import sql

from webhook.audit.tables import APPEND_ONLY, table_ddl
from webhook.errors import ConfigError

APPLICATION = "migration-gate audit store"
SCHEMA_VERSION = 1
#: pg_advisory_xact_lock keys: the chain head ("MGAU") and schema migration ("MGAM")
CHAIN_LOCK = 0x4D474155
MIGRATE_LOCK = 0x4D47414D

_MARKER = """
CREATE TABLE IF NOT EXISTS audit_schema (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    application TEXT    NOT NULL,
    version     INTEGER NOT NULL
);
"""
_FUNCTIONS = """
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE head_seq BIGINT; head_hash TEXT;
BEGIN
    -- rows inserted earlier by the same statement are visible here (a VOLATILE function)
    SELECT seq, hash INTO head_seq, head_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
    -- genesis: canonical.GENESIS_HASH (64 zeros)
    IF NOT FOUND THEN head_seq := 0; head_hash := repeat('0', 64); END IF;
    IF NEW.seq IS DISTINCT FROM head_seq + 1 OR NEW.prev_hash IS DISTINCT FROM head_hash THEN
        RAISE EXCEPTION 'audit_log: insert breaks the chain (seq or prev_hash)';
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % rejected', TG_TABLE_NAME, TG_OP;
END $$;
CREATE OR REPLACE FUNCTION alerts_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO alert_events (alert_id, at, event, request_id, seq)
        VALUES (NEW.id, NEW.last_seen, 'opened', NEW.last_request_id, NEW.last_seq);
    ELSIF OLD.status = 'acknowledged' AND NEW.status = 'firing' THEN
        INSERT INTO alert_events (alert_id, at, event, request_id, seq)
        VALUES (NEW.id, NEW.last_seen, 'refired', NEW.last_request_id, NEW.last_seq);
    ELSIF OLD.status = 'firing' AND NEW.status = 'acknowledged' THEN
        INSERT INTO alert_events (alert_id, at, event, actor)
        VALUES (NEW.id, NEW.acked_at, 'acknowledged', NEW.acked_by);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER alerts_event AFTER INSERT OR UPDATE OF status ON alerts
    FOR EACH ROW EXECUTE FUNCTION alerts_event();
"""
#: the schema marker, the tables (`tables.table_ddl`), then the chain and alert functions and
#: their triggers (PL/pgSQL); the append-only triggers follow in `_append_only_ddl`
DDL = "".join((_MARKER, table_ddl("postgres"), _FUNCTIONS))


def _append_only_ddl() -> list[sql.Composed]:
    """UPDATE/DELETE (per row) and TRUNCATE (per statement) rejected on every append-only table."""
    out: list[sql.Composed] = []
    for table in APPEND_ONLY:
        t = sql.Identifier(table)
        out.append(
            sql.SQL(
                "CREATE OR REPLACE TRIGGER {} BEFORE UPDATE OR DELETE ON {} "
                "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
            ).format(sql.Identifier(f"{table}_append_only"), t)
        )
        out.append(
            sql.SQL(
                "CREATE OR REPLACE TRIGGER {} BEFORE TRUNCATE ON {} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
            ).format(sql.Identifier(f"{table}_no_truncate"), t)
        )
    return out


def schema_version(conn: psycopg.Connection[Any]) -> int | None:
    """The installed version; None if there is no schema; ConfigError if it is someone else's."""
    row = conn.execute("SELECT to_regclass('audit_schema'), to_regclass('audit_log')").fetchone()
    if row is None or row[0] is None:
        if row is not None and row[1] is not None:
            raise ConfigError("an audit_log table exists but it is not a migration-gate store")
        return None
    found = conn.execute("SELECT application, version FROM audit_schema WHERE id = 1").fetchone()
    if found is None or found[0] != APPLICATION:
        raise ConfigError("not a migration-gate audit store (audit_schema says otherwise)")
    return int(found[1])


def ensure_schema(conn: psycopg.Connection[Any]) -> bool:
    """Create or migrate the schema if needed (True if DDL ran); idempotent, race-free.

    A current schema needs no privilege beyond SELECT, so a gate running as the restricted
    writer role opens an installed store without ever trying DDL.
    """
    try:
        version: int | None = schema_version(conn)
    except ConfigError:
        # maybe another replica's install committing between our catalog lookups (each takes
        # a fresh catalog snapshot): judge again under the migration lock, where it is settled
        version = -1
    conn.commit()
    if version == SCHEMA_VERSION:
        return False
    if version is not None and version > SCHEMA_VERSION:
        raise ConfigError(
            f"audit store schema {version} is newer than this gate ({SCHEMA_VERSION})"
        )
    # The migration lock is session-level, taken in a transaction of its own, and the check and
    # the DDL run in the NEXT transaction: a transaction that starts once the lock is held reads
    # the catalog invalidations of every install committed before it, whereas one that waited
    # for an advisory lock inside itself may still see another replica's install half-way
    # (audit_log there, audit_schema not) and refuse a good store.
    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
    try:
        with conn.transaction():
            version = schema_version(conn)  # another replica may have migrated meanwhile
            if version == SCHEMA_VERSION:
                return False
            conn.execute(DDL.encode())
            for statement in _append_only_ddl():
                conn.execute(statement)
            conn.execute(
                "INSERT INTO audit_schema (id, application, version) VALUES (1, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                (APPLICATION, SCHEMA_VERSION),
            )
        return True
    finally:
        with contextlib.suppress(psycopg.Error), conn.transaction():  # a lost session frees it
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))


def grant_writer(conn: psycopg.Connection[Any], role: str) -> None:
    """What the gate's role may do: INSERT and SELECT; UPDATE on alerts only; never DELETE."""
    r = sql.Identifier(role)
    with conn.transaction():
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(r))
        conn.execute(
            sql.SQL(
                "REVOKE ALL ON audit_schema, audit_log, audit_subject, alerts, alert_events FROM {}"
            ).format(r)
        )
        conn.execute(sql.SQL("GRANT SELECT ON audit_schema TO {}").format(r))
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT ON audit_log, audit_subject, alert_events TO {}").format(
                r
            )
        )
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON alerts TO {}").format(r))
        conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}").format(r))


#: what the gate's role must be able to do, and what it must not (an owner or superuser could
#: also drop the triggers)
WRITER_NEEDS = (
    ("audit_schema", "SELECT"),
    *((t, p) for t in APPEND_ONLY for p in ("SELECT", "INSERT")),
    *(("alerts", p) for p in ("SELECT", "INSERT", "UPDATE")),
)
WRITER_MUST_NOT = tuple((t, p) for t in APPEND_ONLY for p in ("UPDATE", "DELETE", "TRUNCATE"))


def writer_refusals(conn: psycopg.Connection[Any], role: str) -> list[str]:
    """Why `role` must not be the gate's role at all (checked before any grant or revoke)."""
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if row is None:
        return [f"role {role!r} does not exist (create it first: CREATE ROLE ... LOGIN)"]
    if row[0]:
        return [f"role {role!r} is a superuser: the gate's role must not be one"]
    owns = conn.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relname = ANY(%s) AND "
        "c.relnamespace = to_regnamespace(current_schema())::oid AND "
        "pg_has_role(%s, c.relowner, 'MEMBER') ORDER BY 1",
        (list(APPEND_ONLY), role),
    ).fetchall()
    if owns:
        return [
            f"role {role!r} owns {owns[0][0]} (or is a member of its owner), so it could drop "
            "the append-only triggers: the gate's role must be another, INSERT/SELECT-only role"
        ]
    return []


def writer_problems(conn: psycopg.Connection[Any], role: str) -> list[str]:
    """What `role` still lacks, or may do but must not, after the grants (empty: all well).

    GRANT by a role that does not own the tables only warns ("no privileges were granted"), so
    install checks the outcome instead of trusting the statement.
    """
    problems = [
        f"role {role!r} lacks {privilege} on {table}"
        for table, privilege in WRITER_NEEDS
        if not _has(conn, role, table, privilege)
    ]
    problems += [
        f"role {role!r} may {privilege} {table}"
        for table, privilege in WRITER_MUST_NOT
        if _has(conn, role, table, privilege)
    ]
    return problems


def _has(conn: psycopg.Connection[Any], role: str, table: str, privilege: str) -> bool:
    row = conn.execute(
        "SELECT has_table_privilege(%s, %s, %s)", (role, table, privilege)
    ).fetchone()
    return bool(row and row[0])
