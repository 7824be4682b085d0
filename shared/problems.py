"""RFC 9457 problem details: the one shape of every error answer, and the handlers that map the service errors
(:mod:`shared.errors`), authentication, validation and database failures to it.

Validation errors name each field and the reason, in an ``errors`` list of ``{"field": ..., "reason": ...}``;
unexpected errors never leak a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import (
    ConcurrencyError,
    DuplicateError,
    IdempotencyKeyReusedError,
    InvalidCommandError,
    NotFoundError,
    PMOError,
    PreconditionFailedError,
    RuleViolationError,
    SeparationOfDutiesError,
    TooLargeError,
    UnavailableError,
)
from shared.pg import database_unavailable

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

_STATUS: dict[type[PMOError], int] = {
    InvalidCommandError: 422,
    IdempotencyKeyReusedError: 422,
    RuleViolationError: 409,
    PreconditionFailedError: 412,
    ConcurrencyError: 409,
    DuplicateError: 409,
    NotFoundError: 404,
    TooLargeError: 413,
    UnavailableError: 503,
}

SESSION_COOKIE = "pmo_token"
"""The dashboard's browser session: a bearer token in an HttpOnly cookie, honoured for reads by the service that
sets it (reporting) and by no other."""


class FieldError(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


PROBLEM_TYPES = "https://pmo.example/problems/"
"""Where every problem ``type`` URI starts; the kinds are documented in docs/problems.md and never renamed."""

_KIND_BY_STATUS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "too-large",
    414: "too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "rate-limited",
    431: "too-large",
    500: "internal",
    503: "unavailable",
}

_KIND_BY_ERROR: dict[type[PMOError], str] = {  # the first that matches, so subclasses come first
    SeparationOfDutiesError: "separation-of-duties",
    RuleViolationError: "rule-violation",
    DuplicateError: "duplicate",
    IdempotencyKeyReusedError: "idempotency-key-reused",
}


def problem(
    status: int, title: str, detail: str, *, errors: Sequence[FieldError] = (), kind: str | None = None, **extra: Any
) -> JSONResponse:
    """The problem+json answer; its ``type`` is ``PROBLEM_TYPES`` + ``kind`` (by default the status's kind)."""
    kind = kind or _KIND_BY_STATUS.get(status)
    body = Problem(
        type=PROBLEM_TYPES + kind if kind else "about:blank",
        title=title,
        status=status,
        detail=detail,
        errors=list(errors),
    ).model_dump(exclude_none=True)
    if not body["errors"]:
        body.pop("errors")
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        kind, parts = parts[0], parts[1:]
        if kind == "header":
            return "header " + ".".join(parts)
    return ".".join(parts) or "body"


_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})
"""What pydantic says when the body as a whole is JSON but not an object."""


def _unreadable_body(errors: Sequence[Any]) -> str | None:
    """Why the body cannot be read as the JSON object a command expects (``None`` when it can): not JSON at all
    (a syntax error, or a media type other than JSON), or JSON that is not an object."""
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            return "the body is not valid JSON"
        if loc == ("body",) and error.get("type") in _NOT_AN_OBJECT:
            return "the body must be a JSON object (sent as application/json)"
    return None


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each invalid field; 400 when the body is not a JSON object at all (RFC 9110: the request is
    malformed, there is no field to name but the body)."""
    assert isinstance(exc, RequestValidationError)
    unreadable = _unreadable_body(exc.errors())
    if unreadable:
        return problem(400, "Bad request", unreadable, errors=[FieldError(field="body", reason=unreadable)])
    errors = [FieldError(field=_field_name(e["loc"]), reason=str(e["msg"])) for e in exc.errors()]
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
    return problem(422, "Invalid request", detail, errors=errors)


async def pmo_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PMOError)
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    errors = [FieldError(field=exc.field, reason=exc.detail)] if exc.field else []
    extra: dict[str, Any] = {}
    if isinstance(exc, ConcurrencyError) and exc.actual is not None:
        extra["current_version"] = exc.actual
    kind = next((name for error, name in _KIND_BY_ERROR.items() if isinstance(exc, error)), None)
    response = problem(status, exc.title, exc.detail, errors=errors, kind=kind, **extra)
    if retry_after := getattr(exc, "retry_after", None):
        response.headers["Retry-After"] = str(retry_after)
    return response


async def auth_error(request: Request, exc: Exception) -> JSONResponse:
    response = problem(401, "Unauthorized", str(exc))
    response.headers["WWW-Authenticate"] = 'Bearer realm="pmo"'
    return response


async def forbidden(request: Request, exc: Exception) -> JSONResponse:
    return problem(403, "Forbidden", str(exc))


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own refusals as problems, their headers kept; FastAPI's only 400 is a body it could
    not decode, named as such."""
    assert isinstance(exc, StarletteHTTPException)
    errors = [FieldError(field="body", reason=str(exc.detail))] if exc.status_code == 400 else []
    response = problem(exc.status_code, _reason(exc.status_code), str(exc.detail), errors=errors)
    for name, value in (exc.headers or {}).items():  # e.g. Allow on a 405 (RFC 9110 requires it)
        response.headers[name] = value
    return response


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem(503, "Service unavailable", "the database cannot be reached; the request was not applied")


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):
        return await database_error(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged")


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
