"""One error root that renders itself, so every door reports a failure the same way.

`GateError` is raised for input that cannot be read or trusted; pipelines turn it into a BLOCK
reason, the CLI into exit 2 with `diagnostics()`, the HTTP doors into a JSON error.
"""

from __future__ import annotations


class GateError(Exception):
    """Base of every error migration-gate raises on purpose."""

    #: policy id used when this error becomes a Decision reason
    policy: str = "internal-error"

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.field = field

    def where(self) -> str:
        """`file: field` prefix naming exactly what was wrong."""
        parts = [p for p in (self.file, self.field) if p]
        return ": ".join(parts)

    def diagnostics(self) -> str:
        """One line a user can act on."""
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def __str__(self) -> str:
        return self.diagnostics()


class InputError(GateError):
    """An input is missing, unreadable, oversized, malformed or breaks its schema."""

    policy = "input-invalid"


class IntegrityError(GateError):
    """Bytes are not what they claim to be: hash mismatch, hostile archive, bad WAL list."""

    policy = "integrity"


class SignatureError(IntegrityError):
    """A DSSE envelope is unsigned, signed by an untrusted key, or its signature is wrong."""

    policy = "signature-invalid"


class ConfigError(GateError):
    """The gate's own settings (policy bundle, trust store, certificates) are unusable."""

    policy = "gate-config-invalid"


class DeadlineExceeded(GateError):
    """The engine ran past its deadline; the decision is BLOCK."""

    policy = "deadline-exceeded"


class UsageError(GateError):
    """A command line or request names something that cannot be read at all (CLI exit 2)."""

    policy = "input-missing"
