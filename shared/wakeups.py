"""Waking a background task of any process of a schema: PostgreSQL ``LISTEN/NOTIFY`` on a channel of the schema.

A task that works off rows other processes write (the invoicing matcher's queue, the alert evaluator's changed
projects) sleeps until it is woken, with a slow safety poll for whatever a lost notification leaves behind:

* the writer calls :func:`notify_once` in the transaction that wrote the rows: PostgreSQL delivers the notification
  at commit, never before, and several in one transaction are sent once. Only for consumer transactions (one per
  batch): a command's transaction never notifies (PostgreSQL serialises the commits of notifying transactions on a
  database-wide lock); a command's own process wakes its tasks after the commit instead;
* the task runs a :class:`Listener` on a session of its own (one connection of the service's pool, held while it
  runs): it calls ``wake`` on each notification, once when it starts listening (what was written while it was not),
  and it listens again after a failure, with backoff, logging once per quiet period.

The relay's wake-up (:mod:`shared.relay_wake`) differs: its leader listens on the session that holds its lock, and
the processes that commit events notify after the commit, outside the command's transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.relay_stalls import QuietLog

log = logging.getLogger(__name__)

RELISTEN_AFTER = (0.5, 10.0)
"""The first and the longest wait before listening again after a failure (doubling)."""


def channel_sql(prefix: str) -> str:
    """SQL naming the schema's channel for ``prefix`` (a plain identifier whatever the schema's name)."""
    return f"'{prefix}' || left(md5(current_schema()), 32)"


def channel_name(prefix: str, schema: str) -> str:
    """The channel :func:`channel_sql` names in ``schema``, computed without the database (for a ``NOTIFY`` sent
    after a commit, outside any transaction)."""
    return prefix + hashlib.md5(schema.encode()).hexdigest()[:32]


async def notify_once(conn: AsyncConnection, channel: str) -> None:
    """``pg_notify`` the channel (:func:`channel_sql`) when the transaction on ``conn`` commits; once per transaction
    and channel (a notification sent in a savepoint that is rolled back is lost with it: the safety poll finds what
    it was about)."""
    transaction = conn.sync_connection.get_transaction() if conn.sync_connection is not None else None
    key = ("pmo.notified", channel)
    if transaction is not None and conn.info.get(key) is transaction:
        return
    await conn.execute(text(f"SELECT pg_notify({channel}, '')"))
    conn.info[key] = transaction


class Listener:
    """``LISTEN`` on a schema's channel on a session of its own and call ``wake`` on each notification."""

    def __init__(self, engine: AsyncEngine, channel: str, wake: Callable[[], None], *, what: str, check_every: float):
        self.engine = engine
        self.channel = channel
        self.wake = wake
        self.what = what
        self.check_every = check_every
        """Seconds between checks that the listening session is alive (a dead one shows at the latest then)."""
        self.listening = asyncio.Event()
        """Set while notifications are listened to."""
        self._failing = QuietLog()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set; listen again after a failure (a lost notification costs only latency)."""
        backoff = RELISTEN_AFTER[0]
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._listen(stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._failing.due():
                    log.warning(
                        "%s cannot listen for notifications (%s: %s); its safety poll goes on",
                        self.what, type(exc).__name__, exc,
                    )  # fmt: skip
            if time.monotonic() - started > 60:
                backoff = RELISTEN_AFTER[0]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            backoff = min(RELISTEN_AFTER[1], backoff * 2)

    async def _listen(self, stop: asyncio.Event) -> None:
        async with self.engine.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            channel = str((await conn.execute(text(f"SELECT {self.channel}"))).scalar_one())
            await conn.commit()  # no transaction left open on the listening session

            def on_notification(*_: Any) -> None:
                self.wake()

            lost = asyncio.Event()

            def on_termination(*_: Any) -> None:
                lost.set()

            driver.add_termination_listener(on_termination)
            await driver.add_listener(channel, on_notification)
            self.listening.set()
            self._failing.reset()
            self.wake()  # whatever was written while it was not listening
            try:
                while not stop.is_set() and not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=self.check_every)
                    if not lost.is_set():
                        await driver.execute("SELECT 1")  # a dead session shows here at the latest
            finally:
                self.listening.clear()
                driver.remove_termination_listener(on_termination)
                with contextlib.suppress(Exception):
                    await driver.remove_listener(channel, on_notification)


async def sleep_until_woken(stop: asyncio.Event, woken: asyncio.Event, seconds: float) -> None:
    """Until ``seconds`` pass, ``woken`` is set or ``stop`` is."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(woken.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
