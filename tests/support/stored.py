"""What a service running in process (an ``httpx`` client over its app) has stored in its schema."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text


async def scalar(client: httpx.AsyncClient, sql: str, **params: Any) -> Any:
    """The first column of the first row ``sql`` gives in the service's schema (``None`` without a row)."""
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        return (await conn.execute(text(sql), params)).scalar()


async def event_count(client: httpx.AsyncClient) -> int:
    """How many events the service has appended, on every stream."""
    return int(await scalar(client, "SELECT count(*) FROM events"))


async def stored_events(client: httpx.AsyncClient) -> list[Any]:
    """Every event the service has appended, in order: its name, partition key and data."""
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        return list((await conn.execute(text("SELECT name, partition_key, data FROM events ORDER BY position"))).all())
