"""Policy engine: environment-aware, explicit, static policies over already-parsed inputs.

Rule of this package: pure. No I/O except reading the bundle bytes handed to `load_bundle` and the
packaged `default.yaml`; checks read only the `PolicyContext` they are given, never raise on
hostile input (a type-confused field is a violation) and yield in document order, so the same
inputs always give the same findings. The engine fails closed: a check that raises becomes an
enforce finding. Layering: imports `webhook.contracts` and `webhook.errors` only.

Adding a policy = one `@register(...)` check function + one bundle entry + its tests
(see docs/policies.md).
"""

from webhook.policies.bundle import (
    API_VERSION,
    MAX_BUNDLE_BYTES,
    Policy,
    PolicyBundle,
    default_bundle,
    load_bundle,
)
from webhook.policies.context import PolicyContext, SignatureFacts
from webhook.policies.engine import Finding, enforced, evaluate
from webhook.policies.registry import REGISTRY, CheckSpec, Param, Registry, Violation, register

__all__ = [
    "API_VERSION",
    "MAX_BUNDLE_BYTES",
    "REGISTRY",
    "CheckSpec",
    "Finding",
    "Param",
    "Policy",
    "PolicyBundle",
    "PolicyContext",
    "Registry",
    "SignatureFacts",
    "Violation",
    "default_bundle",
    "enforced",
    "evaluate",
    "load_bundle",
    "register",
]
