"""The store API on a real PostgreSQL: appends, reads, alerts, append-only, the writer role,
idempotent schema, and the password kept out of every error, repr and health message."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.postgres.cluster import ADMIN, WRITER, WRITER_PW, Cluster, free_port
from tests.postgres.decisions import make_decision, reason
from webhook.audit import AuditWriteError, open_store, verify_path
from webhook.audit.models import AuditQuery
from webhook.audit.pg.conn import connect_kwargs
from webhook.audit.pg.schema import ensure_schema
from webhook.audit.pg.store import PostgresStore
from webhook.audit.pg.writer import PostgresWriter
from webhook.audit.store import AuditStore
from webhook.audit.target import PASSWORD_ENV, PostgresTarget, parse_target
from webhook.errors import ConfigError


def test_every_public_method_is_postgres_own() -> None:
    """PostgresStore subclasses the SQLite store for its interface: none of SQLite's code runs."""
    public = {
        n for n, v in vars(AuditStore).items() if callable(v) or isinstance(v, property)
    } - {"__init__", "__enter__", "__exit__", "_connect", "_prepare", "append", "append_async",
         "_writer_for",
         "_read"}  # fmt: skip  (_read: SQLite's helper for the query/get PostgresStore overrides)
    assert {n for n in public if not n.startswith("__")} <= set(vars(PostgresStore)) | {"__repr__"}


def test_append_query_verify_and_alerts(pg_url: str) -> None:
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        for i in range(1, 6):
            rec = store.append(
                make_decision(i, verdict="BLOCK", reasons=(reason("tls"),)),
                source="api",
                dry_run=False,
            )
            assert rec.seq == i
        store.append(make_decision(6), source="cli", dry_run=False)
        page = store.query(AuditQuery(limit=2, decision="BLOCK"))
        assert [r.seq for r in page.records] == [5, 4] and page.next_cursor
        nxt = store.query(AuditQuery(limit=10, decision="BLOCK", cursor=page.next_cursor))
        assert [r.seq for r in nxt.records] == [3, 2, 1]
        assert store.query(AuditQuery(subject="pay")).records[0].seq == 7 - 1
        alerts = store.alerts.list().alerts
        assert len(alerts) == 1 and alerts[0].count == 5 and alerts[0].last_seq == 5
        acked = store.alerts.ack(alerts[0].id, "alice")
        assert acked.status == "acknowledged" and acked.acked_by == "alice"
        store.append(
            make_decision(7, verdict="BLOCK", reasons=(reason("tls"),)), source="api", dry_run=False
        )
        again = store.alerts.get(alerts[0].id)
        assert again.status == "firing" and again.count == 6
        result = store.verify()
        assert result.ok and result.checked == 7 and result.head_seq == 7
        store.check_writable()
    assert verify_path(pg_url).head_hash == result.head_hash


def test_async_appends_in_batches_make_one_chain(pg_url: str) -> None:
    with open_store(pg_url) as store:

        async def many() -> list[int]:
            done = await asyncio.gather(
                *[store.append_async(make_decision(i), source="admission", dry_run=False)
                  for i in range(300)]
            )  # fmt: skip
            return [a.position.seq for a in done]

        seqs = asyncio.run(many())
        assert sorted(seqs) == list(range(1, 301))
        assert store.verify().ok


