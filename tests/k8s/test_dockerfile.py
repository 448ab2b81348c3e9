"""The Dockerfile passes hadolint and keeps the image's promises (no Docker engine needed):
non-root uid 10001, only the three listener ports, no HEALTHCHECK, pinned multi-stage bases."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from . import render

DOCKERFILE = render.REPO / "Dockerfile"
DOCKERIGNORE = render.REPO / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint(hadolint_bin: Path) -> None:
    proc = subprocess.run(
        [str(hadolint_bin), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_promises() -> None:
    ins = _instructions()
    words = [w for w, _ in ins]
    assert "HEALTHCHECK" not in words  # Kubernetes probes /livez and /readyz
    assert words.count("FROM") >= 2  # multi-stage: no build tooling in the final image
    (expose,) = [a for w, a in ins if w == "EXPOSE"]
    assert sorted(expose.split()) == ["8080", "8443", "9090"]
    users = [a for w, a in ins if w == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    env = " ".join(a for w, a in ins if w == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    for w, a in ins:
        if w == "RUN" and "pip install" in a:
            assert "--no-cache-dir" in a
    arg = dict(a.split("=", 1) for w, a in ins if w == "ARG" and "=" in a)
    base = arg["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base  # pinned by tag, never latest
    assert all(a.split()[0] == "${PYTHON_IMAGE}" for w, a in ins if w == "FROM")


def test_build_context_is_minimal() -> None:
    lines = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines()]
    rules = [ln for ln in lines if ln and not ln.startswith("#")]
    assert rules[0] == "*"  # deny by default: no .venv, .git, .state or audit DBs in the image
    allowed = {r[1:] for r in rules if r.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "webhook/"}
    copied = [a for w, a in _instructions() if w == "COPY" and "--from" not in a]
    sources = {s for a in copied for s in a.split()[:-1]}
    assert sources <= {"pyproject.toml", "README.md", "webhook"}
