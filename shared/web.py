"""Web helpers every service uses: the app factory, problem+json errors, command headers, pagination.

Errors are RFC 9457 ``application/problem+json``. Validation errors name each field and the reason, in an
``errors`` list of ``{"field": ..., "reason": ...}``; unexpected errors never leak a stack trace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logs
from shared.auth import AccessPolicy, AuthError, ForbiddenError, TokenVerifier
from shared.commands import CommandContext, CommandOutcome
from shared.errors import (
    ConcurrencyError,
    DuplicateError,
    IdempotencyKeyReusedError,
    InvalidCommandError,
    NotFoundError,
    PMOError,
    RuleViolationError,
    UnavailableError,
)
from shared.events import EventMetadata
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
T = TypeVar("T")

_STATUS: dict[type[PMOError], int] = {
    InvalidCommandError: 422,
    IdempotencyKeyReusedError: 422,
    RuleViolationError: 409,
    ConcurrencyError: 409,
    DuplicateError: 409,
    NotFoundError: 404,
    UnavailableError: 503,
}

ReadinessCheck = Callable[[], Awaitable[None]]


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


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [FieldError(field=_field_name(e["loc"]), reason=str(e["msg"])) for e in exc.errors()]
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
    return problem(422, "Invalid request", detail, errors=errors)


async def _pmo_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PMOError)
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    errors = [FieldError(field=exc.field, reason=exc.detail)] if exc.field else []
    extra: dict[str, Any] = {}
    if isinstance(exc, ConcurrencyError) and exc.actual is not None:
        extra["current_version"] = exc.actual
    return problem(status, exc.title, exc.detail, errors=errors, **extra)


async def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    response = problem(401, "Unauthorized", str(exc))
    response.headers["WWW-Authenticate"] = 'Bearer realm="pmo"'
    return response


async def _forbidden(request: Request, exc: Exception) -> JSONResponse:
    return problem(403, "Forbidden", str(exc))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, _reason(exc.status_code), str(exc.detail))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
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


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if _database_unavailable(exc):
        return await _database_error(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged")


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def create_app(
    *,
    service: str,
    version: str,
    description: str,
    routers: Sequence[APIRouter],
    public_routers: Sequence[APIRouter] = (),
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    readiness: Callable[[FastAPI], Sequence[ReadinessCheck]],
    verifier: TokenVerifier,
    access: AccessPolicy,
    max_body_bytes: int = 1_000_000,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """A FastAPI app with ``/healthz``, ``/readyz``, ``/metrics``, problem+json errors and request metrics.

    Every route but ``/healthz``, ``/readyz`` and the API documentation needs a bearer token whose roles the
    ``access`` policy allows for that route. CORS is closed unless ``cors_origins`` names origins.
    """
    app = FastAPI(title=f"PMO {service} service", version=version, description=description, lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PMOError, _pmo_error)
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(ForbiddenError, _forbidden)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Correlation-ID"],
            expose_headers=["ETag", "Location", "X-Correlation-ID", "Idempotent-Replayed"],
        )
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(InterfaceError, _database_error)
    app.add_exception_handler(DBAPIError, _unexpected)
    app.add_exception_handler(Exception, _unexpected)

    app.add_middleware(_Edge, service=service, max_body_bytes=max_body_bytes)

    async def authorize(request: Request) -> None:
        header = request.headers.get("authorization")
        if not header and request.method in ("GET", "HEAD") and request.cookies.get("pmo_token"):
            header = f"Bearer {request.cookies['pmo_token']}"  # the dashboard's browser session (reads only)
        principal = verifier.verify(header)
        route = request.scope.get("route")
        verifier.authorize(principal, access.allowed(request.method, getattr(route, "path", "")))
        request.state.actor = principal.subject
        request.state.roles = principal.roles

    secured = [Depends(HTTPBearer(auto_error=False)), Depends(authorize)]
    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @ops.get("/readyz", summary="Database and Kafka are reachable", responses={503: {"model": Problem}})
    async def readyz() -> Response:
        failures = []
        for check in readiness(app):
            try:
                await check()
            except Exception as exc:
                failures.append(f"{getattr(check, '__name__', 'check')}: {type(exc).__name__}")
        if failures:
            return problem(503, "Not ready", "; ".join(failures))
        return JSONResponse({"status": "ready", "service": service})

    monitoring = APIRouter(tags=["operations"])

    @monitoring.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(ops)
    app.state.verifier = verifier
    for router in public_routers:
        app.include_router(router)
    app.include_router(monitoring, dependencies=secured)
    for router in routers:
        app.include_router(router, dependencies=secured)
    app.openapi = lambda: _documented(app)  # type: ignore[method-assign]
    return app


class _Edge:
    """Body limit, correlation id, trace context and request metrics, as a plain ASGI middleware (Starlette's
    ``BaseHTTPMiddleware`` runs every request in a task of its own, a large share of a short command's time)."""

    def __init__(self, app: ASGIApp, *, service: str, max_body_bytes: int) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            too_large = problem(413, "Request too large", f"the body must not exceed {self.max_body_bytes} bytes")
            await too_large(scope, receive, send)
            return
        correlation = (headers.get("x-correlation-id") or str(uuid.uuid4()))[:200]
        scope.setdefault("state", {})["correlation_id"] = correlation
        logs.correlation_id.set(correlation)
        logs.traceparent.set(headers.get("traceparent"))
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_correlation(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message["headers"] = [
                    *((k, v) for k, v in message.get("headers", []) if k.lower() != b"x-correlation-id"),
                    (b"x-correlation-id", correlation.encode("latin-1", "replace")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_correlation)
        except Exception as exc:  # errors raised past the exception handlers (e.g. from middleware)
            if response_started:
                raise
            response = await _unexpected(Request(scope, receive), exc)
            await response(scope, receive, send_with_correlation)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "")
            HTTP_LATENCY.labels(self.service, method, route).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()


def _documented(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document as the service really answers: every error as ``application/problem+json`` (a Problem),
    401/403 on every secured operation, and ``text/csv`` where an operation takes ``format=csv``."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = FastAPI.openapi(app)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    problem_content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if path not in ("/healthz", "/readyz"):
                responses.setdefault("401", {"description": "Missing, invalid or expired bearer token"})
                responses.setdefault("403", {"description": "The token's roles do not allow this operation"})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = dict(problem_content)
            if any(p.get("name") == "format" for p in operation.get("parameters", [])) and "200" in responses:
                responses["200"].setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components and unused not in json.dumps(schema.get("paths", {})):
            components.pop(unused)
    app.openapi_schema = schema
    return schema


# --- commands -----------------------------------------------------------------------------------------


def _parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    raw = value.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"')
    if not raw.isdigit():
        raise InvalidCommandError('If-Match must be an ETag returned by this API, e.g. "3"', field="If-Match")
    return int(raw)


async def command_context(
    request: Request,
    if_match: Annotated[str | None, Header(description='Aggregate version as returned in ETag, e.g. "3"')] = None,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=200, description="Retries with the same key return the first answer"),
    ] = None,
) -> CommandContext:
    """What a command request says besides its body: version precondition, idempotency, who and why."""
    body = await request.body()
    fingerprint = hashlib.sha256(request.method.encode() + request.url.path.encode() + b"\n" + body).hexdigest()
    return CommandContext(
        metadata=EventMetadata(
            actor=getattr(request.state, "actor", None) or "anonymous",
            correlation_id=getattr(request.state, "correlation_id", None) or str(uuid.uuid4()),
            traceparent=request.headers.get("traceparent"),
        ),
        if_match=_parse_if_match(if_match),
        idempotency_key=idempotency_key,
        idempotency_scope=request.url.path,
        fingerprint=fingerprint,
    )


Command = Annotated[CommandContext, Depends(command_context)]


def respond(outcome: CommandOutcome[Any], *, location: str | None = None) -> JSONResponse:
    """The HTTP answer to a command: its body, ``ETag`` = the aggregate version, replay marker."""
    headers = {"ETag": f'"{outcome.version}"'}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    if location:
        headers["Location"] = location
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)


COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such aggregate"},
    409: {"model": Problem, "description": "Illegal transition or stale If-Match / concurrent change"},
    422: {"model": Problem, "description": "Invalid input; each field and reason listed"},
    503: {"model": Problem, "description": "Database unavailable; nothing applied"},
}

# --- queries ------------------------------------------------------------------------------------------


class Page(BaseModel, Generic[T]):
    """A page of a list: ``items`` plus where it sits in the whole."""

    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page (at most 500)")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


Paging = Annotated[PageParams, Depends(page_params)]
