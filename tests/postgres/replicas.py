"""Gate replicas (`migration-gate serve` processes) on one PostgreSQL database, and the load
that drives them through the admission door."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.integration.conftest import EXAMPLES, TOKENS, Gate, review, start_gate
from tests.integration.test_examples_parity import migration_request
from webhook.audit.target import PASSWORD_FILE_ENV

GOOD = migration_request(EXAMPLES / "t1_good")
BAD = migration_request(EXAMPLES / "t1_bad_tls_disabled")


def start_replica(
    tmp: Path, url: str, password_file: Path, name: str, *, tls_from: Gate | None = None
) -> Gate:
    """One replica: its own state dir and ports, the shared database, the password as a file.

    `tls_from`: reuse that replica's dev CA and certificate (minting keys is most of a
    replica's start on a busy machine).
    """
    if tls_from is not None:
        shutil.copytree(tls_from.state / "tls", tmp / name / "state" / "tls")
    return start_gate(
        tmp / name,
        "--audit-db",
        url,
        "--trust-dir",
        str(EXAMPLES / "t1_good" / "trust"),
        "--reload-interval",
        "0",
        tokens=dict(TOKENS),
        env={PASSWORD_FILE_ENV: str(password_file)},
    )


@dataclass
class Outcome:
    """What the callers heard: uid -> (allowed, policies) for every call that returned."""

    answered: dict[str, tuple[bool, tuple[str, ...]]] = field(default_factory=dict)
    failed: int = 0

    def recorded_uids(self) -> set[str]:
        """Calls answered with a decision the gate says it recorded (no audit-write-failed)."""
        return {u for u, (_, p) in self.answered.items() if "audit-write-failed" not in p}


def body(uid: str, bad: bool) -> bytes:
    review_ = review(
        BAD if bad else GOOD,
        uid=uid,
        group="migrationgate.io",
        version="v1alpha1",
        kind="MigrationRequest",
    )
    return json.dumps(review_).encode()


async def drive(
    gate: Gate,
    n: int,
    outcome: Outcome,
    *,
    concurrency: int = 16,
    prefix: str = "",
    bad_every: int | None = 2,
    stop: threading.Event | None = None,
    on_answer: Callable[[int], None] | None = None,
) -> None:
    """`n` admission calls (or until `stop`), `concurrency` at a time; every answer kept."""
    ctx = ssl.create_default_context(cafile=str(gate.ca))
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    url = gate.admission + "/admission/v1/validate"
    async with httpx.AsyncClient(verify=ctx, timeout=60.0, limits=limits) as client:

        async def one(i: int) -> None:
            if stop is not None and stop.is_set():
                return
            uid = f"{prefix}{i:05d}-{uuid.uuid4().hex[:8]}"
            async with sem:
                if stop is not None and stop.is_set():
                    return
                try:
                    r = await client.post(
                        url,
                        content=body(uid, bad_every is not None and i % bad_every == 0),
                        headers={"content-type": "application/json"},
                    )
                    resp: dict[str, Any] = r.json()["response"]
                except (httpx.HTTPError, ValueError, KeyError):
                    outcome.failed += 1  # no answer (a killed replica): nothing was promised
                    return
            message = str(resp.get("status", {}).get("message", ""))
            policies = tuple(p for p in ("audit-write-failed", "tls") if p in message)
            outcome.answered[uid] = (bool(resp["allowed"]), policies)
            if on_answer is not None:
                on_answer(len(outcome.answered))

        await asyncio.gather(*(one(i) for i in range(n)))
