"""Properties of the set comparisons behind WAL integrity: exact agreement, or one reason each.

Derandomized (a fixed seed), so the run is the same everywhere; the example tests sit beside.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.pipelines.replication import compare_wal
from webhook.pipelines.statement import check_wal_subjects

NAMES = st.sampled_from([f"0000000100000000000000{i:02X}" for i in range(8)])
DIGESTS = st.sampled_from(["1" * 64, "2" * 64, "3" * 64])
WAL = st.dictionaries(NAMES, DIGESTS, max_size=8)
FAST = settings(derandomize=True, max_examples=300, deadline=None)


def expected_count(a: dict[str, str], b: dict[str, str]) -> int:
    both = set(a) & set(b)
    return len(set(a) ^ set(b)) + sum(a[n] != b[n] for n in both)


@FAST
@given(declared=WAL, signed=WAL)
def test_signed_and_listed_wal_agree_exactly(
    declared: dict[str, str], signed: dict[str, str]
) -> None:
    subjects = {f"wal_files/{n}": {"sha256": d} for n, d in signed.items()}
    subjects["snapshot.tar.gz"] = {"sha256": "a" * 64}  # never a WAL subject
    reasons = check_wal_subjects(subjects, declared)
    assert (reasons == []) == (declared == signed)
    assert len(reasons) == expected_count(declared, signed)
    assert {r.policy for r in reasons} <= {"attestation-mismatch"}


@FAST
@given(declared=WAL, provided=WAL)
def test_provided_and_listed_wal_agree_exactly(
    declared: dict[str, str], provided: dict[str, str]
) -> None:
    reasons = compare_wal(declared, provided, all_provided=True)
    assert (reasons == []) == (declared == provided)
    assert len(reasons) == expected_count(declared, provided)
    # attestation-only: a listed segment may be absent, but never unlisted or altered
    partial = compare_wal(declared, provided, all_provided=False)
    assert len(partial) == len(set(provided) - set(declared)) + sum(
        declared[n] != provided[n] for n in set(declared) & set(provided)
    )
