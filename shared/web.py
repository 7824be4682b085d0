"""Web helpers every service uses: the app factory, problem+json errors, command headers, pagination.

Errors are RFC 9457 ``application/problem+json``. Validation errors name each field and the reason, in an
``errors`` list of ``{"field": ..., "reason": ...}``; unexpected errors never leak a stack trace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import parse_qsl

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
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logs
from shared.auth import AccessPolicy, AuthError, ForbiddenError, TokenVerifier
from shared.bounds import forbidden_character
from shared.commands import CommandContext, CommandOutcome
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
from shared.events import EventMetadata
from shared.limits import (
    MAX_AUTHORIZATION_BYTES,
    MAX_HEADER_BYTES,
    MAX_PATH_BYTES,
    MAX_QUERY_STRING_BYTES,
)
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
    TooLargeError: 413,
    UnavailableError: 503,
}

SESSION_COOKIE = "pmo_token"
"""The dashboard's browser session: a bearer token in an HttpOnly cookie, honoured for reads by the service that
sets it (reporting) and by no other."""

ReadinessCheck = Callable[[], Awaitable[Mapping[str, Any] | None]]
"""Raises when the service cannot take commands; may return a note on a degraded part (shown, still ready)."""


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
    request_timeout: float = 30.0,
    session_cookie: bool = False,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """A FastAPI app with ``/healthz``, ``/readyz``, ``/metrics``, problem+json errors and request metrics.

    Every route but ``/healthz``, ``/readyz``, the API documentation and ``public_routers`` needs a bearer token
    whose roles the ``access`` policy allows for that route, checked at the edge before anything else is done
    with the request (see :class:`_Edge` for the order). ``session_cookie``: reads may authenticate with the
    dashboard's cookie instead of the header (the reporting service only). CORS is closed unless
    ``cors_origins`` names origins.
    """
    app = FastAPI(title=f"PMO {service} service", version=version, description=description, lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PMOError, _pmo_error)
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(ForbiddenError, _forbidden)
    public_paths: set[str] = set()
    app.add_middleware(
        _Edge,
        service=service,
        max_body_bytes=max_body_bytes,
        request_timeout=request_timeout,
        gate=_Gate(app, verifier, access, public_paths, session_cookie),
    )
    if cors_origins:  # outermost: a preflight needs no token
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

    secured = [Depends(HTTPBearer(auto_error=False))]  # documents the scheme; the edge checks the token
    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @ops.get("/readyz", summary="Database and Kafka are reachable", responses={503: {"model": Problem}})
    async def readyz() -> Response:
        failures = []
        notes: dict[str, Any] = {}
        for check in readiness(app):
            try:
                note = await check()
            except Exception as exc:
                failures.append(f"{getattr(check, '__name__', 'check')}: {type(exc).__name__}")
            else:
                notes.update(note or {})
        if failures:
            return problem(503, "Not ready", "; ".join(failures), **notes)
        return JSONResponse({"status": "degraded" if notes else "ready", "service": service, **notes})

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
    public_paths.update(["/healthz", "/readyz"])
    public_paths.update(p for p in (app.openapi_url, app.docs_url, app.redoc_url) if p)
    public_paths.update(p for p in (app.swagger_ui_oauth2_redirect_url,) if p)
    public_paths.update(getattr(route, "path", "") for router in public_routers for route in router.routes)
    app.openapi = lambda: _documented(app)  # type: ignore[method-assign]
    return app


class _Gate:
    """Authentication and authorisation of a request from its headers and route alone (no body read yet)."""

    def __init__(
        self,
        app: FastAPI,
        verifier: TokenVerifier,
        access: AccessPolicy,
        public_paths: set[str],
        session_cookie: bool,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.access = access
        self.public_paths = public_paths
        self.session_cookie = session_cookie
        self._flat: list[Any] | None = None

    def route_of(self, scope: Scope) -> str | None:
        """The path template of the route ``scope`` addresses (by path, whatever the method), or ``None``."""
        partial = None
        for route in self._routes():
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(route.path)
            if match is Match.PARTIAL and partial is None:
                partial = str(route.path)
        return partial

    def _routes(self) -> list[Any]:
        """Every route of the app, flattened (FastAPI may keep included routers as branches), built once all are
        included: at the first request."""
        if self._flat is None:
            self._flat = list(_flatten(self.app.router.routes))
        return self._flat

    def admit(self, scope: Scope, headers: Headers) -> None:
        """Raise :class:`AuthError` or :class:`ForbiddenError` unless the request may reach its route; record the
        caller in the request's state."""
        path = self.route_of(scope)
        if path is None or path in self.public_paths:
            return
        method = scope.get("method", "GET")
        header = headers.get("authorization")
        if not header and self.session_cookie and method in ("GET", "HEAD"):
            cookie = Request(scope).cookies.get(SESSION_COOKIE)
            header = f"Bearer {cookie}" if cookie else None
        try:
            principal = self.verifier.verify(header)
        except AuthError:
            raise
        except Exception as exc:  # a token the verifier could not even read is still just an invalid token
            raise AuthError("the token is invalid") from exc
        self.verifier.authorize(principal, self.access.allowed(method, path))
        state = scope.setdefault("state", {})
        state["actor"] = principal.subject
        state["roles"] = principal.roles


