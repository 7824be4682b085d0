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
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import (
    ConcurrencyError,
    DuplicateError,
    IdempotencyKeyReusedError,
    InvalidCommandError,
    NotFoundError,
    PMOError,
    RuleViolationError,
    TooLargeError,
    UnavailableError,
)

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

_STATUS: dict[type[PMOError], int] = {
    InvalidCommandError: 422,
    IdempotencyKeyReusedError: 422,
    RuleViolationError: 409,
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


def problem(status: int, title: str, detail: str, *, errors: Sequence[FieldError] = (), **extra: Any) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=list(errors)).model_dump(exclude_none=True)
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


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
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
    return problem(status, exc.title, exc.detail, errors=errors, **extra)


async def auth_error(request: Request, exc: Exception) -> JSONResponse:
    response = problem(401, "Unauthorized", str(exc))
    response.headers["WWW-Authenticate"] = 'Bearer realm="pmo"'
    return response


async def forbidden(request: Request, exc: Exception) -> JSONResponse:
    return problem(403, "Forbidden", str(exc))


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, _reason(exc.status_code), str(exc.detail))


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem(503, "Service unavailable", "the database cannot be reached; the request was not applied")


def _database_unavailable(exc: BaseException) -> bool:
    """The database is going down, starting up, or the connection was lost (not a bug of the request)."""
    if isinstance(exc, (OSError, InterfaceError, OperationalError)):
        return True
    candidates: list[BaseException | None] = [exc]  # raw asyncpg errors come from the event store's hot path
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        candidates += [exc.orig, getattr(exc.orig, "__cause__", None)]
    for error in candidates:
        state = str(getattr(error, "sqlstate", "") or "")
        if state.startswith(("08", "57P")):  # connection exception; admin shutdown, cannot connect now
            return True
        if type(error).__name__ in (
            "ConnectionDoesNotExistError",
            "InterfaceError",
            "ConnectionResetError",
        ):
            return True
    return False


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    if _database_unavailable(exc):
        return await database_error(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged")


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
