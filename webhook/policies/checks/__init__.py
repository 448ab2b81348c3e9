"""The built-in checks, one module per family; importing this package registers them all.

A check is a pure function `(PolicyContext, params) -> Iterable[Violation]`: it reads the context
only, never raises on hostile input (a type-confused field is itself a violation), and yields
violations in document order so findings are deterministic.
"""

from webhook.policies.checks import integrity, network, privileges, secrets, tls

__all__ = ["integrity", "network", "privileges", "secrets", "tls"]
