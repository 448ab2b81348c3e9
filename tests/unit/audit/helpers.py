"""Helpers for the audit tests: real decisions, a parser shaped like the lead's CLI."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from webhook.audit.encode import Prepared, build_static, prepared
from webhook.cli.audit import register
from webhook.contracts.decision import Decision, Reason, Verdict

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


def make_decision(
    i: int = 0,
    *,
    verdict: Verdict = "ALLOW",
    reasons: tuple[Reason, ...] = (),
    warnings: tuple[Reason, ...] = (),
    env: str | None = "prod",
    app: str = "payments",
    scenario: str = "T1",
) -> Decision:
    subject = {"app_id": app, "version": "4.2.0"}
    if scenario == "T2":
        subject = {"source_db": f"{app}-primary", "target_db": f"{app}-replica"}
    if env is not None:
        subject["env"] = env
    return Decision.model_validate(
        {
            "request_id": f"req-{i:06d}",
            "timestamp": "2026-11-25T12:00:00Z",
            "scenario": scenario,
            "decision": verdict,
            "reasons": reasons,
            "warnings": warnings,
            "subject": subject,
            "digests": {"app-config.yaml": "sha256:" + "ab" * 32},
            "policy_bundle": "sha256:" + "cd" * 32,
        }
    )


def reason(policy: str, severity: str = "high", action: str = "enforce") -> Reason:
    return Reason.model_validate(
        {
            "policy": policy,
            "severity": severity,
            "field": "tls.enabled",
            "message": f"{policy} violated (found false)",
            "file": "app-config.yaml",
            "action": action,
        }
    )


def child_env() -> dict[str, str]:
    """Environment for child interpreters: the repo importable whether or not it is installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def cli_parser() -> argparse.ArgumentParser:
    """The shape of the lead's CLI: a common parent with --audit-db, our register() under it."""
    root = argparse.ArgumentParser(prog="migration-gate")
    sub = root.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--audit-db", default=os.environ.get("MIGRATION_GATE_AUDIT_DB"))
    register(sub, common)
    return root


RunCli = Callable[..., tuple[int, str, str]]


def prepare(decision: Decision, *, source: str = "api", dry_run: bool = False) -> Prepared:
    """A record encoded as the store encodes it, without a store (the writer only chains it)."""
    return prepared(build_static(decision, source=source, dry_run=dry_run), decision.request_id)
