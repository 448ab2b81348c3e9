"""A GitOps sync through the gate: Flux's own controllers, a git repository, three commits.

source-controller fetches a repository served on loopback (smart HTTP), kustomize-controller
applies it to the test apiserver with server-side apply. Flux dry-runs every object first and
applies only if *all* dry runs pass, so:
- a good commit syncs: every object is dry-run (ALLOW, audited as dry run) then applied (ALLOW);
- a commit that breaks one object (TLS off) leaves the Kustomization Ready=False with the gate's
  policy id and reason in its message, and nothing of that commit is applied, not even its good
  objects; the gate audited Flux's dry run (flagged, no alert) and Flux made no real attempt;
- a fix commit recovers.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import EXAMPLES, Cluster, Gate, _required, wait_for_webhook
from .flux import (
    FluxControllers,
    condition,
    git_repository,
    install_crds,
    kustomization,
    repo_files,
    request_reconcile,
    resolve_flux,
)
from .gitserver import GitServer
from .objects import Example, config_map, crd_object, migration_request
from .waits import eventually

FLUX_NS = "flux-system"
SYNC_TIMEOUT = 120.0


@dataclass
class FluxSync:
    """One GitRepository + Kustomization pair syncing `git` into namespace `target`."""

    cluster: Cluster
    gate: Gate
    controllers: FluxControllers
    git: GitServer
    target: str
    name: str

    def push(self, objects: list[dict[str, Any]], message: str) -> str:
        """Commit exactly `objects` and have Flux fetch it; returns Flux's revision string."""
        sha = self.git.commit(repo_files(objects), message)
        revision = f"main@sha1:{sha}"
        request_reconcile(self.cluster.kubectl, "gitrepository", self.name, FLUX_NS)

        def fetched() -> dict[str, Any]:
            self.controllers.check_alive()
            return dict(self.cluster.kubectl.get_json("gitrepository", self.name, "-n", FLUX_NS))

        eventually(
            fetched,
            lambda repo: repo.get("status", {}).get("artifact", {}).get("revision") == revision,
            f"source-controller fetched {revision}",
            timeout=SYNC_TIMEOUT,
        )
        return revision

    def attempted(self, revision: str) -> dict[str, Any]:
        """The Kustomization once it has finished an attempt at `revision` (Ready True/False)."""

        def get() -> dict[str, Any]:
            self.controllers.check_alive()
            return dict(self.cluster.kubectl.get_json("kustomization", self.name, "-n", FLUX_NS))

        def done(ks: dict[str, Any]) -> bool:
            ready = condition(ks, "Ready")
            return (
                ks.get("status", {}).get("lastAttemptedRevision") == revision
                and ready is not None
                and ready.get("status") in ("True", "False")
            )

        return eventually(get, done, f"kustomize-controller attempted {revision}", SYNC_TIMEOUT)


@pytest.fixture(scope="module")
def flux_sync(
    cluster: Cluster, gate: Gate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FluxSync]:
    if cluster.external:
        pytest.skip("the Flux scenario runs its own controllers against the loopback apiserver")
    binaries, why = resolve_flux()
    if binaries is None:
        message = f"Flux e2e cannot run: {why}"
        if _required():
            pytest.fail(message + " (CI=true: the e2e level must not be skipped)")
        pytest.skip(message)
    work = tmp_path_factory.mktemp("flux")
    install_crds(cluster.kubectl, binaries.crds)
    cluster.kubectl.run("create", "namespace", FLUX_NS)
    target = f"mg-e2e-flux-{secrets.token_hex(3)}"  # unlabelled: the prod door
    cluster.kubectl.must("create", "namespace", target)
    wait_for_webhook(cluster.kubectl, target)
    controllers = FluxControllers(binaries, cluster.kubectl.kubeconfig, work / "controllers")
    controllers.start()
    try:
        with GitServer(work / "git") as git:
            sync = FluxSync(cluster, gate, controllers, git, target, name="apps")
            # The first commit exists before Flux first looks, as with any real repository.
            sync.git.commit({"README.md": b"empty until the first release\n"}, "init")
            cluster.kubectl.must(
                "apply",
                "-f",
                "-",
                stdin=_json_list(
                    [
                        git_repository(sync.name, FLUX_NS, git.url),
                        kustomization(sync.name, FLUX_NS, sync.name, target),
                    ]
                ),
            )
            yield sync
    finally:
        controllers.stop()
        cluster.kubectl.run("delete", "namespace", target, "--wait=false")


