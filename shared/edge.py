"""The edge every request goes through first (:class:`Edge`), and the gate in it that authenticates a request and
checks its route's roles from the headers alone (:class:`Gate`), before any body is read."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import logs
from shared.auth import AccessPolicy, AuthError, ForbiddenError, TokenVerifier
from shared.bounds import forbidden_character
from shared.limits import (
    MAX_AUTHORIZATION_BYTES,
    MAX_HEADER_BYTES,
    MAX_PATH_BYTES,
    MAX_QUERY_STRING_BYTES,
)
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.problems import SESSION_COOKIE, FieldError, auth_error, forbidden, problem, unexpected

log = logging.getLogger(__name__)


class Gate:
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
        self._by_shape: dict[tuple[str, int], list[Any]] | None = None
        self._wild: list[Any] = []

    def route_of(self, scope: Scope) -> str | None:
        """The path template of the route ``scope`` addresses (by path, whatever the method), or ``None``."""
        partial = None
        for route in self._candidates(scope.get("path", "")):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(route.path)
            if match is Match.PARTIAL and partial is None:
                partial = str(route.path)
        return partial

    def methods_at(self, scope: Scope) -> frozenset[str] | None:
        """Every method some route declares at the path ``scope`` addresses, or ``None`` when no route has that path
        (several routes may share a path, one method each)."""
        found: set[str] = set()
        matched = False
        for route in self._candidates(scope.get("path", "")):
            methods = getattr(route, "methods", None)
            if methods is None:
                continue
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                matched = True
                found.update(methods)
        return frozenset(found) if matched else None

    def _routes(self) -> list[Any]:
        """Every route of the app, flattened (FastAPI may keep included routers as branches), built once all are
        included: at the first request."""
        if self._flat is None:
            self._flat = list(_flatten(self.app.router.routes))
        return self._flat

    def _candidates(self, path: str) -> list[Any]:
        """The routes that can match ``path``: those with its first segment and its number of segments (and any whose
        first segment is a parameter or that take a ``:path`` parameter), in the app's order: a request is matched
        against a handful of routes, not against every one."""
        if self._by_shape is None:
            shapes: dict[tuple[str, int], list[Any]] = {}
            wild: list[Any] = []
            for route in self._routes():
                template = str(route.path)
                if template.lstrip("/").startswith("{") or ":path}" in template:
                    wild.append(route)
                else:
                    shapes.setdefault(_shape(template), []).append(route)
            order = {id(route): n for n, route in enumerate(self._routes())}
            self._by_shape = {key: sorted([*rs, *wild], key=lambda r: order[id(r)]) for key, rs in shapes.items()}
            self._wild = wild
        return self._by_shape.get(_shape(path), self._wild)

    async def admit(self, scope: Scope, headers: Headers) -> None:
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
            principal = await self.verifier.verify_async(header)
        except AuthError:
            raise
        except Exception as exc:  # a token the verifier could not even read is still just an invalid token
            raise AuthError("the token is invalid") from exc
        self.verifier.authorize(principal, self.access.allowed(method, path), f"{method} {path}")
        state = scope.setdefault("state", {})
        state["actor"] = principal.subject
        state["roles"] = principal.roles
        state["principal"] = principal


def _shape(path: str) -> tuple[str, int]:
    """A path's first segment and number of segments (``/projects/{id}/hold`` and ``/projects/42/hold`` agree)."""
    parts = path.strip("/").split("/")
    return parts[0], len(parts)


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


class Edge:
    """What every request goes through first, cheapest check first, as a plain ASGI middleware (Starlette's
    ``BaseHTTPMiddleware`` runs every request in a task of its own, a large share of a short command's time):

    1. the size of the headers (431), of the path and the query string (414), and a declared ``Content-Length``
       over the body limit (413);
    2. control characters in the path or the query (422, naming the parameter);
    2b. a method no route declares at a known path (405 with ``Allow``, RFC 9110 15.5.6: which methods a path takes
        is public in the OpenAPI document, so it is answered before authentication);
    3. authentication and the route's roles (401, 403), before a byte of the body is read;
    4. the body, counted as it arrives (413 as soon as it passes the limit, chunked or not);
    5. a deadline for the whole request (503 when it passes; the database's statement timeout ends the query);
    plus the correlation id, trace context, ``X-Content-Type-Options: nosniff`` and request metrics.
    """

    def __init__(self, app: ASGIApp, *, service: str, max_body_bytes: int, request_timeout: float, gate: Gate) -> None:
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
                refused = self._method_not_allowed(scope)
            if refused is None:
                try:
                    await self.gate.admit(scope, headers)
                except AuthError as exc:
                    refused = await auth_error(Request(scope), exc)
                except ForbiddenError as exc:
                    refused = await forbidden(Request(scope), exc)
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
            response = await unexpected(Request(scope, receive), exc)
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

    def _method_not_allowed(self, scope: Scope) -> JSONResponse | None:
        """405 with ``Allow`` (the methods declared at the path) for a method no route at a known path declares."""
        method = scope.get("method", "GET")
        methods = self.gate.methods_at(scope)
        if methods is None or method in methods:
            return None
        allow = ", ".join(sorted(methods))
        refused = problem(405, "Method not allowed", f"{method} is not allowed here; allowed: {allow}")
        refused.headers["Allow"] = allow
        return refused

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
