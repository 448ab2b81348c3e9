"""docs/api.md: every shell example runs as shown against a gate started like `make run`.

Each ```sh block runs in bash from a directory that looks like the repository root (examples/
linked in, `.state/` made by the gate); every `# expect: TEXT` line must appear in its output.
"""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import EXAMPLES, ROOT, start_gate

DOC = ROOT / "docs" / "api.md"
PORTS = (8443, 8080, 9090)


def blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)


def _ports_free() -> bool:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def test_docs_have_examples_for_every_endpoint() -> None:
    text = "\n".join(blocks())
    for path in ("/api/v1/validate/migration", "/api/v1/validate/replication",
                 "/api/v1/audit/logs", "/api/v1/alerts", "/ack", "/api/v1/openapi.json",
                 "/admission/v1/validate", "/livez", "/readyz", "/metrics"):  # fmt: skip
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
