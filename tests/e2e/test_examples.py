"""Every example, applied with kubectl as a user or a GitOps sync would, gets its expected verdict.

Each example folder is applied twice: as its CRD (MigrationRequest / ReplicationRequest) and as a
labelled ConfigMap. ALLOW -> stored (warn policies appear as kubectl `Warning:` lines); BLOCK ->
not stored, and kubectl's stderr names every expected policy id. A defect that lives only in
bytes the object does not carry is shown to be blocked by the CLI door instead (see objects.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .asserts import assert_admitted, assert_denied
from .conftest import (
    EXAMPLES,
    REPO,
    Cluster,
    Gate,
    snapshot_hashed_at_admission,
    union_trust_dir,
)
from .gate import gate_command
from .objects import Example, Form, admission_expectation, config_map, crd_object, discover

FORMS: tuple[Form, ...] = ("crd", "configmap")
EXAMPLE_SET = discover(EXAMPLES)
ADMISSION: list[tuple[Example, Form]] = []
OUT_OF_REACH: dict[str, tuple[Example, list[str]]] = {}
for _ex in EXAMPLE_SET:
    for _form in FORMS:
        _expected, _why = admission_expectation(_ex, snapshot_hashed_at_admission())
        if _expected is not None:
            ADMISSION.append((_ex, _form))
        else:
            OUT_OF_REACH.setdefault(_ex.name, (_ex, []))[1].append(f"{_form}: {_why}")


def _id(case: tuple[Example, Form]) -> str:
    return f"{case[0].name}-{case[1]}"


def test_examples_exist() -> None:
    """Guards against the parametrised tests silently collecting nothing."""
    assert EXAMPLE_SET, f"no examples with expected.json under {EXAMPLES}"
    names = {ex.name for ex in EXAMPLE_SET}
    assert any(n.startswith("t1_good") for n in names), names
    assert any(n.startswith("t2_good") for n in names), names
    assert any(ex.expected.warnings for ex in EXAMPLE_SET), "no example exercises warn policies"
    assert all(ex.expected.decision == "BLOCK" for ex, _ in OUT_OF_REACH.values())


@pytest.mark.parametrize("case", ADMISSION, ids=[_id(c) for c in ADMISSION])
def test_example_through_admission(
    case: tuple[Example, Form],
    cluster: Cluster,
    gate: Gate,
    request: pytest.FixtureRequest,
) -> None:
    """Applied in a namespace of the example's env: the namespace, not the object, is the door."""
    example, form = case
    expected, why = admission_expectation(example, snapshot_hashed_at_admission())
    assert expected is not None, why
    fixture = "staging_namespace" if example.expected.env == "staging" else "namespace"
    namespace: str = request.getfixturevalue(fixture)
    root = EXAMPLES if snapshot_hashed_at_admission() else None
    if form == "crd":
        obj = crd_object(example, namespace, snapshot_root=root)
    else:
        obj = config_map(example, namespace, snapshot_root=root)
    result = cluster.kubectl.apply(obj)
    kind, name = obj["kind"], obj["metadata"]["name"]
    if expected.decision == "ALLOW":
        assert_admitted(result, cluster.kubectl, kind, name, namespace, expected.warnings)
    else:
        assert_denied(
            result,
            cluster.kubectl,
            kind,
            name,
            namespace,
            expected.policies,
            schema_may_deny=form == "crd",
        )


_ALL_REACHABLE = pytest.param(
    None,
    marks=pytest.mark.skip(
        reason="every example is decidable at admission here (snapshots hashed under "
        "--snapshot-root); this test runs where the gate cannot read the example files (kind)"
    ),
)


@pytest.mark.parametrize("name", sorted(OUT_OF_REACH) or [_ALL_REACHABLE])
def test_defects_admission_cannot_see_are_blocked_by_the_file_doors(
    name: str | None, tmp_path: Path
) -> None:
    """Bytes no admission object carries (WAL segments, a snapshot without a uri) are checked
    where the files are: the CLI/API. Proven here on the same example, so the boundary is covered,
    not just declared."""
    assert name is not None
    example, forms = OUT_OF_REACH[name]
    trust = union_trust_dir(EXAMPLES, tmp_path / "trust")
    proc = subprocess.run(
        [
            *gate_command(),
            "validate",
            example.scenario,
            str(example.path),
            f"--trust-dir={trust}",
            f"--env={example.expected.env}",
            "--output=json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 1, f"{forms}\n{proc.stdout}\n{proc.stderr}"
    decision = json.loads(proc.stdout)
    found = {r["policy"] for r in decision["reasons"]}
    assert decision["decision"] == "BLOCK"
    assert set(example.expected.policies) <= found, (forms, decision["reasons"])
