"""Waking a service's relay from any process that commits events: PostgreSQL ``LISTEN/NOTIFY``, outside the
command's transaction.

The relay leader listens on its leadership session (:func:`listen`): a notification wakes it as a command of its
own process does (:meth:`shared.relay.Relay.wake`). A process whose relay is not the leader (another replica, another
worker) sends ``NOTIFY`` after its command committed (:class:`Notifier`, one of the executor's after-commit hooks):
never inside the command's transaction, where the notification queue's database-wide lock taken at commit would
serialise every command. The notifications are coalesced, at most one ``NOTIFY`` in flight per process (a burst of
commands costs one or two), and a process whose own relay leads sends none. A lost notification (a listener
reconnecting, a failed ``NOTIFY``) costs only latency: the relay's slow safety poll still finds the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.relay_stalls import QuietLog

log = logging.getLogger(__name__)


def lock_key_for(schema: str, name: str = "relay") -> str:
    """The advisory lock that elects the leader of the relay ``name`` of ``schema``."""
    return f"pmo-relay:{schema}:{name}"


async def notify_in(conn: AsyncConnection, name: str = "relay") -> None:
    """Wake the relay ``name`` of the schema ``conn`` works in when the transaction on ``conn`` commits: for an
    operator's tool that writes what the relay acts on (events re-appended by ``pmo reconcile``, a retry or skip of
    held events), rare enough that the notification's lock at commit costs nothing."""
    schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
    await conn.execute(text("SELECT pg_notify(:c, '')"), {"c": channel_for(lock_key_for(str(schema), name))})


def channel_for(lock_key: str) -> str:
    """The notification channel of the relay elected by ``lock_key`` (one per schema and relay name): a plain
    identifier well under PostgreSQL's 63 bytes, whatever the schema's name."""
    return "pmo_relay_" + hashlib.sha256(lock_key.encode()).hexdigest()[:32]


async def not_listening() -> None:
    """What :func:`listen` returns, before it listens."""


async def listen(conn: AsyncConnection, channel: str, wake: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    """``LISTEN`` on ``conn`` (a session kept open, e.g. the relay leader's) and call ``wake`` on each notification;
    returns the coroutine function that stops listening."""
    driver: Any = (await conn.get_raw_connection()).driver_connection

    def on_notification(*_: Any) -> None:
        wake()

    await driver.add_listener(channel, on_notification)

    async def unlisten() -> None:
        with contextlib.suppress(Exception):  # a session already gone listens no more
            await driver.remove_listener(channel, on_notification)

    return unlisten


class Notifier:
    """An after-commit hook sending ``NOTIFY channel`` on a pooled session in autocommit (one round trip), unless
    ``leads()`` says this process's own relay is the leader (its in-process wake is enough)."""

    def __init__(self, engine: AsyncEngine, channel: str, *, leads: Callable[[], bool]) -> None:
        self.engine = engine
        self.channel = channel
        self.leads = leads
        self.sent = 0
        """Notifications sent (a figure for tests and benchmarks)."""
        self._pending = False
        self._task: asyncio.Task[None] | None = None
        self._failing = QuietLog()

    def __call__(self) -> None:
        if self.leads():
            return
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send(), name=f"notify-{self.channel}")

    async def _send(self) -> None:
        while self._pending:
            self._pending = False  # commits after this point get the next NOTIFY
            try:
                async with self.engine.connect() as conn:
                    driver: Any = (await conn.get_raw_connection()).driver_connection
                    await driver.execute(f'NOTIFY "{self.channel}"')  # no transaction open: autocommit
                self.sent += 1
            except Exception as exc:
                if self._failing.due():
                    log.warning("could not notify the relay (%s: %s); its safety poll will find the events",
                                type(exc).__name__, exc)  # fmt: skip
                return

    async def close(self) -> None:
        """Wait for a notification in flight (at most the database's answer)."""
        if self._task is not None and not self._task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
