"""The apply paths users and GitOps controllers take: dry run, server-side apply, updates.

- `--dry-run=server` is evaluated (a bad object is denied), audited with dry_run true, no alert;
- `--server-side` (what Argo CD / Flux use) is gated exactly like client-side apply;
- an UPDATE that breaks an admitted object is denied and the stored object stays as it was.
"""

from __future__ import annotations

from typing import Any

from .asserts import assert_admitted, assert_denied
from .conftest import Cluster, Gate
from .objects import APP_CONFIG, Example, config_map, migration_request
from .picks import bad_migration, good_migration, renamed


def _reason_ids(record: dict[str, Any]) -> set[str]:
    return {str(r["policy"]) for r in record["reasons"]}


def test_dry_run_is_evaluated_audited_and_raises_no_alert(
    cluster: Cluster, gate: Gate, namespace: str, examples: list[Example]
) -> None:
    proc = gate.require_process()
    bad = bad_migration(examples)
    head, alerts_before = proc.audit_head(), proc.alerts()

    obj = renamed(config_map(bad, namespace), "dryrun-bad")
    result = cluster.kubectl.apply(obj, "--dry-run=server")
    assert_denied(
        result,
        cluster.kubectl,
        "ConfigMap",
        obj["metadata"]["name"],
        namespace,
        bad.expected.policies,
    )

    records = proc.audit_since(head)
    assert records, "a dry-run admission left no audit record"
    assert all(r["dry_run"] is True and r["source"] == "admission" for r in records), records
    blocked = [r for r in records if r["decision"] == "BLOCK"]
    assert blocked and set(bad.expected.policies) <= _reason_ids(blocked[0]), records
    assert proc.alerts() == alerts_before, "a dry run must not open or update alerts"


def test_dry_run_of_a_good_object_is_admitted_and_not_stored(
    cluster: Cluster, gate: Gate, namespace: str, examples: list[Example]
) -> None:
    good = good_migration(examples)
    head = gate.process.audit_head() if gate.process is not None else 0
    obj = renamed(migration_request(good, namespace), "dryrun-good")
    result = cluster.kubectl.apply(obj, "--dry-run=server")
    assert_admitted(
        result,
        cluster.kubectl,
        "MigrationRequest",
        obj["metadata"]["name"],
        namespace,
        stored=False,
    )
    if gate.process is not None:
        records = gate.process.audit_since(head)
        assert records and all(r["dry_run"] is True for r in records), records
        assert records[0]["decision"] == "ALLOW", records


def test_server_side_apply_is_gated(
    cluster: Cluster, gate: Gate, namespace: str, examples: list[Example]
) -> None:
    ssa = ("--server-side", "--field-manager=e2e-gitops")
    bad, good = bad_migration(examples), good_migration(examples)

    denied = renamed(migration_request(bad, namespace), "ssa-bad")
    result = cluster.kubectl.apply(denied, *ssa)
    assert_denied(
        result,
        cluster.kubectl,
        "MigrationRequest",
        denied["metadata"]["name"],
        namespace,
        bad.expected.policies,
    )

    denied_cm = renamed(config_map(bad, namespace), "ssa-bad-cm")
    result = cluster.kubectl.apply(denied_cm, *ssa)
    assert_denied(
        result,
        cluster.kubectl,
        "ConfigMap",
        denied_cm["metadata"]["name"],
        namespace,
        bad.expected.policies,
    )

    admitted = renamed(migration_request(good, namespace), "ssa-good")
    result = cluster.kubectl.apply(admitted, *ssa)
    assert_admitted(
        result, cluster.kubectl, "MigrationRequest", admitted["metadata"]["name"], namespace
    )


def _break_tls(config: str) -> str:
    broken = config.replace("enabled: true", "enabled: false", 1)
    assert broken != config, "t1_good's app-config.yaml no longer has `enabled: true`"
    return broken


def test_update_that_breaks_a_good_request_is_denied(
    cluster: Cluster, gate: Gate, namespace: str, examples: list[Example]
) -> None:
    good = good_migration(examples)
    obj = renamed(migration_request(good, namespace), "update")
    name = obj["metadata"]["name"]
    assert_admitted(
        cluster.kubectl.apply(obj), cluster.kubectl, "MigrationRequest", name, namespace
    )

    # A harmless change (a label) is an UPDATE the gate evaluates and admits.
    labelled = cluster.kubectl.run(
        "label", "migrationrequest", name, "-n", namespace, "e2e/touched=yes"
    )
    assert labelled.ok, str(labelled)

    original = obj["spec"]["config"]
    obj["spec"]["config"] = _break_tls(original)
    result = cluster.kubectl.apply(obj)
    assert_denied(
        result,
        cluster.kubectl,
        "MigrationRequest",
        name,
        namespace,
        ["config-hash-mismatch"],
        existed=True,
    )
    stored = cluster.kubectl.get_json("migrationrequest", name, "-n", namespace)
    assert stored["spec"]["config"] == original


def test_update_that_breaks_a_good_configmap_is_denied(
    cluster: Cluster, gate: Gate, namespace: str, examples: list[Example]
) -> None:
    good = good_migration(examples)
    obj = renamed(config_map(good, namespace), "update-cm")
    name = obj["metadata"]["name"]
    assert_admitted(cluster.kubectl.apply(obj), cluster.kubectl, "ConfigMap", name, namespace)

    original = obj["data"][APP_CONFIG]
    obj["data"][APP_CONFIG] = _break_tls(original)
    result = cluster.kubectl.apply(
        obj, "--server-side", "--field-manager=e2e-gitops", "--force-conflicts"
    )
    assert_denied(
        result,
        cluster.kubectl,
        "ConfigMap",
        name,
        namespace,
        ["config-hash-mismatch"],
        existed=True,
    )
    stored = cluster.kubectl.get_json("configmap", name, "-n", namespace)
    assert stored["data"][APP_CONFIG] == original
