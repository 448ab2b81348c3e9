"""`migration-gate policy show | lint | test`: the policy bundle and its test suites.

Exit codes: `show` 0; `lint` 0 clean, 1 problems, 2 unreadable; `test` 0 every case passed,
1 a case failed, 2 a suite malformed (one line per problem, naming file and field).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from webhook.cli.options import (
    EXIT_BLOCK,
    EXIT_OK,
    SubCommands,
    add_output,
    add_policy,
    add_trust_dir,
)

#: `policy test`'s formats (the keys of `webhook.policytest.reporters.FORMATS`; a test keeps
#: them equal), named here so that building the parser does not load the engine
TEST_FORMATS = ("text", "json", "junit", "sarif")


def register(commands: SubCommands) -> None:
    policy = commands.add_parser("policy", help="policy bundle commands: show, lint, test")
    actions = policy.add_commands(dest="policy_command", metavar="ACTION", title="actions")

    show = actions.add_parser(
        "show", help="print the effective bundle (YAML, or --output json) and its digest"
    )
    add_policy(show)
    add_trust_dir(show)
    add_output(show, ("yaml", "json"))
    show.set_defaults(func=cmd_show)

    lint = actions.add_parser(
        "lint", help="check bundle files without running them (exit 0 clean, 1 problems)"
    )
    lint.add_argument("files", nargs="+", metavar="FILE", help="policy bundle YAML")
    add_output(lint)
    lint.set_defaults(func=cmd_lint)

    # no --policy on purpose: MIGRATION_GATE_POLICY must not change what a suite tests
    test = actions.add_parser(
        "test", help="run policy test suites (exit 0 all pass, 1 a case failed, 2 malformed)"
    )
    test.add_argument("paths", nargs="+", metavar="PATH", help="suite files or directories")
    add_output(test, TEST_FORMATS)
    test.set_defaults(func=cmd_test)


def cmd_show(args: argparse.Namespace) -> int:
    from webhook.contracts.reasons import BUILTIN_REASONS  # noqa: PLC0415
    from webhook.pipelines import Engine  # noqa: PLC0415
    from webhook.policytest.show import render_yaml  # noqa: PLC0415

    policy = Path(args.policy) if args.policy else None
    trust = Path(args.trust_dir) if args.trust_dir else None
    bundle = Engine.load(policy_path=policy, trust_dir=trust).bundle
    if args.output == "json":
        data = {
            "digest": bundle.digest,
            "source": bundle.source,
            "policies": [p.summary() for p in bundle.policies],
            "builtin_reasons": BUILTIN_REASONS,
        }
        print(json.dumps(data, sort_keys=True, indent=2))
    else:
        print(render_yaml(bundle), end="")
    return EXIT_OK


def cmd_lint(args: argparse.Namespace) -> int:
    from webhook.policytest.lint import lint_bundle, read_bundle_file  # noqa: PLC0415

    results = [lint_bundle(read_bundle_file(Path(f)), source=f) for f in args.files]
    if args.output == "json":
        rows: list[dict[str, Any]] = [
            {
                "file": r.file,
                "ok": r.ok,
                "digest": r.bundle.digest if r.bundle else None,
                "problems": [
                    {"field": f.field, "line": f.line, "message": f.message} for f in r.findings
                ],
            }
            for r in results
        ]
        print(json.dumps({"files": rows}, sort_keys=True, indent=2))
    else:
        for r in results:
            if r.bundle is not None:
                n = len(r.bundle.policies)
                print(f"{r.file}: ok ({n} policies, {r.bundle.digest})")
            for finding in r.findings:
                print(finding.text(r.file))
        problems = sum(len(r.findings) for r in results)
        if problems:
            print(f"{problems} problem(s)")
    return EXIT_OK if all(r.ok for r in results) else EXIT_BLOCK


def cmd_test(args: argparse.Namespace) -> int:
    from webhook.policytest.loader import discover, load_suites  # noqa: PLC0415
    from webhook.policytest.reporters import FORMATS  # noqa: PLC0415
    from webhook.policytest.runner import run_suites  # noqa: PLC0415

    suites = load_suites(discover(args.paths))
    results = run_suites(suites)
    print(FORMATS[args.output](results))
    sys.stdout.flush()
    return EXIT_BLOCK if any(s.failed for s in results) else EXIT_OK
