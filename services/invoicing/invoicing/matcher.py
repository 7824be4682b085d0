"""The matcher: matches invoices again when a fact they depend on changes.

The consumers of ``pmo.resources.v1`` and ``pmo.budget.v1`` cannot append to the event store inside their own
transaction (appending must be a transaction's first write), so they only record, with the reference data, what
changed in ``rematch_queue``; the projector does the same for changes among the invoices themselves. This task
works the queue off (:class:`~invoicing.queries.RematchQueue`): for each row, it finds the invoices awaiting a
decision that depend on it and matches each again (:func:`invoicing.handlers.rematch`, as
``system:invoicing-matcher``, caused by the event that changed the fact). A match whose result is unchanged
appends nothing, so working a row off twice is harmless; a row is deleted only if no new request renewed it
meanwhile, and a failed row is retried later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

from invoicing import handlers
from invoicing.queries import RematchQueue, SqlInvoiceFacts
from shared.commands import CommandOutcome
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)


class Rematcher:
    def __init__(
        self,
        runtime: ServiceRuntime,
        *,
        poll_interval: float = 0.2,
        batch_size: int = 100,
        retry_after: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.queue = RematchQueue(runtime.engine)
        self.facts = SqlInvoiceFacts(runtime.engine)
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.retry_after = retry_after

    async def run(self, stop: asyncio.Event) -> None:
        """Work the queue off until ``stop`` is set, surviving database failures."""
        while not stop.is_set():
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("invoicing matcher failed; retrying")
                worked = 0
            if worked == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)

    async def run_once(self) -> int:
        """Work off the rows due now; returns how many were taken."""
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
