"""Fixtures of the integration tests: services in process against the real PostgreSQL and Kafka."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from projects.bootstrap import create_app
from projects.settings import Settings
from tests.support import auth_header


@pytest.fixture
async def client(infra, schema) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://projects", headers=auth_header("dora.director", "director")
        ) as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


async def service_client(
    stack: AsyncExitStack, module: str, infra: Any, token: dict[str, str], **extra: Any
) -> httpx.AsyncClient:
    bootstrap = importlib.import_module(f"{module}.bootstrap")
    settings_type = importlib.import_module(f"{module}.settings").Settings
    schema = f"t_{module}_{uuid.uuid4().hex[:8]}"
    app = bootstrap.create_app(
        settings_type(
            env="development",
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            db_schema=schema,
            kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
            **extra,
        )
    )
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{module}", headers=token)
    )
    client.app = app  # type: ignore[attr-defined]
    return client


@pytest.fixture
async def stack(infra: Any) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """The projects, budget and reporting services in process, each on a schema of its own."""
    async with AsyncExitStack() as s:
        yield {
            "projects": await service_client(s, "projects", infra, auth_header("dora.director", "director")),
            "budget": await service_client(s, "budget", infra, auth_header("fiona.finance", "finance")),
            "reporting": await service_client(
                s,
                "reporting",
                infra,
                auth_header("dora.director", "director"),
                evaluation_interval=0.05,
                full_evaluation_interval=3600,
            ),
        }