def test_many_stores_many_threads_one_chain(pg_url: str) -> None:
    """Four stores (four writers, as four replicas) x 4 threads: no duplicate, no gap."""
    stores = [open_store(pg_url) for _ in range(4)]
    seqs: list[int] = []
    lock = threading.Lock()

    def work(store: AuditStore, base: int) -> None:
        for i in range(50):
            seq = store.append(make_decision(base + i), source="api", dry_run=False).seq
            with lock:
                seqs.append(seq)

    threads = [
        threading.Thread(target=work, args=(s, 1000 * (k * 4 + t)))
        for k, s in enumerate(stores)
        for t in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert sorted(seqs) == list(range(1, 801))
    assert verify_path(pg_url).checked == 800


def test_a_stale_assumed_head_is_refused_and_retried(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer assumes its own last commit is the head (one round trip per batch); when
    another writer appended meanwhile, the trigger refuses the batch and it is retried on the
    read head: the caller never sees it, the chain has no fork."""
    a, b = open_store(pg_url), open_store(pg_url)
    writer = a._writer
    assert isinstance(writer, PostgresWriter)
    refused: list[tuple[int, str]] = []  # the assumed heads the trigger refused
    attempt = writer._attempt

    def spy(conn: Any, batch: Any, known: tuple[int, str] | None) -> Any:
        try:
            return attempt(conn, batch, known)
        except psycopg.Error:
            if known is not None:
                refused.append(known)
            raise

    monkeypatch.setattr(writer, "_attempt", spy)
    try:
        order = "aaabaabbab"
        for i, who in enumerate(order):
            store = a if who == "a" else b
            assert store.append(make_decision(i), source="api", dry_run=False).seq == i + 1
        assert len(refused) >= 2  # "b" wrote between a's batches twice
    finally:
        a.close()
        b.close()
    assert verify_path(pg_url).checked == len(order)


def test_a_lone_caller_commits_inline_and_concurrent_callers_share_the_writer(
    pg_url: str,
) -> None:
    """One thread, writer idle: each record is committed on the caller's own thread (the
    writer thread is never started). Then 8 threads at once, inline and queued mixed on one
    connection: still one chain, no duplicate, no gap; close() closes the connection."""
    store = open_store(pg_url)
    writer = store._writer
    assert isinstance(writer, PostgresWriter)
    for i in range(20):
        assert store.append(make_decision(i), source="api", dry_run=False).seq == i + 1
    assert writer.inline == 20 and writer._thread is None
    seqs: list[int] = []
    lock = threading.Lock()

    def work(base: int) -> None:
        for i in range(25):
            seq = store.append(make_decision(base + i), source="api", dry_run=False).seq
            with lock:
                seqs.append(seq)

    threads = [threading.Thread(target=work, args=(1000 * (t + 1),)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert writer._pg is None
    assert sorted(seqs) == list(range(21, 221))
    assert verify_path(pg_url).checked == 220


def test_an_inline_append_that_fails_is_a_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody listens on the port: the caller's own commit fails as AuditWriteError, and the
    next append tries again (no connection kept)."""
    monkeypatch.setenv(PASSWORD_ENV, WRITER_PW)
    with open_store(f"postgresql://{WRITER}@127.0.0.1:{free_port()}/nowhere") as store:
        writer = store._writer
        assert isinstance(writer, PostgresWriter)
        for i in range(2):
            with pytest.raises(AuditWriteError, match="unwritable"):
                store.append(make_decision(i), source="api", dry_run=False)
            assert writer._pg is None
        assert writer.inline == 0 and writer._thread is None


def test_append_only_for_the_writer_and_by_trigger(pg_url: str, cluster: Cluster) -> None:
    with open_store(pg_url) as store:
        store.append(make_decision(1), source="api", dry_run=False)
        assert isinstance(store, PostgresStore)
        target = store.target
    with psycopg.connect(**connect_kwargs(target), autocommit=True) as conn:
        for sql in (
            "UPDATE audit_log SET decision = 'ALLOW'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "DELETE FROM alert_events",
            "DROP TRIGGER audit_log_append_only ON audit_log",
            "CREATE TABLE x (y int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    dbname = target.dbname
    with cluster.admin(dbname=dbname) as admin:  # even the owner meets the triggers
        for sql, word in (
            ("UPDATE audit_log SET decision = 'BLOCK'", "UPDATE"),
            ("DELETE FROM audit_log", "DELETE"),
            ("TRUNCATE audit_log", "TRUNCATE"),
            ("UPDATE audit_subject SET seq = 9", "UPDATE"),
        ):
            with pytest.raises(psycopg.errors.RaiseException, match=f"append-only: {word}"):
                admin.execute(sql)
        row = admin.execute("SELECT seq, hash FROM audit_log").fetchone()
        assert row is not None
        with pytest.raises(psycopg.errors.RaiseException, match="breaks the chain"):
            admin.execute(
                "INSERT INTO audit_log SELECT 3, ts, request_id, scenario, source, decision, env, "
                "dry_run, subject, reasons, warnings, audited, digests, policy_bundle, hash, hash "
                "FROM audit_log WHERE seq = 1"
            )


def test_schema_is_idempotent_and_race_free(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicas starting together on an empty database, as the owner: one schema, no error."""
    cluster.new_database("t_race")
    monkeypatch.setenv(PASSWORD_ENV, "adm1n-pw-4-tests")
    url = cluster.url(user=ADMIN, dbname="t_race")
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            open_store(url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    target = parse_target(url)
    assert isinstance(target, PostgresTarget)
    with psycopg.connect(**connect_kwargs(target)) as conn:
        assert ensure_schema(conn) is False  # nothing left to do


def test_writer_cannot_create_the_schema(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster.new_database("t_noschema")
    with cluster.admin(dbname="t_noschema") as admin:
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    monkeypatch.setenv(PASSWORD_ENV, WRITER_PW)
    with pytest.raises(ConfigError, match="may not create it"):
        open_store(cluster.url(dbname="t_noschema"))


def test_the_password_never_shows(
    pg_url: str, cluster: Cluster, password_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    store = open_store(pg_url, password_file=password_file)
    try:
        store.append(make_decision(1), source="api", dry_run=False)
        assert isinstance(store, PostgresStore)
        assert WRITER_PW not in repr(store) and WRITER_PW not in store.location
        assert WRITER_PW not in repr(store.target) and WRITER_PW not in str(vars(store))
    finally:
        store.close()
    # a wrong password: the error names the store and the user, never either password
    wrong = password_file.parent / "wrong"
    wrong.write_text("not-" + WRITER_PW)
    with pytest.raises(ConfigError) as info:
        open_store(pg_url, password_file=wrong)
    assert "password authentication failed" in info.value.diagnostics()
    assert WRITER_PW not in info.value.diagnostics()
    # the database going away: the health check and the append errors stay clean too
    store = open_store(pg_url, password_file=password_file)
    try:
        cluster.stop()
        try:
            with pytest.raises(AuditWriteError) as down:
                store.check_writable()
            assert WRITER_PW not in down.value.diagnostics()
            with pytest.raises(AuditWriteError) as append:
                store.append(make_decision(2), source="api", dry_run=False)
            assert WRITER_PW not in append.value.diagnostics()
        finally:
            cluster.start()
        store.append(make_decision(3), source="api", dry_run=False)  # recovers by itself
        assert store.verify().checked == 2
    finally:
        store.close()


def test_wrong_database_is_refused(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster.new_database("t_foreign")
    with cluster.admin(dbname="t_foreign") as admin:
        admin.execute("CREATE TABLE audit_log (x int)")
    monkeypatch.setenv(PASSWORD_ENV, "adm1n-pw-4-tests")
    with pytest.raises(ConfigError, match="not a migration-gate store"):
        open_store(cluster.url(user=ADMIN, dbname="t_foreign"))
    assert not verify_path(cluster.url(user=ADMIN, dbname="t_foreign")).readable
    _ = WRITER


def test_install_entry_point_as_the_owner(cluster: Cluster, tmp_path: Path) -> None:
    """`python -m webhook.audit.pg install` (compose's audit-schema service): idempotent."""
    cluster.new_database("t_install")
    pw = tmp_path / "admin-pw"
    pw.write_text("adm1n-pw-4-tests\n")
    env = {"MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE": str(pw), "PATH": "/usr/bin:/bin"}
    admin = cluster.url(user=ADMIN, dbname="t_install")
    argv = [sys.executable, "-m", "webhook.audit.pg", "install", "--admin-url", admin,
            "--writer-role", WRITER]  # fmt: skip
    first = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert "created or migrated" in first.stdout
    again = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "already current" in again.stdout
    pw.write_text("wrong\n")
    bad = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "adm1n" not in bad.stderr
