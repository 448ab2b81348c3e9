"""The target env of an operator API validation: the token's scope, or what the request names.

The door, never the artifact, says where a change goes (docs/architecture.md). In the API that is
an explicit request field (`env` as a multipart form field or a query parameter) or else the
token's scope (`auth.Principal.default_env`: prod whenever the scope holds it). A field outside the
token's scope is a 403 that names both; a malformed one a 400 naming the field. Pure functions: the
routes call them, the tests call them directly.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from webhook.contracts.env import ENVS, Env
from webhook.server.auth import Principal
from webhook.server.http import HTTPError

ENV_FIELD = "env"
#: an env name is a few letters; anything longer is echoed only up to here
MAX_ECHO = 32


def _bad(detail: str) -> HTTPError:
    return HTTPError(400, "invalid-env", detail)


def _echo(raw: str) -> str:
    return repr(raw[:MAX_ECHO] + ("..." if len(raw) > MAX_ECHO else ""))


def query_env(query_string: bytes) -> str | None:
    """The raw `env` query parameter, None when absent; given twice is a 400."""
    if b"env" not in query_string:  # the common case: no parse at all
        return None
    values = [v for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
              if k == ENV_FIELD]  # fmt: skip
    if len(values) > 1:
        raise _bad("query parameter env given more than once")
    return values[0] if values else None


def form_env(value: bytes | None) -> str | None:
    """The raw `env` form field (UTF-8), None when the part was not sent."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("form field env is not UTF-8 text") from None


def check_env(raw: str, where: str) -> Env:
    """A requested env, exactly `prod` or `staging` (case sensitive, like the contract)."""
    if raw not in ENVS:
        raise _bad(f"{where} env must be one of {', '.join(ENVS)} (found {_echo(raw)})")
    return raw


def authorize_env(principal: Principal, env: Env, where: str) -> Env:
    """`env` if the token's scope holds it, else a 403 naming the token, its scope and the field."""
    if env not in principal.envs:
        raise HTTPError(
            403,
            "forbidden",
            f"token {principal.name!r} is scoped to env {', '.join(principal.envs)}: it may not "
            f"validate for {env} ({where} env={env})",
        )
    return env


def api_env(principal: Principal, *, query: str | None, form: str | None) -> Env:
    """The env a validation is decided for (see the module docstring)."""
    requested: list[tuple[str, Env]] = []
    if query is not None:
        requested.append(("query parameter", check_env(query, "query parameter")))
    if form is not None:
        requested.append(("form field", check_env(form, "form field")))
    if len(requested) == 2 and requested[0][1] != requested[1][1]:
        raise _bad(
            f"env given twice with different values (query parameter env={requested[0][1]}, "
            f"form field env={requested[1][1]})"
        )
    if not requested:
        return principal.default_env
    where, env = requested[-1]
    return authorize_env(principal, env, where)
