"""Keys generated once per test session (RSA generation is slow). TEST KEYS, never deployed."""

from __future__ import annotations

import pytest

from webhook.integrity import KEY_ALGORITHMS, PrivateKey, generate_private_key


@pytest.fixture(scope="session")
def keys() -> dict[str, list[PrivateKey]]:
    """Three independent test keys per algorithm."""
    return {alg: [generate_private_key(alg) for _ in range(3)] for alg in KEY_ALGORITHMS}
