"""The chart's part of live reload (issue 15): whole-volume mounts kubelet updates, the interval.

A subPath mount is never updated by kubelet, so a reload would never see a ConfigMap change;
the policy and trust volumes must be mounted whole, and `--reload-interval` passed through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import render


def _pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    pod: dict[str, Any] = dep["spec"]["template"]
    return pod


def test_bundle_and_trust_are_whole_volume_mounts_with_a_reload_interval(
    default_render: list[dict[str, Any]],
) -> None:
    pod = _pod(default_render)
    container = pod["spec"]["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    for name, path in (("policy", "/policy"), ("trust", "/trust")):
        assert mounts[name]["mountPath"] == path and "subPath" not in mounts[name]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert "configMap" in volumes["policy"] and "secret" in volumes["trust"]
    assert "--reload-interval=5" in container["args"]
    assert "checksum/policy" in pod["metadata"]["annotations"]  # rollOnChange defaults on


def test_roll_on_change_off_leaves_the_reload_to_the_pods(helm_bin: Path) -> None:
    sets = ("policy.rollOnChange=false", "server.reloadIntervalSeconds=2")
    pod = _pod(render.documents(render.template(helm_bin, sets=sets)))
    annotations = pod["metadata"]["annotations"]
    assert "checksum/policy" not in annotations and "checksum/trusted-keys" not in annotations
    assert "checksum/tokens" in annotations  # tokens are still read only at start
    assert "--reload-interval=2" in pod["spec"]["containers"][0]["args"]
