"""The asyncpg connection under a SQLAlchemy one, for the hot paths (its own module, so that the event store and
the engine's module do not import each other)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


async def driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``, inside the transaction ``conn`` has begun.

    For the hot paths (event-store appends and reads, idempotency rows): a prepared asyncpg statement costs a
    fraction of SQLAlchemy's execution layer. SQLAlchemy starts its asyncpg transaction lazily at the first
    statement, so it is started here if nothing ran yet; everything then commits or rolls back with ``conn``.
    This uses the asyncpg adapter's ``_transaction`` and ``_start_transaction`` (SQLAlchemy 2.0 and 2.1; the
    dependency is pinned below 2.2, and every event-store test goes through here).
    """
    sync = conn.sync_connection
    if sync is not None and not sync.closed and not sync.invalidated:
        raw = sync.connection  # already checked out: no I/O, no greenlet hop
    else:
        raw = await conn.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if conn.in_transaction() and adapted._transaction is None:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
    return raw.driver_connection
