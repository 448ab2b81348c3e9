"""`kubectl` as the tests' only client: the same code path a user's `kubectl apply` takes.

Always a list argv (never a shell), a bounded timeout per call, its own discovery cache dir, and
the manifest on stdin as JSON (valid YAML for kubectl), so no temp files and no quoting issues.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .procs import loopback_env

CALL_TIMEOUT = 90.0  # webhook timeout is 10 s; leaves room for discovery on a loaded machine


@dataclass(frozen=True, slots=True)
class Result:
    """Outcome of one kubectl call, with everything a failing assertion should show."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def warnings(self) -> list[str]:
        """`Warning: ...` lines kubectl prints for admission warnings (on stderr)."""
        return [line for line in self.stderr.splitlines() if line.startswith("Warning:")]

    def __str__(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\n-> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


class Kubectl:
    """Runs one kubectl binary against one kubeconfig."""

    def __init__(self, binary: Path, kubeconfig: Path, cache_dir: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir

    def run(self, *args: str, stdin: str | None = None, timeout: float = CALL_TIMEOUT) -> Result:
        argv = (
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.cache_dir}",
            *args,
        )
        env = loopback_env({"KUBECONFIG": str(self.kubeconfig)})
        try:
            proc = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return Result(argv, -1, _text(exc.stdout), _text(exc.stderr) + "\n<timed out>")
        return Result(argv, proc.returncode, proc.stdout, proc.stderr)

    def apply(self, obj: Mapping[str, Any], *flags: str) -> Result:
        """`kubectl apply -f -` of one object, with extra flags (--dry-run=server, ...)."""
        return self.run("apply", "-f", "-", *flags, stdin=json.dumps(obj))

    def create(self, obj: Mapping[str, Any], *flags: str) -> Result:
        return self.run("create", "-f", "-", *flags, stdin=json.dumps(obj))

    def must(self, *args: str, stdin: str | None = None) -> Result:
        """Run and raise with full output if kubectl failed (for setup steps, not assertions)."""
        result = self.run(*args, stdin=stdin)
        if not result.ok:
            raise AssertionError(f"kubectl setup step failed:\n{result}")
        return result

    def get_json(self, *args: str) -> Any:
        return json.loads(self.must("get", *args, "-o", "json").stdout)

    def exists(self, kind: str, name: str, namespace: str) -> bool:
        result = self.run("get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name")
        if not result.ok:
            raise AssertionError(f"kubectl get failed:\n{result}")
        return bool(result.stdout.strip())


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def apply_all(kubectl: Kubectl, objects: Sequence[Mapping[str, Any]]) -> None:
    """Apply setup objects (CRDs, namespaces, webhook config) as one List; raise on failure."""
    kubectl.must(
        "apply",
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
    )
