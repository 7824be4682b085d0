"""The matcher: matches invoices again when a fact they depend on changes.

The consumers of ``pmo.resources.v1`` and ``pmo.budget.v1`` cannot append to the event store inside their own
transaction (appending must be a transaction's first write), so they only record, with the reference data, what
changed in ``rematch_queue``; the projector does the same for changes among the invoices themselves. This task
works the queue off (:class:`~invoicing.queries.RematchQueue`): for each row, it finds the invoices awaiting a
decision that depend on it and matches each again (:func:`invoicing.handlers.rematch`, as
``system:invoicing-matcher``, caused by the event that changed the fact). A match whose result is unchanged
appends nothing, so working a row off twice is harmless; a row is deleted only if no new request renewed it
meanwhile, and a failed row is retried later.

**Woken, not polling** (:mod:`shared.wakeups`): the matcher sleeps until

* a command of its own process commits (one of the executor's after-commit hooks: invoice commands ask for a
  match once more, goods receipts and credit notes free facts for other invoices);
* a consumer's transaction that queued a request commits, in any process (:func:`notify_matcher`, a
  ``pg_notify`` in that transaction: PostgreSQL delivers it at commit, never before, and several in one
  transaction are one); the matcher ``LISTEN``\\ s on a session of its own (one connection of the service's pool,
  held while it runs), re-opened after a failure;
* the earliest row put off for a retry is due;
* or its safety poll (``PMO_MATCHER_POLL_INTERVAL``) passes, for whatever a lost notification left behind.

A command's transaction never sends ``NOTIFY`` (PostgreSQL serialises the commits of notifying transactions on a
database-wide lock); every process that takes commands runs a matcher, which its own commands wake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from invoicing import handlers
from invoicing.queries import RematchQueue, SqlInvoiceFacts
from shared import wakeups
from shared.commands import CommandOutcome
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "pmo_matcher_"
CHANNEL_SQL = wakeups.channel_sql(CHANNEL_PREFIX)
"""The notification channel of the schema's matchers."""
SAFETY_POLL = 30.0
"""Seconds between two looks at the queue when nothing woke the matcher (the service's setting overrides it)."""


async def notify_matcher(conn: AsyncConnection) -> None:
    """Wake the schema's matchers when the transaction on ``conn`` commits (for a consumer that queued a request; a
    command's own process wakes its matcher after the commit instead). Sent once per transaction: a batch of records
    costs one statement (a notification sent in a savepoint that is rolled back is lost with it: the safety poll
    finds that request)."""
    await wakeups.notify_once(conn, CHANNEL_SQL)


class Rematcher:
    def __init__(
        self,
        runtime: ServiceRuntime,
        *,
        poll_interval: float = SAFETY_POLL,
        batch_size: int = 100,
        retry_after: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.queue = RematchQueue(runtime.engine)
        self.facts = SqlInvoiceFacts(runtime.engine)
        self.poll_interval = poll_interval
        """The safety poll: the longest the matcher sleeps when nothing wakes it."""
        self.batch_size = batch_size
        self.retry_after = retry_after
        self.woken = 0
        """Wake-ups by a commit or a notification (a figure for tests)."""
        self.passes = 0
        """Looks at the queue (a figure for tests and the idle benchmark)."""
        self._wake = asyncio.Event()
        self.listener = wakeups.Listener(
            runtime.engine, CHANNEL_SQL, self.wake, what="invoicing matcher", check_every=poll_interval
        )
        self.listening = self.listener.listening
        """Set while the matcher listens for notifications."""

    def wake(self) -> None:
        """Look at the queue now (an after-commit hook; also called on each notification)."""
        self.woken += 1
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Work the queue off until ``stop`` is set, surviving database failures."""
        hooks = self.runtime.executor.after_commit
        hooks.append(self.wake)
        listener = asyncio.create_task(self.listener.run(stop), name="invoicing-matcher-listen")
        try:
            while not stop.is_set():
                self._wake.clear()  # a commit from here on wakes the next pass
                try:
                    worked = await self.run_once()
                    pause = 0.0 if worked else await self._next_due()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("invoicing matcher failed; retrying")
                    pause = self.retry_after
                if pause > 0:
                    await self._sleep(stop, pause)
        finally:
            with contextlib.suppress(ValueError):
                hooks.remove(self.wake)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        await wakeups.sleep_until_woken(stop, self._wake, seconds)

    async def _next_due(self) -> float:
        """Seconds until the earliest row put off for a retry is due, at most the safety poll."""
        async with self.runtime.engine.connect() as conn:
            wait = (
                await conn.execute(text("SELECT extract(epoch FROM min(not_before) - now()) FROM rematch_queue"))
            ).scalar()
        if wait is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.01, float(wait)))

    async def run_once(self) -> int:
        """Work off the rows due now; returns how many were taken."""
        self.passes += 1
        rows = await self.queue.due(self.batch_size)
        for row in rows:
            try:
                invoices = await self.queue.awaiting(row.kind, row.key)
                if invoices is None:
                    log.error("unknown re-match kind %r; dropped", row.kind)
                for invoice_id in invoices or []:
                    await self.rematch(invoice_id, cause=row.cause, correlation_id=row.correlation_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-matching %s %s failed (attempt %d); will retry", row.kind, row.key, row.attempts + 1)
                await self.queue.retry_later(row, min(60.0, self.retry_after * 2 ** min(row.attempts, 6)))
                continue
            await self.queue.done(row)
        return len(rows)

    async def rematch(
        self, invoice_id: UUID, *, cause: str | None = None, correlation_id: str | None = None, actor: str = ""
    ) -> CommandOutcome[Any] | None:
        """Match one invoice again with the facts as they are now; None if it no longer awaits a decision."""
        return await handlers.rematch(
            self.runtime.executor, self.facts, invoice_id, cause=cause, correlation_id=correlation_id, actor=actor
        )
