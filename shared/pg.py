"""The asyncpg connection under a SQLAlchemy one, for the hot paths (its own module, so that the event store and
the engine's module do not import each other); and what a database error says about the database rather than about
the work that met it (:func:`database_unavailable`, :func:`transient_database_error`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


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


async def fetch_alone(engine: AsyncEngine, sql: str, *args: Any) -> list[Any]:
    """The rows of one read statement (asyncpg's ``$1`` parameters) on a pooled session, with no transaction around
    it: one round trip, where SQLAlchemy's ``connect()`` sends ``BEGIN``, the statement and ``ROLLBACK``. A single
    statement sees one snapshot either way; for the reads a command makes before its own transaction."""
    async with engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        return list(await raw.fetch(sql, *args))


def _errors(exc: BaseException) -> list[BaseException]:
    """``exc`` and the driver's error it wraps (SQLAlchemy's ``orig``, asyncpg's under it): raw asyncpg errors come
    from the hot paths, wrapped ones from SQLAlchemy."""
    found: list[BaseException] = [exc]
    if isinstance(exc, DBAPIError):
        found += [e for e in (exc.orig, getattr(exc.orig, "__cause__", None)) if isinstance(e, BaseException)]
    return found


def database_unavailable(exc: BaseException) -> bool:
    """The database is going down, starting up, or the connection was lost (not the fault of what was being done)."""
    if isinstance(exc, (OSError, InterfaceError, OperationalError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    for error in _errors(exc):
        state = str(getattr(error, "sqlstate", "") or "")
        if state.startswith(("08", "57P")):  # connection exception; admin shutdown, cannot connect now
            return True
        if type(error).__name__ in ("ConnectionDoesNotExistError", "InterfaceError", "ConnectionResetError"):
            return True
    return False


TRANSIENT_STATES = ("40", "53", "55P03", "58")
"""SQLSTATEs of a statement that may well succeed when tried again: transaction rollback (serialization failure,
deadlock), insufficient resources (disk full, out of memory, too many connections), lock not available, system
error (I/O). Not a statement timeout (``57014``): the one statement a record always makes too slow would otherwise
hold its partition forever."""


def transient_database_error(exc: BaseException) -> bool:
    """The database is unavailable (:func:`database_unavailable`) or refused a statement for a reason of its own that
    may pass (:data:`TRANSIENT_STATES`): not the fault of the data the statement carried."""
    if database_unavailable(exc):
        return True
    return any(str(getattr(e, "sqlstate", "") or "").startswith(TRANSIENT_STATES) for e in _errors(exc))
