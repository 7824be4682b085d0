"""Web helpers every service uses: the app factory, command headers, pagination (problem+json errors:
:mod:`shared.problems`; the edge in front of every route: :mod:`shared.edge`)."""

from __future__ import annotations

import hashlib
import json
import logging
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
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
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
from shared.limits import MAX_DATE, MIN_DATE
from shared.money import MINOR_UNITS
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
    for name, component in components.items():  # Money-Input and Money-Output: one title each, as client
        if name.endswith(("-Input", "-Output")):  # generators name their classes after the title
            component["title"] = name.replace("-", "")
    problem_content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if path not in ("/healthz", "/readyz"):
                responses.setdefault("401", {"description": "Missing, invalid or expired bearer token"})
                responses.setdefault("403", {"description": "The token's roles do not allow this operation"})
            responses.setdefault("414", {"description": "The path or query string is longer than the service takes"})
            responses.setdefault("431", {"description": "The headers are larger than the service takes"})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body is not JSON, or not a JSON object"})
                responses.setdefault("413", {"description": "The body is larger than the service takes"})
            if any(p.get("name", "").lower() == "if-match" for p in operation.get("parameters", [])):
                responses.setdefault("412", {"description": "If-Match is stale: the aggregate moved on"})
                for status, response in responses.items():  # a command: its answer's headers (see respond)
                    if status.startswith("2"):
                        response.setdefault("headers", {}).update(_command_headers(status))
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = dict(problem_content)
            if any(p.get("name") == "format" for p in operation.get("parameters", [])) and "200" in responses:
                responses["200"].setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components and unused not in json.dumps(schema.get("paths", {})):
            components.pop(unused)
    _state_input_bounds(schema)
    app.openapi_schema = schema
    return schema


# --- what the input bounds are, stated in the document --------------------------------------------------------

_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
"""Constraints FastAPI leaves under their Python names on an ``Annotated`` query type (``Whole``): JSON Schema's."""
FREE_TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]*$"
"""Text as :func:`shared.bounds.forbidden_character` takes it: no control character but tab and line breaks, no
bidirectional override (lone surrogates cannot be written in JSON Schema and are refused all the same)."""
DATE_PATTERN = "^(19[0-9]{2}|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
"""A ``YYYY-MM-DD`` within :data:`~shared.limits.MIN_DATE` .. ``MAX_DATE`` (1900 to 2199)."""
_DECIMAL = {
    "signed": r"^-?[0-9]{1,18}(\.[0-9]{1,18})?$",
    "non-negative": r"^[0-9]{1,18}(\.[0-9]{1,18})?$",
    "positive": r"^([0-9]{0,18}[1-9][0-9]{0,18}(\.[0-9]{1,18})?|[0-9]{1,18}\.[0-9]{0,17}[1-9][0-9]{0,17})$",
}
"""An exact number as a string in plain decimal notation (no exponent, no separator), by its lower bound."""
_NULL = {"type": "null"}


def _state_input_bounds(schema: dict[str, Any]) -> None:
    """The bounds the request models check, stated in the document where JSON Schema can state them, so that a
    client (or a fuzzer) that keeps to the document is not refused for what it could not read: decimals as an
    integer or a plain decimal string (never a float), text without the characters the service refuses, dates
    within the range it keeps, currencies from ISO 4217, headers that are absent rather than null, and the numeric
    bounds of query parameters under their JSON Schema names. Only the schemas a request reaches change."""
    assert MIN_DATE.year == 1900 and MAX_DATE.year == 2199, "DATE_PATTERN states the range of shared.limits"
    components = schema.get("components", {}).get("schemas", {})
    inputs: set[str] = set()

    def reach(node: Any) -> None:
        if isinstance(node, dict):
            ref = str(node.get("$ref", ""))
            name = ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else ""
            if name and name not in inputs and name in components:
                inputs.add(name)
                reach(components[name])
            for value in node.values():
                reach(value)
        elif isinstance(node, list):
            for value in node:
                reach(value)

    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _bounded(parameter.get("schema", {}), header=parameter.get("in") == "header")
            for media in operation.get("requestBody", {}).get("content", {}).values():
                reach(media.get("schema", {}))
                media["schema"] = _bounded(media.get("schema", {}))
    for name in sorted(inputs - {"Problem", "FieldError"}):
        components[name] = _bounded(components[name])
    money = components.get("Money-Input")
    if money is not None:
        money["properties"]["currency"] = {"type": "string", "enum": sorted(MINOR_UNITS), "title": "Currency"}


def _decimal(options: list[Any]) -> list[Any] | None:
    """pydantic's number-or-string of a ``Decimal`` as this API takes it: an integer or a plain decimal string."""
    numbers = [o for o in options if isinstance(o, dict) and o.get("type") == "number"]
    texts = [o for o in options if isinstance(o, dict) and o.get("type") == "string" and len(o) == 1]
    if len(numbers) != 1 or len(texts) != 1:
        return None
    number = numbers[0]
    low = number.get("exclusiveMinimum", number.get("minimum"))
    if low is None or low < 0:
        kind = "signed"
    elif low > 0 or "exclusiveMinimum" in number:
        kind = "positive"
    else:
        kind = "non-negative"
    exact = {"type": "string", "pattern": _DECIMAL[kind]}
    return [{**o, "type": "integer"} if o is number else exact if o is texts[0] else o for o in options]


def _bounded(node: Any, *, header: bool = False) -> Any:
    """``node`` (a JSON Schema) with its bounds stated (see :func:`_state_input_bounds`)."""
    if isinstance(node, list):
        return [_bounded(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") in ("integer", "number"):
        node = {_KEYWORDS.get(key, key): value for key, value in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o != _NULL]
        if header and len(rest) == 1 and len(options) == 2:  # a header is absent or has a value, never null
            return _bounded({**{k: v for k, v in node.items() if k != "anyOf"}, **rest[0]})
        node["anyOf"] = _decimal(options) or options
    for key in ("properties", "$defs"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _bounded(value) for name, value in node[key].items()}
    for key in ("items", "anyOf", "oneOf", "allOf", "prefixItems"):
        if key in node:
            node[key] = _bounded(node[key])
    if node.get("type") == "string" and not {"enum", "const", "pattern"} & node.keys():
        if node.get("format") == "date":
            node["pattern"] = DATE_PATTERN
        elif "format" not in node:
            node["pattern"] = FREE_TEXT_PATTERN
    return node


# --- commands -----------------------------------------------------------------------------------------


def _command_headers(status: str) -> dict[str, Any]:
    """The headers :func:`respond` sets, as OpenAPI documents them on a command's 2xx answer."""
    headers: dict[str, Any] = {
        "ETag": {
            "description": 'The aggregate\'s version after the command, e.g. "3": send it back as If-Match',
            "required": True,
            "schema": {"type": "string", "pattern": r'^"[0-9]{1,9}"$'},
        },
        "Idempotent-Replayed": {
            "description": "true when this is the first answer replayed for a retried Idempotency-Key",
            "schema": {"type": "string", "enum": ["true"]},
        },
    }
    if status == "201":
        headers["Location"] = {"description": "Where the created resource is read", "schema": {"type": "string"}}
    return headers


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
