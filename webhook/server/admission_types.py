"""AdmissionReview admission.k8s.io/v1 as TypedDicts: the wire format, typed.

Only the fields the gate reads or writes are declared; parsing in `admission.py` checks them.
"""

from __future__ import annotations

from typing import Any, Literal, NewType, NotRequired, TypedDict

AdmissionUID = NewType("AdmissionUID", str)
Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class AdmissionRequest(TypedDict):
    uid: AdmissionUID
    kind: GroupVersionKind
    operation: Operation
    namespace: NotRequired[str]
    name: NotRequired[str]
    object: NotRequired[dict[str, Any] | None]
    oldObject: NotRequired[dict[str, Any] | None]
    dryRun: NotRequired[bool]
    userInfo: NotRequired[dict[str, Any]]


class AdmissionReviewRequest(TypedDict):
    apiVersion: str
    kind: str
    request: AdmissionRequest


class Status(TypedDict):
    code: int
    message: str
    reason: NotRequired[str]


class AdmissionResponse(TypedDict):
    uid: AdmissionUID
    allowed: bool
    status: NotRequired[Status]
    warnings: NotRequired[list[str]]


class AdmissionReviewResponse(TypedDict):
    apiVersion: str
    kind: str
    response: AdmissionResponse
