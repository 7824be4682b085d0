"""Database access: one engine per service, confined to the service's own schema.

Each service owns a PostgreSQL schema (its name by default); the engine sets ``search_path`` to it, so the
shared event-store code and the service's projections use unqualified table names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.eventstore import DDL as EVENT_STORE_DDL

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def create_engine(
    database_url: str,
    schema: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    ssl_mode: str = "disable",
    ssl_root_cert: str | None = None,
) -> AsyncEngine:
    """An asyncpg engine whose connections see only ``schema`` (then ``public``), with TLS when asked."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    connect_args: dict[str, Any] = {
        "server_settings": {"search_path": f"{schema},public", "application_name": f"pmo-{schema}"}
    }
    if ssl_mode != "disable":
        connect_args["ssl"] = _ssl(ssl_mode, ssl_root_cert)
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True, connect_args=connect_args
    )


def _ssl(mode: str, root_cert: str | None) -> Any:
    """asyncpg's ``ssl`` argument for a libpq-style ``sslmode``."""
    import ssl

    if mode == "require":
        return "require"
    context = ssl.create_default_context(cafile=root_cert)
    if mode == "verify-ca":
        context.check_hostname = False
    elif mode != "verify-full":
        raise ValueError(f"unknown ssl mode {mode!r}")
    return context


async def migrate(engine: AsyncEngine, schema: str, ddl: Iterable[str] = ()) -> None:
    """Create the schema, the event-store tables and the service's own tables if they do not exist.

    Idempotent; statements run in one transaction under an advisory lock so replicas starting together do
    not race.
    """
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('pmo-migrate'))"))
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        for statement in [*EVENT_STORE_DDL, *ddl]:
            await conn.execute(text(statement))


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database; raises if it does not answer."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
