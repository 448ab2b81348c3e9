"""The OpenAPI 3.1 document of the operator API, hand-written next to the routes it describes.

Every schema is generated from the pydantic models themselves (Decision, AuditRecord, Alert and
their pages), so the document cannot drift from the wire format.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from webhook import __version__
from webhook.audit.models import Alert, AlertPage, AuditPage, AuditRecord
from webhook.contracts.decision import Decision
from webhook.contracts.env import ENVS

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed request (bad multipart, bad query parameter, an env other than "
        "prod or staging, a text part holding a lone surrogate)",
        408: "Request body slower than the server's minimum rate (connection closed)",
        401: "Missing or invalid bearer token",
        403: "Token lacks the required role, or the requested env is outside its scope",
        404: "Not found",
        413: "Body or part over its size limit",
        415: "Wrong Content-Type",
        503: "Audit store or upload spool unavailable",
        507: "Upload spool full (uploads in flight hold its budget): try again later",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _model_schemas() -> dict[str, Any]:
    """JSON Schema 2020-12 (what OpenAPI 3.1 uses) straight from the pydantic models."""
    _, top = models_json_schema(
        [(m, "serialization") for m in (Decision, AuditRecord, AuditPage, Alert, AlertPage)],
        ref_template="#/components/schemas/{model}",
    )
    defs: dict[str, Any] = top["$defs"]
    return defs


def _file_part(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "contentMediaType": "application/octet-stream",
        "description": description,
    }


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


ENV_DOC = (
    "The environment the change is for: it selects the policies, and an artifact whose own "
    "`env` differs BLOCKs (`env-mismatch`). Given as this form field or as the `env` query "
    "parameter (both: they must agree). Must be within the token's env scope (else 403). "
    "Absent: prod if the token's scope holds prod (every unscoped token), else the token's "
    "one env."
)


def _env_schema() -> dict[str, Any]:
    return {"type": "string", "enum": list(ENVS), "description": ENV_DOC}


def _validate_op(summary: str, body: dict[str, Any], required: list[str]) -> dict[str, Any]:
    body = {**body, "env": _env_schema()}
    return {
        "summary": summary,
        "description": ENV_DOC,
        "security": [{"bearer": []}],
        "x-required-role": "operator",
        "parameters": [_param("env", "target environment (see the description)", _env_schema())],
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": body, "required": required}
                }
            },
        },
        "responses": {
            "200": _json(_ref("Decision"), "ALLOW"),
            "422": _json(_ref("Decision"), "BLOCK; every reason in `reasons`"),
            **_errors(400, 401, 403, 408, 413, 415, 503, 507),
        },
    }


def openapi_document() -> dict[str, Any]:
    cursor = _param(
        "cursor", "next_cursor of the previous page (keyset pagination)", {"type": "string"}
    )
    limit = _param(
        "limit", "page size", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    )
    schemas = _model_schemas()
    schemas["Error"] = {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "migration-gate operator API",
            "version": __version__,
            "description": "Fail-closed ALLOW/BLOCK gate for migrations (T1) and replications "
            "(T2). Roles: viewer (GET), operator (validate, ack; implies viewer).",
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/validate/migration": {
                "post": _validate_op(
                    "Validate a migration (T1)",
                    {
                        "migration_manifest.json": _file_part("the manifest, exact bytes"),
                        "app-config.yaml": _file_part("the app config, exact bytes"),
                        "migration_manifest.dsse.json": _file_part("optional DSSE envelope"),
                    },
                    ["migration_manifest.json", "app-config.yaml"],
                )
            },
            "/api/v1/validate/replication": {
                "post": _validate_op(
                    "Validate a replication (T2); the snapshot streams to disk, never to memory",
                    {
                        "replication_manifest.yaml": _file_part("the replication manifest"),
                        "snapshot.tar.gz": _file_part("the snapshot archive"),
                        "snapshot.dsse.json": _file_part("optional DSSE in-toto attestation"),
                        "wal_files": {
                            "type": "array",
                            "items": _file_part(
                                "one WAL segment; its filename is the WAL name "
                                "(or name the part wal_files/<name>)"
                            ),
                        },
                    },
                    ["replication_manifest.yaml", "snapshot.tar.gz"],
                )
            },
            "/api/v1/audit/logs": {
                "get": {
                    "summary": "Audit records, newest first",
                    "x-required-role": "viewer",
                    "parameters": [
                        _param(
                            "since",
                            "RFC 3339 lower bound on ts",
                            {"type": "string", "format": "date-time"},
                        ),
                        _param(
                            "until",
                            "RFC 3339 upper bound on ts",
                            {"type": "string", "format": "date-time"},
                        ),
                        _param("scenario", "T1 or T2", {"enum": ["T1", "T2"]}),
                        _param("decision", "ALLOW or BLOCK", {"enum": ["ALLOW", "BLOCK"]}),
                        _param("source", "door", {"enum": ["admission", "api", "ui", "cli"]}),
                        _param("env", "prod, staging, ...", {"type": "string"}),
                        _param(
                            "subject", "exact app_id, source_db or target_db", {"type": "string"}
                        ),
                        _param(
                            "policy",
                            "a policy id named by a reason, warning or audited finding",
                            {"type": "string", "minLength": 1, "maxLength": 128},
                        ),
                        _param("request_id", "exact request id", {"type": "string"}),
                        _param("dry_run", "true or false", {"type": "boolean"}),
                        limit,
                        cursor,
                    ],
                    "responses": {
                        "200": _json(_ref("AuditPage"), "A page of records"),
                        **_errors(400, 401, 403, 503),
                    },
                }
            },
            "/api/v1/alerts": {
                "get": {
                    "summary": "Alerts, most urgent first (P1 .. P4), then newest",
                    "x-required-role": "viewer",
                    "parameters": [
                        _param(
                            "status", "firing or acknowledged", {"enum": ["firing", "acknowledged"]}
                        ),
                        limit,
                        cursor,
                    ],
                    "responses": {
                        "200": _json(_ref("AlertPage"), "A page of alerts"),
                        **_errors(400, 401, 403, 503),
                    },
                }
            },
            "/api/v1/alerts/{alert_id}/ack": {
                "post": {
                    "summary": "Acknowledge an alert (recorded with the token's name)",
                    "x-required-role": "operator",
                    "parameters": [
                        {
                            "name": "alert_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("Alert"), "The acknowledged alert"),
                        **_errors(400, 401, 403, 404, 503),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1 document"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from the token file; role viewer or operator, "
                    "optionally scoped to the envs it may validate for",
                }
            },
            "schemas": schemas,
        },
    }
