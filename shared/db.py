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

from shared.pg import driver

__all__ = ["create_engine", "driver", "lock_key", "migrate", "ping"]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def create_engine(
    database_url: str,
    schema: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    ssl_mode: str = "disable",
    ssl_root_cert: str | None = None,
    pre_ping: bool = False,
    statement_timeout_ms: int | None = None,
    application_name: str | None = None,
) -> AsyncEngine:
    """An asyncpg engine whose connections see only ``schema`` (then ``public``), with TLS when asked.

    Disconnects are handled optimistically (no ``pre_ping``, which costs three round trips per checkout): a
    statement on a connection the server dropped fails (HTTP 503, nothing applied) and SQLAlchemy then
    invalidates the whole pool, so the next checkouts open fresh connections.

    ``statement_timeout_ms``: the server cancels any statement of these connections running longer (a query no
    request should need cannot hold a connection for ever, even after its client left); ``None`` keeps the
    server's setting (tools such as replay, whose statements may be long). ``application_name`` names the sessions
    in ``pg_stat_activity`` (a service passes one per replica); default ``pmo-<schema>``.
    """
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    server_settings = {"search_path": f"{schema},public", "application_name": application_name or f"pmo-{schema}"}
    if statement_timeout_ms is not None:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    connect_args: dict[str, Any] = {"server_settings": server_settings}
    if ssl_mode != "disable":
        connect_args["ssl"] = _ssl(ssl_mode, ssl_root_cert)
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=pre_ping, connect_args=connect_args
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


def lock_key(schema: str) -> str:
    """The advisory lock (``pg_advisory_xact_lock(hashtext(key))``) every change to ``schema``'s tables holds."""
    return f"pmo-migrate:{schema}"


async def migrate(engine: AsyncEngine, schema: str, ddl: Iterable[str] = ()) -> None:
    """Create the schema, the event-store tables and the given tables if they do not exist: for scratch schemas
    (tests, ``pmo replay --schema``, benchmarks) made from the current DDL lists in one go.

    A service's own schema is versioned instead (:mod:`shared.migrations`, ``pmo migrate``). Idempotent; the
    statements run in one transaction under the schema's migration lock (the one :mod:`shared.migrations` takes),
    so concurrent runs on one schema do not race.
    """
    from shared.eventstore import DDL as EVENT_STORE_DDL

    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": lock_key(schema)})
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        for statement in [*EVENT_STORE_DDL, *ddl]:
            await conn.execute(text(statement))


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database; raises if it does not answer."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
