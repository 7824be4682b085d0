"""Web helpers every service uses: the app factory, command headers, pagination (problem+json errors:
:mod:`shared.problems`; the edge in front of every route: :mod:`shared.edge`)."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import logs, tracing
from shared.auth import AccessPolicy, AuthError, ForbiddenError, TokenVerifier
from shared.authz import object_in_scope
from shared.bounds import Whole
from shared.commands import UNMATCHABLE, CommandContext, CommandOutcome
from shared.edge import BodyTooLargeError, Edge, Gate
from shared.errors import (
    InvalidCommandError,
    PMOError,
)
from shared.events import EventMetadata
from shared.openapi import documented
from shared.problems import (
    PROBLEM,
    SESSION_COOKIE,
    FieldError,
    Problem,
    auth_error,
    database_error,
    forbidden,
    http_error,
    pmo_error,
    problem,
    unexpected,
    validation_error,
)

__all__ = [
    "PROBLEM",
    "SESSION_COOKIE",
    "BodyTooLargeError",
    "FieldError",
    "Problem",
    "create_app",
    "problem",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
ReadinessCheck = Callable[[], Awaitable[Mapping[str, Any] | None]]
"""Raises when the service cannot take commands; may return a note on a degraded part (shown, still ready)."""


_READY = {
    "type": "object",
    "properties": {"status": {"enum": ["ready", "degraded"]}, "service": {"type": "string"}},
    "required": ["status", "service"],
}
"""``/readyz``'s answer: ready, or degraded with a note per degraded part (e.g. Kafka's state)."""


def metrics_registry() -> CollectorRegistry:
    """What ``/metrics`` shows: this process's metrics, or with several workers (``PMO_WORKERS``) every worker's,
    from ``prometheus_client``'s multiprocess files (:mod:`shared.workers`)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


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
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(PMOError, pmo_error)
    app.add_exception_handler(AuthError, auth_error)
    app.add_exception_handler(ForbiddenError, forbidden)
    public_paths: set[str] = set()
    app.add_middleware(
        Edge,
        service=service,
        max_body_bytes=max_body_bytes,
        request_timeout=request_timeout,
        gate=Gate(app, verifier, access, public_paths, session_cookie),
    )
    if cors_origins:  # outermost: a preflight needs no token
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Correlation-ID"],
            expose_headers=["ETag", "Location", "X-Correlation-ID", "Idempotent-Replayed"],
        )
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OperationalError, database_error)
    app.add_exception_handler(InterfaceError, database_error)
    app.add_exception_handler(DBAPIError, unexpected)
    app.add_exception_handler(Exception, unexpected)

    secured = [Depends(HTTPBearer(auto_error=False)), Depends(object_in_scope)]  # the edge checks the token
    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz", summary="The process is alive", operation_id="getHealth")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @ops.get(
        "/readyz",
        summary="Database and Kafka are reachable",
        operation_id="getReadiness",
        responses={200: {"content": {"application/json": {"schema": _READY}}}, 503: {"model": Problem}},
    )
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

    @monitoring.get(
        "/metrics",
        summary="Prometheus metrics",
        operation_id="getMetrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)

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
    app.openapi = lambda: documented(app)  # type: ignore[method-assign]
    return app


# --- commands -----------------------------------------------------------------------------------------


IF_MATCH_PATTERN = r'^(\*|(W/)?"[\x21\x23-\x7E\x80-\xFF]{0,64}")$'
"""``If-Match`` as commands take it: ``*`` or one entity tag (RFC 9110, 8.8.3), e.g. ``"3"`` as ``ETag`` gave it."""
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
_OUR_TAG = re.compile(r'^"([0-9]{1,9})"$')
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def _parse_if_match(value: str | None) -> tuple[int | None, bool]:
    """``(version, any)`` from ``If-Match``: ``*`` is any existing version; a strong tag this API issued is its
    version; any other entity tag (weak, or never issued) is :data:`~shared.commands.UNMATCHABLE` (strong
    comparison fails: 412). Text that is not an entity tag is a 422 naming the header."""
    if value is None:
        return None, False
    value = value.strip(" \t")
    if not _IF_MATCH.match(value):
        raise InvalidCommandError(
            'must be * or one entity tag as ETag returned it, e.g. "3" (with the quotes)', field="If-Match"
        )
    if value == "*":
        return None, True
    ours = _OUR_TAG.match(value)
    return (int(ours.group(1)) if ours else UNMATCHABLE), False


async def command_context(
    request: Request,
    if_match: Annotated[
        str | None,
        Header(
            description='The ETag the caller read, e.g. "3" (or *: the aggregate exists); 412 when it moved on',
            json_schema_extra={"pattern": IF_MATCH_PATTERN},
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="Retries with the same key (same caller, same path, within 24 hours) return the first answer",
        ),
    ] = None,
) -> CommandContext:
    """What a command request says besides its body: version precondition, idempotency, who and why.

    An ``Idempotency-Key`` belongs to the caller: the same key from another user is another key (it neither
    returns the first user's answer nor collides with it); it is kept for
    :data:`~shared.commands.IDEMPOTENCY_RETENTION`. ``If-None-Match`` is refused (422): no command creates a
    resource under a name the client chose and must not overwrite (see docs/security.md).
    """
    if request.headers.get("if-none-match") is not None:
        raise InvalidCommandError(
            "commands do not take If-None-Match: creates make their own ids; send If-Match with the ETag you read "
            "to avoid overwriting a change",
            field="If-None-Match",
        )
    expected, any_version = _parse_if_match(if_match)
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
            traceparent=tracing.traceparent() or logs.traceparent.get(),
        ),
        if_match=expected,
        if_match_any=any_version,
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
    if outcome.body_json is not None:  # serialised once already, for the query table: sent as it is
        return _Serialised(outcome.body_json.encode(), status_code=outcome.status_code, headers=headers)
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)


class _Serialised(JSONResponse):
    """A JSON answer whose bytes were made already (with the same settings, :func:`shared.commands.dumps`)."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body is not JSON, or not a JSON object"},
    404: {"model": Problem, "description": "No such aggregate"},
    409: {"model": Problem, "description": "Illegal transition, or a concurrent change won the race"},
    412: {"model": Problem, "description": "If-Match is stale: the aggregate moved on (current_version)"},
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
    limit: Annotated[Whole, Query(ge=1, le=500, description="Items per page (at most 500)")] = 50,
    offset: Annotated[Whole, Query(ge=0, le=10_000_000)] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


Paging = Annotated[PageParams, Depends(page_params)]
