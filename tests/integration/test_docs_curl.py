"""README, "The HTTP service": every shell example runs as shown against a gate like `make run`.

Issue 4 asks that `make run` followed by the README's curl commands works as shown, so the
examples are read from the README itself, between `<!-- api:begin -->` and `<!-- api:end -->`:
only those ```sh blocks run (the CLI tour's and the Kubernetes section's blocks are not HTTP
examples and touch /tmp or a cluster). Each block runs in bash from a directory that looks like
the repository root (examples/ linked in, `.state/` made by the gate); every `# expect: TEXT` line
must appear in its output.
"""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import EXAMPLES, ROOT, start_gate

README = ROOT / "README.md"
BEGIN, END = "<!-- api:begin -->", "<!-- api:end -->"
PORTS = (8443, 8080, 9090)
ENDPOINTS = (
    "/api/v1/validate/migration", "/api/v1/validate/replication", "/api/v1/audit/logs",
    "/api/v1/alerts", "/ack", "/api/v1/openapi.json", "/admission/v1/validate", "/livez",
    "/readyz", "/metrics",
)  # fmt: skip


def section(text: str) -> str:
    """The HTTP service section: one marker pair, in order, so no example escapes the test."""
    assert text.count(BEGIN) == 1 and text.count(END) == 1, f"{README}: need one {BEGIN} / {END}"
    start, stop = text.index(BEGIN), text.index(END)
    assert start < stop, f"{README}: {BEGIN} must come before {END}"
    return text[start + len(BEGIN) : stop]


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def blocks() -> list[str]:
    return sh_blocks(section(README.read_text()))


def _ports_free() -> bool:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def test_section_is_the_http_service_and_has_expectations() -> None:
    body = section(README.read_text())
    assert body.lstrip().startswith("## The HTTP service\n")
    found = blocks()
    assert len(found) >= 8, len(found)
    assert sum(len(re.findall(r"^# expect: ", b, flags=re.M)) for b in found) >= 10


def test_cli_tour_blocks_are_outside_the_section() -> None:
    text = README.read_text()
    inside = blocks()
    outside = [b for b in sh_blocks(text) if b not in inside]
    # the tour's keygen/sign block writes to /tmp: it must never be run by this test
    assert any("migration-gate keygen" in b for b in outside)
    assert not any("migration-gate keygen" in b or "kubectl" in b for b in inside)


def test_docs_have_examples_for_every_endpoint() -> None:
    text = "\n".join(blocks())
    for path in ENDPOINTS:
        assert path in text, path


def test_docs_examples_run_as_shown(tmp_path: Path) -> None:
    if not _ports_free():
        pytest.skip("ports 8443/8080/9090 are in use (a `make run` is running?)")
    (tmp_path / "examples").symlink_to(EXAMPLES)
    gate = start_gate(
        tmp_path, "--trust-dir", "examples/t1_good/trust", "--snapshot-root", "examples",
        make_run=True,
    )  # fmt: skip
    try:
        assert gate.urls["api"] == "http://127.0.0.1:8080"
        for block in blocks():
            script = "set -euo pipefail\nTOKEN=$(cat .state/operator-token.txt)\n" + block
            proc = subprocess.run(
                ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                timeout=60, check=False,
            )  # fmt: skip
            assert proc.returncode == 0, (block, proc.stdout, proc.stderr)
            for want in re.findall(r"^# expect: (.*)$", block, flags=re.M):
                assert want in proc.stdout, (block, want, proc.stdout[-2000:])
    finally:
        assert gate.stop() == 0
