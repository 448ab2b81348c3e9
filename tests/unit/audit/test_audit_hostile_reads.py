"""Reading the store with hostile arguments is a GateError / ValidationError naming the field,
never an OverflowError from the datetime or SQLite layer (a 5xx at the API, a traceback in the
CLI)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from tests.unit.audit.helpers import RunCli
from webhook.audit import AlertNotFoundError, AuditQuery, AuditStore

EDGE = [
    ("since", datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-10)))),
    ("until", datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=10)))),
]


@pytest.mark.parametrize(("name", "value"), EDGE)
def test_a_time_without_a_utc_equivalent_is_refused_naming_the_field(
    name: str, value: datetime
) -> None:
    with pytest.raises(ValidationError, match=f"{name}\n.*out of range in UTC"):
        AuditQuery(**{name: value})


def test_the_cli_answers_exit_2_for_such_a_time(filled: AuditStore, run_cli: RunCli) -> None:
    code, _, err = run_cli(
        "audit", "tail", "--audit-db", str(filled.path), "--since", "9999-12-31T23:59-10:00"
    )
    assert code == 2 and "out of range in UTC" in err


@pytest.mark.parametrize("alert_id", [1 << 63, 1 << 70, 0, -1])
def test_alert_ids_sqlite_cannot_hold_name_no_alert(store: AuditStore, alert_id: int) -> None:
    with pytest.raises(AlertNotFoundError, match="no alert with id"):
        store.alerts.get(alert_id)
    with pytest.raises(AlertNotFoundError, match="no alert with id"):
        store.alerts.ack(alert_id, "operator")
