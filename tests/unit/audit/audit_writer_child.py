"""Child process for the multi-process and kill -9 tests (run as a script, not collected).

usage: audit_writer_child.py DB PREFIX COUNT THREADS
Appends COUNT decisions (COUNT 0 = until killed) from THREADS threads and prints
`seq request_id` for each record only after append() returned, i.e. after it is durable.
"""

from __future__ import annotations

import sys
import threading
from itertools import count
from pathlib import Path

from webhook.audit import open_store
from webhook.contracts.decision import Decision, Reason


def main() -> int:
    db, prefix, total, threads = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = open_store(db)
    numbers = count() if total == 0 else iter(range(total))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            block = n % 3 == 0
            decision = Decision(
                request_id=f"{prefix}-{n}",
                timestamp="2026-11-25T12:00:00Z",
                scenario="T1",
                decision="BLOCK" if block else "ALLOW",
                reasons=(
                    Reason(
                        policy="tls-required",
                        severity="high",
                        field="tls.enabled",
                        message="prod requires TLS",
                    ),
                )
                if block
                else (),
                subject={"app_id": f"app{n % 5}", "env": "prod"},
                policy_bundle="sha256:" + "cd" * 32,
            )
            record = store.append(decision, source="cli", dry_run=False)
            with lock:
                sys.stdout.write(f"{record.seq} {record.request_id}\n")
                sys.stdout.flush()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
