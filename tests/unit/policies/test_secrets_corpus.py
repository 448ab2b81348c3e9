"""no-inline-secrets measured against a public secret-pattern corpus (gitleaks' rule set).

`data/secret_corpus.jsonl` holds one synthetic sample per gitleaks rule, drawn from the rule's
own regular expression by `data/make_secret_corpus.py` (random text in the shape, never a real
credential). A "token" sample is placed as a plain value (`notes: <sample>`): the detector must
know the shape. A "keyword" sample (gitleaks needs a keyword beside it) is placed under a key
named after the rule (`adafruit_api_key: <value>`): the detector must know the key name.
The floors below are the measured rates (docs/policies.md); a detector change that loses a
shape fails here. Known misses: client/access *ids* and public keys (identifiers, not secrets),
and shapes the generator distorts (gitleaks' unescaped dots).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.policies.conftest import config_with, good_config, run_t1

CORPUS = Path(__file__).parent / "data" / "secret_corpus.jsonl"
FLOORS = {"token": 114, "keyword": 89}


def _rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def _caught(cfg: dict[str, Any]) -> bool:
    return any(f.policy == "no-inline-secrets" for f in run_t1(cfg, "prod"))


def _placed(row: dict[str, str]) -> dict[str, Any]:
    if row["kind"] == "token":
        return {**good_config(), "notes": row["sample"]}
    return {**good_config(), row["rule"].replace("-", "_"): row["sample"]}


def test_the_corpus_covers_the_rule_set() -> None:
    rows = _rows()
    assert len(rows) >= 200
    assert {r["kind"] for r in rows} == {"token", "keyword"}


@pytest.mark.parametrize("kind", ["token", "keyword"])
def test_detection_rate_on_the_corpus(kind: str) -> None:
    rows = [r for r in _rows() if r["kind"] == kind]
    missed = [r["rule"] for r in rows if not _caught(_placed(r))]
    caught = len(rows) - len(missed)
    assert caught >= FLOORS[kind], f"{kind}: {caught}/{len(rows)} caught; missed {missed}"


@pytest.mark.parametrize(
    "patch",
    [
        "image: registry.example/payments@sha256:" + "ab" * 32,
        "config_digest: " + "0f" * 32,
        "request_id: 9b2d6c1e-4f0a-4c1b-9e7d-2a6f8d3c1b0e",
        "version: 4.2.0-rc.1+build.20261202",
        "url: https://docs.example/guide/install?lang=en#section-2",
        "cron: '*/5 * * * *'",
        "path: /var/lib/postgresql/data/pg_wal/000000010000000000000001",
        "ca: '-----BEGIN CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIU\\n-----END CERTIFICATE-----'",
        "labels: {app.kubernetes.io/name: payments, tier: backend}",
        "dsn: postgres://payments@pg-payments.internal:5432/payments?sslmode=verify-full",
        "notes: 'the password is kept in vault; set it with the secret store'",
        "flags: ['--log-level=info', '--max-tokens=4096', '--listen=127.0.0.1:8443']",
        "secrets_ref: vault://kv/payments/prod",
        "hash: 'sha256:" + "12" * 32 + "'",
    ],
)
def test_ordinary_config_values_are_not_flagged(patch: str) -> None:
    assert not _caught(config_with(patch))
