"""`python -m bench.cel_cost [--rounds N] [--calls N]`: 20 CEL policies vs the same 20 rules as
built-in checks, in one run, interleaved.

Two figures, each the median of interleaved A/B rounds: the policy loop alone (`evaluate` on a
fresh PolicyContext per call, so CEL's once-per-request input conversion is counted) and a whole
T1 decision of examples/t1_good (`Engine.validate_migration`, input cache off) with the default
bundle plus the 20 rules. The ratio is CEL / built-in.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from webhook.artifacts import migration_inputs
from webhook.integrity import TrustStore
from webhook.pipelines.engine import Engine
from webhook.policies import REGISTRY, PolicyContext, Violation, evaluate, load_bundle

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "examples" / "t1_good"
HEAD = "apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies:\n"

Cfg = Mapping[str, Any]
#: (CEL expression, the same rule in Python over the config and the manifest)
RULES: list[tuple[str, Callable[[Cfg, Cfg, str], bool]]] = [
    (
        "!config.ports.exists(p, p.port == 22)",
        lambda c, m, e: all(p["port"] != 22 for p in c["ports"]),
    ),
    ("config.tls.enabled == true", lambda c, m, e: c["tls"]["enabled"] is True),
    (
        "config.tls.min_version in ['1.2', '1.3']",
        lambda c, m, e: c["tls"]["min_version"] in ("1.2", "1.3"),
    ),
    (
        "config.ports.all(p, p.port > 1024)",
        lambda c, m, e: all(p["port"] > 1024 for p in c["ports"]),
    ),
    (
        "config.ports.all(p, p.exposure == 'internal')",
        lambda c, m, e: all(p["exposure"] == "internal" for p in c["ports"]),
    ),
    ("config.security.run_as_root == false", lambda c, m, e: c["security"]["run_as_root"] is False),
    ("config.security.privileged == false", lambda c, m, e: c["security"]["privileged"] is False),
    (
        "config.security.capabilities.size() == 0",
        lambda c, m, e: len(c["security"]["capabilities"]) == 0,
    ),
    (
        "config.secrets_ref.startsWith('vault://')",
        lambda c, m, e: c["secrets_ref"].startswith("vault://"),
    ),
    (
        "config.app_id.matches('^[a-z][a-z0-9-]*$')",
        lambda c, m, e: __import__("re").fullmatch(r"[a-z][a-z0-9-]*", c["app_id"]) is not None,
    ),
    (
        "config.database.host.endsWith('.internal')",
        lambda c, m, e: c["database"]["host"].endswith(".internal"),
    ),
    (
        "config.database.password_ref.startsWith('vault://')",
        lambda c, m, e: c["database"]["password_ref"].startswith("vault://"),
    ),
    ("manifest.version.startsWith('4.')", lambda c, m, e: m["version"].startswith("4.")),
    ("manifest.app_id == config.app_id", lambda c, m, e: m["app_id"] == c["app_id"]),
    ("env == 'prod' || env == 'staging'", lambda c, m, e: e in ("prod", "staging")),
    ("config.ports.size() <= 16", lambda c, m, e: len(c["ports"]) <= 16),
    (
        "config.ports.all(p, p.bind != '0.0.0.0')",
        lambda c, m, e: all(p["bind"] != "0.0.0.0" for p in c["ports"]),
    ),
    (
        "config.ports.exists_one(p, p.name == 'https')",
        lambda c, m, e: sum(p["name"] == "https" for p in c["ports"]) == 1,
    ),
    (
        "config.ports.map(p, p.port).all(x, x < 65536)",
        lambda c, m, e: all(x < 65536 for x in [p["port"] for p in c["ports"]]),
    ),
    (
        "!config.ports.exists(p, p.port == 23)",
        lambda c, m, e: all(p["port"] != 23 for p in c["ports"]),
    ),
]


def _register() -> list[str]:
    """The 20 rules as built-in checks (this process only; unregistered at the end)."""
    names = []
    for i, (_, rule) in enumerate(RULES):
        name = f"bench-rule-{i}"

        def check(
            ctx: PolicyContext, _p: Mapping[str, Any], rule: Any = rule
        ) -> Iterable[Violation]:
            assert ctx.config is not None
            if not rule(ctx.config, ctx.manifest or {}, ctx.effective_env):
                yield Violation("", "rule failed")

        REGISTRY.register(name, scenarios=("T1",))(check)
        names.append(name)
    return names


def _entries(cel: bool) -> str:
    out = []
    for i, (expr, _) in enumerate(RULES):
        body = (
            f"    expression: '{expr.replace(chr(39), chr(39) * 2)}'\n    scenarios: [T1]\n"
            if cel
            else f"    check: bench-rule-{i}\n    description: rule {i}\n"
        )
        out.append(
            f"  - id: rule-{i}\n{body}    severity: high\n"
            "    actions: {prod: enforce, staging: enforce}\n"
        )
    return "".join(out)


def _timed(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    names = _register()
    try:
        only = {
            c: load_bundle((HEAD + _entries(c)).encode(), source=f"cel={c}") for c in (True, False)
        }
        default = (ROOT / "webhook" / "policies" / "default.yaml").read_text().rstrip("\n") + "\n"
        full = {
            c: load_bundle((default + _entries(c)).encode(), source=f"full cel={c}")
            for c in (True, False)
        }
        inputs = migration_inputs(FOLDER)
        trust = TrustStore.from_dir(FOLDER / "trust")
        engines = {c: Engine(full[c], trust, cache_entries=0) for c in (True, False)}
        config = json.loads(
            json.dumps(__import__("yaml").safe_load((FOLDER / "app-config.yaml").read_text()))
        )
        manifest = json.loads((FOLDER / "migration_manifest.json").read_text())

        def loop(c: bool) -> Callable[[], object]:
            def run() -> object:
                ctx = PolicyContext(scenario="T1", env="prod", config=config, manifest=manifest)
                findings = evaluate(only[c], ctx)
                assert not findings, findings
                return findings

            return run

        def decide(c: bool) -> Callable[[], object]:
            def run() -> object:
                d = engines[c].validate_migration(inputs)
                assert d.decision == "ALLOW", d
                return d

            return run

        samples: dict[str, list[float]] = {
            k: [] for k in ("loop-cel", "loop-py", "dec-cel", "dec-py")
        }
        for _ in range(args.rounds):
            samples["loop-cel"].append(_timed(loop(True), args.calls))
            samples["loop-py"].append(_timed(loop(False), args.calls))
            samples["dec-cel"].append(_timed(decide(True), args.calls // 5 or 1))
            samples["dec-py"].append(_timed(decide(False), args.calls // 5 or 1))
        med = {k: statistics.median(v) for k, v in samples.items()}
        print(
            f"policy loop, 20 rules: CEL {med['loop-cel']:.0f} us, "
            f"built-in {med['loop-py']:.0f} us, ratio {med['loop-cel'] / med['loop-py']:.2f}x"
        )
        print(
            f"whole T1 decision (default bundle + 20 rules): CEL {med['dec-cel']:.0f} us, "
            f"built-in {med['dec-py']:.0f} us, ratio {med['dec-cel'] / med['dec-py']:.2f}x"
        )
    finally:
        for name in names:
            REGISTRY.unregister(name)


if __name__ == "__main__":
    main()
