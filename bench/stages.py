"""Where the microseconds of one distinct decision go, per stage, before vs after, side by side.

`python -m bench.stages [--before TREE] [--rounds 7] [--n 300]` times each stage of a T1
admission decision on distinct signed inputs (B1a's objects: no cache can hit) in fresh worker
processes, alternating the source tree under test (`--before DIR`, e.g. an earlier commit's
files from `git archive COMMIT webhook | tar -x -C DIR`, and this checkout) round by round,
and prints a Markdown table of medians (min..max) in CPU microseconds per decision (thread CPU
time). Each stage calls the same
functions the engine calls, in the engine's order, on fresh inputs:

- YAML parse: `load_yaml` of app-config.yaml (strict builder, YAML 1.2 check);
- JSON parse: `load_json` of the manifest and `parse_envelope` of the signature;
- model validation: `validate(MigrationManifest)` and `validate(AppConfig)`;
- signature verification: `verify_envelope` against the trust store (Ed25519);
- policy checks: `evaluate` of the default bundle over the parsed config;
- engine total: `Engine.validate_migration` as deployed (its input cache misses: every
  input is new, but each parse is still copied into it);
- door conversion: the admission door's `objects.convert` of the MigrationRequest;
- audit encoding: `build_static` + `prepared` of the decision (what the writer is handed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import LOAD_CPU, ROOT, pinned

STAGES = ("yaml", "json", "models", "signature", "policies", "engine", "convert", "audit")
LABELS = {
    "yaml": "YAML parse (app-config.yaml)",
    "json": "JSON parse (manifest + DSSE envelope)",
    "models": "model validation (manifest + config)",
    "signature": "signature verification (Ed25519, DSSE PAE)",
    "policies": "policy checks (default bundle)",
    "engine": "whole engine decision (`validate_migration`)",
    "convert": "admission door: MigrationRequest -> inputs",
    "audit": "audit encoding of the decision",
}


def _time(fn: Callable[[int], object], n: int) -> float:
    """CPU microseconds per call (this thread's CPU time: waiting for a core on a shared
    machine is not counted, which keeps the figure close to what the work costs)."""
    t = time.thread_time()
    for i in range(n):
        fn(i)
    return (time.thread_time() - t) / n * 1e6


def measure(n: int) -> dict[str, float]:
    """Per-stage microseconds per decision in this process (whatever `webhook` it imports)."""
    from bench.payloads import TRUST_DIR, admission_review, artifacts
    from webhook.audit.encode import build_static, prepared
    from webhook.contracts.models import AppConfig, MigrationManifest, validate
    from webhook.contracts.strict import load_json, load_yaml
    from webhook.integrity import parse_envelope, verify_envelope
    from webhook.pipelines import Engine, MigrationInputs
    from webhook.policies import PolicyContext, SignatureFacts, evaluate
    from webhook.server.objects import SnapshotPolicy, convert

    sets = [artifacts(i) for i in range(n)]
    fresh = [artifacts(n + i) for i in range(n + 30)]  # the engine stage's own, never seen
    objs = [json.loads(admission_review(a))["request"]["object"] for a in sets]
    engine = Engine.load(trust_dir=TRUST_DIR)  # as deployed: its input cache misses here
    other = Engine.load(trust_dir=TRUST_DIR)  # makes the decisions the audit stage encodes
    configs = [load_yaml(a.config, source="app-config.yaml") for a in sets]
    manifests = [load_json(a.manifest, source="migration_manifest.json") for a in sets]
    envs = [parse_envelope(a.signature, file="migration_manifest.dsse.json") for a in sets]
    facts = SignatureFacts(present=True, verified=True, trust_configured=True,
                           signers=tuple(engine.trust_store.keyids))
    decisions = [other.validate_migration(MigrationInputs(a.manifest, a.config, a.signature),
                                          request_id=f"d{i}") for i, a in enumerate(sets)]
    snap = SnapshotPolicy(root=None, max_bytes=0)

    def policies(i: int) -> object:
        ctx = PolicyContext(scenario="T1", env="prod", config=configs[i],
                            config_file="app-config.yaml", signature=facts,
                            manifest=manifests[i], subject={"app_id": "payments"})
        return evaluate(engine.bundle, ctx)

    def audit(i: int) -> object:
        d = decisions[i]
        return prepared(build_static(d, source="admission", dry_run=False), d.request_id)

    fns: dict[str, Callable[[int], object]] = {
        "yaml": lambda i: load_yaml(sets[i].config, source="app-config.yaml"),
        "json": lambda i: (load_json(sets[i].manifest, source="migration_manifest.json"),
                           parse_envelope(sets[i].signature, file="m.dsse.json")),
        "models": lambda i: (validate(MigrationManifest, manifests[i]),
                             validate(AppConfig, configs[i])),
        "signature": lambda i: verify_envelope(
            envs[i], engine.trust_store, payload_type=envs[i].payloadType, file="m.dsse.json"),
        "policies": policies,
        "engine": lambda i: engine.validate_migration(
            MigrationInputs(fresh[i].manifest, fresh[i].config, fresh[i].signature),
            request_id=f"r{i}"),
        "convert": lambda i: convert("MigrationRequest", objs[i], snap),
        "audit": audit,
    }
    for k, fn in fns.items():  # warm-up (the engine on inputs its timed loop never sees)
        _time((lambda i, fn=fn: fn(n + i)) if k == "engine" else fn, 30)
    return {k: _time(fn, n) for k, fn in fns.items()}


def _worker(tree: str | None, n: int) -> dict[str, float]:
    """One sample in a fresh pinned process: `webhook` imported from `tree` (its submodules
    then resolve through the package's own path), `bench` from this checkout."""
    src = tree or str(ROOT)
    code = (f"import sys; sys.path.insert(0, {src!r}); import webhook; "
            f"sys.path[0] = {str(ROOT)!r}; from bench.stages import main; "
            f"raise SystemExit(main(['--worker', '{n}']))")
    cmd = pinned([sys.executable, "-c", code], LOAD_CPU)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True, check=False,
                          timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"stage worker ({tree or 'this tree'}) failed: {proc.stderr[-1500:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not out.pop("src").startswith(src):
        raise RuntimeError(f"stage worker imported webhook from outside {src}")
    return out


def _cell(xs: list[float]) -> str:
    return f"{statistics.median(xs):.0f} ({min(xs):.0f}..{max(xs):.0f})"


def table(before: list[dict[str, float]], after: list[dict[str, float]]) -> str:
    lines = ["| stage, µs per decision | before | after | after/before |",
             "| --- | ---: | ---: | ---: |"]
    for k in STAGES:
        b = [r[k] for r in before]
        a = [r[k] for r in after]
        ratio = [x / y for x, y in zip(a, b, strict=True)]
        lines.append(f"| {LABELS[k]} | {_cell(b)} | {_cell(a)} | "
                     f"{statistics.median(ratio):.2f}x ({min(ratio):.2f}..{max(ratio):.2f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--before", default="", help="source tree of the 'before' side")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--n", type=int, default=300, help="distinct decisions per stage and round")
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        import webhook

        print(json.dumps({**measure(args.worker), "src": str(Path(webhook.__file__).parent)}))
        return 0
    before: list[dict[str, float]] = []
    after: list[dict[str, float]] = []
    for r in range(args.rounds):
        order: list[tuple[str, list[dict[str, float]]]] = [(args.before, before), ("", after)]
        for tree, out in order if r % 2 == 0 else order[::-1]:
            if tree or out is after:
                out.append(_worker(tree or None, args.n))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    if not args.before:
        before = after
    print(table(before, after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