def _json_list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def _example(examples: list[Example], name: str) -> Example:
    for ex in examples:
        if ex.name == name:
            return ex
    pytest.fail(f"examples/{name} is required by the Flux scenario")


def _named(obj: dict[str, Any], name: str) -> dict[str, Any]:
    obj["metadata"]["name"] = name
    return obj


def _release(examples: list[Example], target: str, *, app_config_from: str) -> list[dict[str, Any]]:
    """The objects of one release commit: the MigrationRequest `app` (its artifacts from
    `app_config_from`), its labelled ConfigMap form, and a ReplicationRequest."""
    good = _example(examples, "t1_good")
    app = _example(examples, app_config_from)
    return [
        _named(migration_request(app, target), "app"),
        _named(config_map(good, target), "app-artifacts"),
        _named(crd_object(_example(examples, "t2_good"), target, EXAMPLES), "replica"),
    ]


def _by_source(records: list[dict[str, Any]], dry_run: bool) -> list[dict[str, Any]]:
    return [r for r in records if r["source"] == "admission" and r["dry_run"] is dry_run]


def test_flux_sync_through_the_gate(flux_sync: FluxSync, examples: list[Example]) -> None:
    sync, kubectl = flux_sync, flux_sync.cluster.kubectl
    proc = sync.gate.require_process()
    target = sync.target

    # 1. A good release syncs: every gated object dry-run then applied, both ALLOWed.
    head = proc.audit_head()
    good = _release(examples, target, app_config_from="t1_good")
    good_rev = sync.push(good, "release 1: good")
    ks = sync.attempted(good_rev)
    ready = condition(ks, "Ready")
    assert ready is not None and ready["status"] == "True", ks["status"]
    assert ks["status"]["lastAppliedRevision"] == good_rev
    for obj in good:
        assert kubectl.exists(obj["kind"], obj["metadata"]["name"], target), obj["metadata"]
    records = proc.audit_since(head)
    assert all(r["decision"] == "ALLOW" for r in records), records
    assert len(_by_source(records, dry_run=True)) >= len(good), records
    assert len(_by_source(records, dry_run=False)) >= len(good), records
    stored_app = kubectl.get_json("migrationrequest", "app", "-n", target)["spec"]

    # 2. A commit that turns TLS off for `app` (and adds a good ConfigMap): denied at Flux's
    #    dry run, Ready=False naming the gate's policy and reason, nothing of it applied.
    head, alerts_before = proc.audit_head(), proc.alerts()
    bad_example = _example(examples, "t1_bad_tls_disabled")
    added = _named(config_map(_example(examples, "t1_good"), target), "added-with-the-bad-one")
    bad = [*_release(examples, target, app_config_from=bad_example.name), added]
    bad_rev = sync.push(bad, "release 2: TLS off")
    ks = sync.attempted(bad_rev)
    ready = condition(ks, "Ready")
    assert ready is not None and ready["status"] == "False", ks["status"]
    assert ks["status"]["lastAppliedRevision"] == good_rev, ks["status"]
    message = str(ready.get("message", ""))
    records = proc.audit_since(head)
    blocked = [r for r in records if r["decision"] == "BLOCK"]
    assert blocked, f"no BLOCK audited for the bad commit: {records}"
    assert all(r["dry_run"] is True for r in blocked), blocked
    reasons = {str(r["policy"]): str(r["message"]) for r in blocked[0]["reasons"]}
    assert set(bad_example.expected.policies) <= set(reasons), reasons
    assert "denied the request" in message, message
    for policy in bad_example.expected.policies:
        assert f"[{policy}]" in message and reasons[policy] in message, message
    # Flux applies nothing once a dry run fails: no real attempt reached the gate.
    assert not _by_source(records, dry_run=False), records
    assert proc.alerts() == alerts_before, "Flux's dry run must not open or update alerts"
    assert kubectl.get_json("migrationrequest", "app", "-n", target)["spec"] == stored_app
    assert not kubectl.exists("ConfigMap", added["metadata"]["name"], target)

    # 3. The fix commit recovers: Ready=True at the new revision, the added object exists.
    fixed = [*_release(examples, target, app_config_from="t1_good"), added]
    fixed_rev = sync.push(fixed, "release 3: TLS back on")
    ks = sync.attempted(fixed_rev)
    ready = condition(ks, "Ready")
    assert ready is not None and ready["status"] == "True", ks["status"]
    assert ks["status"]["lastAppliedRevision"] == fixed_rev
    assert kubectl.exists("ConfigMap", added["metadata"]["name"], target)
    assert kubectl.get_json("migrationrequest", "app", "-n", target)["spec"] == stored_app
