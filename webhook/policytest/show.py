"""`policy show`: the effective bundle (defaults filled in) as YAML that loads as a bundle.

The digest printed is the one decisions carry: of the exact bytes loaded, not of this text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from webhook.contracts.env import ENVS
from webhook.contracts.reasons import BUILTIN_REASONS
from webhook.contracts.strict import load_yaml
from webhook.policies import PolicyBundle


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def effective(bundle: PolicyBundle) -> dict[str, Any]:
    """The bundle document as it runs: every entry as written, params with defaults filled in."""
    # the default limits are looser than the bundle's own, so a loaded bundle always parses
    doc = load_yaml(bundle.data, source=bundle.source)
    entries: list[dict[str, Any]] = []
    for raw, policy in zip(doc["policies"], bundle.policies, strict=True):
        entry = {k: v for k, v in raw.items() if k not in ("params", "env_params")}
        common = dict(policy.params)
        if common:
            entry["params"] = _plain(common)
        overlays: dict[str, Any] = {}
        for env in ENVS:
            resolved = policy.resolved[env]
            diff = {k: v for k, v in resolved.items() if common.get(k) != v}
            if diff:
                overlays[env] = _plain(diff)
        if overlays:
            entry["env_params"] = overlays
        entries.append(entry)
    return {"apiVersion": doc["apiVersion"], "kind": doc["kind"], "policies": entries}


def render_yaml(bundle: PolicyBundle) -> str:
    head = [
        "# effective policy bundle: defaults filled in; this text loads as a bundle itself",
        f"# source: {bundle.source}",
        f"# digest: {bundle.digest}  (of the bytes loaded from the source)",
    ]
    body = yaml.safe_dump(effective(bundle), sort_keys=False, allow_unicode=True, width=100)
    tail = ["# always enforced (emitted by the pipelines, not configurable):"]
    tail += [f"#   {reason}: {meaning}" for reason, meaning in BUILTIN_REASONS.items()]
    return "\n".join(head) + "\n" + body + "\n".join(tail)
