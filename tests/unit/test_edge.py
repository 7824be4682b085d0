"""The edge every request goes through: the order of its checks and the request deadline, on an app with a slow and
a body-reading route (no database needed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI, Request

from shared.auth import AccessPolicy, AuthConfig, Role, TokenVerifier, mint_token
from shared.web import create_app

TOKEN = {"Authorization": f"Bearer {mint_token('pia.pmo', ['pmo'])}"}


def app_with(request_timeout: float = 5.0) -> tuple[FastAPI, list[str]]:
    bodies_read: list[str] = []
    router = APIRouter()

    @router.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(10)
        return {"status": "done"}

    @router.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        bodies_read.append(request.state.actor)
        return {"bytes": len(body)}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_app(
        service="edge-test",
        version="0",
        description="",
        routers=[router],
        lifespan=lifespan,
        readiness=lambda app: [],
        verifier=TokenVerifier(AuthConfig(mode="development", issuer="pmo", audience="pmo-api")),
        access=AccessPolicy(writers=frozenset({Role.PMO})),
        max_body_bytes=10_000,
        request_timeout=request_timeout,
    )
    return app, bodies_read


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge")


async def test_a_request_past_its_deadline_is_stopped_with_503() -> None:
    app, _ = app_with(request_timeout=0.2)
    async with client(app) as http:
        started = time.perf_counter()
        response = await http.get("/slow", headers=TOKEN)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert time.perf_counter() - started < 2


async def test_the_body_is_not_read_before_the_caller_is_authenticated() -> None:
    app, bodies_read = app_with()
    async with client(app) as http:
        anonymous = await http.post("/echo", content=b"x" * 100)
        viewer = await http.post(
            "/echo", content=b"x" * 100, headers={"Authorization": f"Bearer {mint_token('v', ['viewer'])}"}
        )
        allowed = await http.post("/echo", content=b"x" * 100, headers=TOKEN)
    assert (anonymous.status_code, viewer.status_code, allowed.status_code) == (401, 403, 200)
    assert bodies_read == ["pia.pmo"]


async def test_a_streamed_body_is_counted_as_it_arrives() -> None:
    app, bodies_read = app_with()

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1000

    async with client(app) as http:
        response = await http.post("/echo", content=stream(), headers=TOKEN)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert bodies_read == []


async def test_every_answer_says_nosniff_and_carries_a_correlation_id() -> None:
    app, _ = app_with()
    async with client(app) as http:
        response = await http.get("/healthz", headers={"X-Correlation-ID": "bad\x7fid"})
        kept = await http.get("/healthz", headers={"X-Correlation-ID": "req-42"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-correlation-id"] != "bad\x7fid"
    assert kept.headers["x-correlation-id"] == "req-42"
