"""Fixtures of the integration tests: services in process against the real PostgreSQL and Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
