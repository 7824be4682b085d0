"""A reporting service started in the test's process on a schema of its own (an evaluator, its consumers, its relay),
and the schema dropped afterwards."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from shared.db import create_engine


@asynccontextmanager
async def replica(infra: Any, schema: str, group: str) -> AsyncIterator[FastAPI]:
    """One reporting replica on ``schema`` (several may share it), evaluating every 0.05 s while projects change."""
    from reporting.bootstrap import create_app

    module = sys.modules[create_app.__module__]
    app: FastAPI = create_app(
        module.Settings(
            env="development",
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            db_schema=schema,
            kafka_group_prefix=group,
            evaluation_interval=0.05,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


async def drop_schema(infra: Any, schema: str) -> None:
    engine = create_engine(infra.database_url, "public")
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
