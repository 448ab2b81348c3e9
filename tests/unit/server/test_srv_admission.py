"""AdmissionReview parsing and the pure response builder."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.contracts.decision import Decision, Reason
from webhook.server.admission import ReviewError, build_response, parse_review
from webhook.server.admission_types import AdmissionUID


def review(**request: Any) -> dict[str, Any]:
    req = {
        "uid": "u-1",
        "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "operation": "CREATE",
        "object": {},
    }
    req.update(request)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def test_valid_review_parses() -> None:
    assert parse_review(review())["request"]["uid"] == "u-1"


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({**review(), "apiVersion": "admission.k8s.io/v1beta1"}, "apiVersion"),
        (review(uid=""), "request.uid"),
        (review(uid=5), "request.uid"),
        (review(uid="x" * 200), "request.uid"),
        (review(kind="ConfigMap"), "request.kind"),
        (review(operation="PATCH"), "request.operation"),
        (review(object=[1]), "request.object"),
        (review(dryRun="yes"), "request.dryRun"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "request"),
    ],
)
def test_malformed_reviews(doc: dict[str, Any], needle: str) -> None:
    with pytest.raises(ReviewError) as err:
        parse_review(doc)
    assert err.value.status == 400 and needle in err.value.detail


def decision(
    verdict: str, reasons: tuple[Reason, ...] = (), warnings: tuple[Reason, ...] = ()
) -> Decision:
    return Decision(
        request_id="u-1",
        timestamp="2026-01-01T00:00:00Z",
        scenario="T1",
        decision=verdict,
        reasons=reasons,
        warnings=warnings,
        policy_bundle="sha256:" + "0" * 64,
    )


def test_deny_lists_every_reason_and_warnings_stay_short() -> None:
    r1 = Reason(
        policy="tls-required",
        severity="high",
        field="tls.enabled",
        message="prod requires tls.enabled: true (found false)",
        file="app-config.yaml",
    )
    r2 = Reason(
        policy="no-root", severity="high", field="security.run_as_root", message="found true"
    )
    long_warn = Reason(
        policy="tls-min-version",
        severity="low",
        field="tls.min_version",
        message="x" * 400,
        action="warn",
    )
    out = build_response(AdmissionUID("u-1"), decision("BLOCK", (r1, r2), (long_warn,)))
    resp = out["response"]
    assert resp["uid"] == "u-1" and resp["allowed"] is False
    assert resp["status"]["code"] == 403
    lines = resp["status"]["message"].splitlines()
    want = "[tls-required] app-config.yaml: tls.enabled: prod requires tls.enabled: true"
    assert lines[1] == want + " (found false)"
    assert lines[2] == "[no-root] security.run_as_root: found true"
    assert len(resp["warnings"]) == 1 and len(resp["warnings"][0]) == 256
    allowed = build_response(AdmissionUID("u-2"), decision("ALLOW"))["response"]
    assert allowed == {"uid": "u-2", "allowed": True}
    assert build_response(AdmissionUID("u-3"), None)["response"] == {"uid": "u-3", "allowed": True}
