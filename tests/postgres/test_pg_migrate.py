"""`migrate`: SQLite -> PostgreSQL -> SQLite, the same chain (same head) at every stop;
a non-empty destination and a broken source are refused before anything is written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.postgres.cluster import Cluster
from tests.postgres.conftest import fresh_database
from tests.postgres.decisions import make_decision, reason
from webhook.audit import AuditReadError, AuditWriteError, open_store, verify_path
from webhook.audit.chain import Anchor
from webhook.audit.migrate import migrate
from webhook.audit.models import AuditQuery
from webhook.contracts.decision import Verdict


def _sqlite_chain(path: Path, n: int) -> str:
    with open_store(path) as store:
        for i in range(1, n + 1):
            verdict: Verdict = "BLOCK" if i % 3 == 0 else "ALLOW"
            reasons = (reason("tls"),) if verdict == "BLOCK" else ()
            store.append(
                make_decision(i, verdict=verdict, reasons=reasons), source="api", dry_run=False
            )
    result = verify_path(path)
    assert result.ok and result.head_hash
    return result.head_hash


def test_sqlite_to_postgres_to_sqlite(
    tmp_path: Path, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "single.db"
    head = _sqlite_chain(src, 2500)
    pg = fresh_database(cluster, monkeypatch)
    report = migrate(str(src), pg)
    assert (report.records, report.head_seq, report.head_hash) == (2500, 2500, head)
    assert report.alerts == 1 and "password" not in repr(report)
    assert verify_path(pg, Anchor(2500, head)).ok
    with open_store(pg) as store:  # the gate carries on appending to the moved chain
        assert store.alerts.list().alerts[0].count == 833
        assert store.query(AuditQuery(subject="pay", limit=1)).records[0].seq == 2500
        store.append(make_decision(9999), source="api", dry_run=False)
        assert store.verify().head_seq == 2501
    back = tmp_path / "back.db"
    again = migrate(pg, f"sqlite:///{back}")
    assert again.records == 2501 and verify_path(back, Anchor(2500, head)).ok


def test_refuses_a_non_empty_destination_and_a_broken_source(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "a.db"
    _sqlite_chain(src, 5)
    migrate(src, pg_url)
    with pytest.raises(AuditWriteError, match="already holds records"):
        migrate(src, pg_url)
    assert verify_path(pg_url).checked == 5  # untouched
    broken = tmp_path / "broken.db"
    _sqlite_chain(broken, 5)
    conn = sqlite3.connect(broken)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET decision = 'ALLOW' WHERE seq = 3")
    conn.commit()
    conn.close()
    dst = tmp_path / "dst.db"
    with pytest.raises(AuditReadError, match="does not verify"):
        migrate(broken, dst)
    assert not dst.exists()