def _flatten(routes: Sequence[Any]) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            prefix = getattr(getattr(route, "include_context", None), "prefix", "")
            if prefix:
                raise RuntimeError("routers are included without a prefix (the edge matches their own paths)")
            yield from _flatten(included.routes)
        elif hasattr(route, "path") and hasattr(route, "matches"):
            yield route


_EDGE_HEADERS = (b"x-correlation-id", b"x-content-type-options")
"""Set by the edge on every answer, replacing whatever a route set."""
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_CORRELATION_ID = re.compile(r"^[\x21-\x7e]{1,200}$")


class BodyTooLargeError(StarletteHTTPException):
    """The body grew past the limit while it arrived (a chunked body, or one longer than its Content-Length)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body must not exceed {limit} bytes")


class _Edge:
    """What every request goes through first, cheapest check first, as a plain ASGI middleware (Starlette's
    ``BaseHTTPMiddleware`` runs every request in a task of its own, a large share of a short command's time):

    1. the size of the headers (431), of the path and the query string (414), and a declared ``Content-Length``
       over the body limit (413);
    2. control characters in the path or the query (422, naming the parameter);
    3. authentication and the route's roles (401, 403), before a byte of the body is read;
    4. the body, counted as it arrives (413 as soon as it passes the limit, chunked or not);
    5. a deadline for the whole request (503 when it passes; the database's statement timeout ends the query);
    plus the correlation id, trace context, ``X-Content-Type-Options: nosniff`` and request metrics.
    """

    def __init__(self, app: ASGIApp, *, service: str, max_body_bytes: int, request_timeout: float, gate: _Gate) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        correlation = str(uuid.uuid4())

        async def send_with_correlation(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message["headers"] = [
                    *((k, v) for k, v in message.get("headers", []) if k.lower() not in _EDGE_HEADERS),
                    (b"x-correlation-id", correlation.encode("ascii")),
                    (b"x-content-type-options", b"nosniff"),
                ]
            await send(message)

        try:
            refused = self._refuse(scope)
            headers = Headers(scope=scope)
            given = headers.get("x-correlation-id")
            if given is not None and _CORRELATION_ID.match(given):
                correlation = given
            scope.setdefault("state", {})["correlation_id"] = correlation
            logs.correlation_id.set(correlation)
            trace = headers.get("traceparent")
            logs.traceparent.set(trace if trace is not None and _TRACEPARENT.match(trace) else None)
            if refused is None:
                try:
                    self.gate.admit(scope, headers)
                except AuthError as exc:
                    refused = await _auth_error(Request(scope), exc)
                except ForbiddenError as exc:
                    refused = await _forbidden(Request(scope), exc)
            if refused is not None:
                await refused(scope, receive, send_with_correlation)
                return
            try:
                async with asyncio.timeout(self.request_timeout):
                    await self.app(scope, self._counted(receive), send_with_correlation)
            except TimeoutError:
                log.warning("request %s %s passed its %.0f s deadline", scope.get("method"), scope.get("path"),
                            self.request_timeout)  # fmt: skip
                if response_started:
                    raise
                late = problem(503, "Service unavailable", "the request took too long and was stopped; retry later")
                late.headers["Retry-After"] = "5"
                await late(scope, receive, send_with_correlation)
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

    def _refuse(self, scope: Scope) -> JSONResponse | None:
        """The answer to a request refused on its size or its URL alone, or ``None``."""
        raw_headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        total = 0
        for name, value in raw_headers:
            total += len(name) + len(value)
            if name == b"authorization" and len(value) > MAX_AUTHORIZATION_BYTES:
                return problem(431, "Request header fields too large", "the Authorization header is too large",
                               errors=[FieldError(field="header Authorization",
                                                  reason=f"at most {MAX_AUTHORIZATION_BYTES} bytes")])  # fmt: skip
        if total > MAX_HEADER_BYTES:
            return problem(431, "Request header fields too large", f"headers must not exceed {MAX_HEADER_BYTES} bytes")
        path = scope.get("path", "")
        query: bytes = scope.get("query_string", b"")
        if len(scope.get("raw_path") or path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
            return problem(414, "URI too long", f"the path must not exceed {MAX_PATH_BYTES} bytes")
        if len(query) > MAX_QUERY_STRING_BYTES:
            return problem(414, "URI too long", f"the query string must not exceed {MAX_QUERY_STRING_BYTES} bytes")
        for name, value in raw_headers:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body_bytes):
                return problem(413, "Content too large", f"the body must not exceed {self.max_body_bytes} bytes")
        found = forbidden_character(path)
        if found:
            return _bad_input("path", f"must not contain a {found}")
        if query:
            for key, text in parse_qsl(query.decode("utf-8", "surrogateescape"), keep_blank_values=True):
                found = forbidden_character(key) or forbidden_character(text)
                if found:
                    field = key[:64] if not forbidden_character(key) else repr(key[:64])
                    return _bad_input(field, f"must not contain a {found}")
        return None

    def _counted(self, receive: Receive) -> Receive:
        """``receive`` that stops the request with 413 as soon as the body passes the limit."""
        received = 0
        limit = self.max_body_bytes

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        return counting


def _bad_input(field: str, reason: str) -> JSONResponse:
    return problem(422, "Invalid request", f"{field}: {reason}", errors=[FieldError(field=field, reason=reason)])


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


_ETAG = re.compile(r'^(?:W/)?"?([0-9]{1,9})"?$')
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def _parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise InvalidCommandError('If-Match must be an ETag returned by this API, e.g. "3"', field="If-Match")
    return int(match.group(1))


async def command_context(
    request: Request,
    if_match: Annotated[str | None, Header(description='Aggregate version as returned in ETag, e.g. "3"')] = None,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=200, description="Retries with the same key return the first answer"),
    ] = None,
) -> CommandContext:
    """What a command request says besides its body: version precondition, idempotency, who and why.

    An ``Idempotency-Key`` belongs to the caller: the same key from another user is another key (it neither
    returns the first user's answer nor collides with it).
    """
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise InvalidCommandError(
            "Idempotency-Key must be 1 to 200 visible ASCII characters (a UUID is a good key)", field="Idempotency-Key"
        )
    actor = getattr(request.state, "actor", None) or "anonymous"
    body = await request.body()
    fingerprint = hashlib.sha256(request.method.encode() + request.url.path.encode() + b"\n" + body).hexdigest()
    return CommandContext(
        metadata=EventMetadata(
            actor=actor,
            correlation_id=getattr(request.state, "correlation_id", None) or str(uuid.uuid4()),
            traceparent=logs.traceparent.get(),
        ),
        if_match=_parse_if_match(if_match),
        idempotency_key=idempotency_key,
        idempotency_scope=f"{actor} {request.url.path}",
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
