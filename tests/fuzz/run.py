"""Run one fuzz target under atheris (libFuzzer): `python -m tests.fuzz.run TARGET [args]`.

Example: `python -m tests.fuzz.run tar -runs=5000 -seed=1 /tmp/new tests/fuzz/corpus/tar`.
The first corpus directory receives new inputs (give a scratch one; the committed seeds stay
as they are). Exceptions that are not the target's documented errors, and oracle violations
(AssertionError), make libFuzzer stop, print the input and write a `crash-*` file.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["webhook"]):
    import webhook.contracts.strict
    import webhook.integrity.archive
    import webhook.integrity.dsse
    import webhook.server.uploads  # noqa: F401

from tests.fuzz.targets import TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.run {{{','.join(TARGETS)}}} [libFuzzer args]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
