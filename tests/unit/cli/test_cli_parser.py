"""The parser's promises: no abbreviations, -V and -o, help on every option, each command only
the options it uses, no argparse privates, and `--version` without loading the engine."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from webhook.cli import build_parser, main
from webhook.cli.completion import walk

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
GOOD = EXAMPLES / "t1_good"


def options_of(path: str) -> set[str]:
    tree = dict(walk(build_parser().node))
    return {f for o in tree[path].options for f in o.flags}


def test_abbreviated_flags_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["validate", "migration", str(GOOD), "--trust", str(GOOD / "trust")],
        ["validate", "migration", str(GOOD), "--out", "json"],
        ["keygen", "--ou", "k"],
        ["audit", "tail", "--foll"],
        ["--vers"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2, argv
        assert "error:" in capsys.readouterr().err


def test_every_level_refuses_abbreviations() -> None:
    for path, node in walk(build_parser().node):
        del node
        parser = build_parser()
        for name in path.split():
            parser = parser.node.commands[name]
        assert parser.allow_abbrev is False, path or "top"


def test_short_version_and_output(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["-V"])
    assert info.value.code == 0
    assert re.fullmatch(r"migration-gate \d+\.\d+\.\d+\n", capsys.readouterr().out)
    code = main(
        ["validate", "migration", str(GOOD), "--trust-dir", str(GOOD / "trust"), "-o", "json"]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "ALLOW"


def test_every_option_has_help() -> None:
    missing = [
        f"{path or 'migration-gate'} {o.flags or 'positional'}"
        for path, node in walk(build_parser().node)
        for o in node.options
        if not o.help.strip()
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("path", "absent"),
    [
        ("keygen", {"--policy", "--trust-dir", "--audit-db"}),
        ("verify", {"--policy", "--audit-db", "--output"}),
        ("sign migration", {"--policy", "--trust-dir", "--audit-db", "--output"}),
        ("pin", {"--policy", "--trust-dir", "--audit-db"}),
        ("policy lint", {"--policy", "--trust-dir", "--audit-db"}),
        ("policy test", {"--policy", "--trust-dir", "--audit-db"}),
        ("audit tail", {"--policy", "--trust-dir"}),
        ("completion", {"--policy", "--trust-dir", "--audit-db", "--output"}),
        ("serve", {"--output"}),
    ],
)
def test_each_command_shows_only_the_options_it_uses(path: str, absent: set[str]) -> None:
    assert options_of(path) & absent == set()


def test_the_options_a_command_uses_are_there() -> None:
    assert {"--policy", "--trust-dir", "--env", "--deadline", "--audit-db", "-o"} <= options_of(
        "validate migration"
    )
    assert {"--trust-dir", "--payload", "--threshold"} <= options_of("verify")
    assert {"--policy", "--trust-dir", "--audit-db", "--api-port", "--state-dir"} <= options_of(
        "serve"
    )


def test_no_argparse_privates_in_the_cli() -> None:
    private = re.compile(r"\._[a-z]\w*|_SubParsersAction|_ActionsContainer|_ArgumentGroup")
    hits = [
        f"{p.name}:{n}: {line.strip()}"
        for p in sorted((ROOT / "webhook" / "cli").glob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if private.search(line.split("#")[0]) and "self._" not in line
    ]
    assert hits == []


def _modules_after(*argv: str) -> set[str]:
    code = (
        "import sys, json\n"
        "from webhook.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout = sys.__stdout__\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


HEAVY = {"webhook.pipelines", "webhook.policies", "webhook.audit", "pydantic", "cel", "uvicorn"}


@pytest.mark.parametrize(
    "argv",
    [("--version",), ("--help",), ("validate", "migration", "--help"), ("completion", "bash")],
)
def test_version_help_and_completion_do_not_load_the_engine(argv: tuple[str, ...]) -> None:
    assert _modules_after(*argv) & HEAVY == set()


def test_validate_does_not_load_the_server_or_the_policy_test_runner() -> None:
    loaded = _modules_after(
        "validate", "migration", str(GOOD), "--trust-dir", str(GOOD / "trust"), "--no-audit"
    )
    assert "webhook.pipelines" in loaded  # it did decide
    assert loaded & {"uvicorn", "starlette", "webhook.policytest", "webhook.audit"} == set()


#: loaded on first use only, so `validate migration` (benchmark B11) never pays for them: the T2
#: pipeline and the archive inspector under it, the CEL wrapper (the default bundle has no CEL
#: policy), the pinned opener (the CLI reads plain paths), the server's settings (only the
#: default audit store needs them, and --no-audit never looks) and the JUnit writer
NOT_FOR_A_MIGRATION = {
    "webhook.pipelines.replication",
    "webhook.pipelines.statement",
    "webhook.integrity.archive",
    "webhook.policies.cel",
    "webhook.integrity.pinned",
    "webhook.server.settings",
    "xml.etree.ElementTree",
    # the other command groups: main builds the group of the command it runs, alone
    "webhook.cli.audit",
    "webhook.cli.signing",
    "webhook.cli.serve",
    "webhook.server.flags",
}


def test_validate_migration_loads_only_what_a_migration_uses() -> None:
    loaded = _modules_after(
        "validate", "migration", str(GOOD), "--trust-dir", str(GOOD / "trust"), "--no-audit"
    )
    assert "webhook.pipelines.migration" in loaded  # it did decide
    assert loaded & NOT_FOR_A_MIGRATION == set()


def test_validate_replication_loads_its_pipeline_on_first_use() -> None:
    t2 = EXAMPLES / "t2_good"
    loaded = _modules_after(
        "validate", "replication", str(t2), "--trust-dir", str(t2 / "trust"), "--no-audit"
    )
    assert {"webhook.pipelines.replication", "webhook.integrity.archive"} <= loaded


def test_each_command_is_built_by_the_module_main_imports_for_it() -> None:
    from webhook.cli.app import COMMANDS, GROUPS, groups_for

    assert list(build_parser().node.commands) == list(COMMANDS)  # the same tree, in order
    for name, group in COMMANDS.items():
        assert groups_for([name, "--help"]) == (group,)
        assert name in build_parser((group,)).node.commands
    assert groups_for(["--help"]) == groups_for(["nope"]) == groups_for([]) == GROUPS


def test_version_builds_no_command_group() -> None:
    groups = {f"webhook.cli.{g}" for g in ("validate", "init", "signing", "audit", "serve")}
    assert _modules_after("--version") & groups == set()
