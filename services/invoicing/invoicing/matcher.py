"""The matcher: matches invoices again when a fact they depend on changes.

The consumers of ``pmo.resources.v1`` and ``pmo.budget.v1`` cannot append to the event store inside their own
transaction (appending must be a transaction's first write), so they only record, with the reference data, what
changed in ``rematch_queue``; the projector does the same for changes among the invoices themselves. This task
works the queue off: for each row, it finds the invoices awaiting a decision that depend on it, reads their facts
and runs :class:`~invoicing.domain.MatchInvoice` through the command executor as ``system:invoicing-matcher``
(causation: the event that changed the fact). A match whose result is unchanged appends nothing, so working a row
off twice is harmless; a row is deleted only if no new request renewed it meanwhile, and a failed row is retried
later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any
from uuid import UUID

from sqlalchemy import text

from invoicing import domain, facts
from invoicing.projections import AWAITING, Rematch
from shared.commands import CommandContext, CommandOutcome
from shared.errors import ConcurrencyError
from shared.events import EventMetadata
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)
INVOICE = domain.INVOICE


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
        self.engine = runtime.engine
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
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT kind, key, seq, cause, correlation_id, attempts FROM rematch_queue "
                        "WHERE not_before <= now() ORDER BY seq LIMIT :n"
                    ),
                    {"n": self.batch_size},
                )
            ).all()
        for row in rows:
            try:
                for invoice_id in await self._invoices(row.kind, row.key):
                    await self.rematch(invoice_id, cause=row.cause, correlation_id=row.correlation_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-matching %s %s failed (attempt %d); will retry", row.kind, row.key, row.attempts + 1)
                async with self.engine.begin() as conn:
                    await conn.execute(
                        text(
                            "UPDATE rematch_queue SET attempts = attempts + 1, "
                            "not_before = now() + make_interval(secs => :delay) "
                            "WHERE kind = :k AND key = :key AND seq = :seq"
                        ),
                        {
                            "delay": min(60.0, self.retry_after * 2 ** min(row.attempts, 6)),
                            "k": row.kind,
                            "key": row.key,
                            "seq": row.seq,
                        },
                    )
                continue
            async with self.engine.begin() as conn:
                await conn.execute(
                    text("DELETE FROM rematch_queue WHERE kind = :k AND key = :key AND seq = :seq"),
                    {"k": row.kind, "key": row.key, "seq": row.seq},
                )
        return len(rows)

    async def _invoices(self, kind: str, key: str) -> list[UUID]:
        """The invoices awaiting a decision that depend on ``(kind, key)``, in order of receipt."""
        awaiting = {"awaiting": list(AWAITING)}
        async with self.engine.connect() as conn:
            if kind == Rematch.INVOICE:
                return [UUID(key)]
            if kind == Rematch.SHEET:
                rows = await conn.execute(
                    text(
                        "SELECT i.invoice_id FROM invoices i WHERE i.status = ANY(CAST(:awaiting AS text[])) "
                        "AND EXISTS (SELECT 1 FROM invoice_citations c WHERE c.invoice_id = i.invoice_id "
                        "AND c.sheet_id = :s) ORDER BY i.received_position"
                    ),
                    {"s": UUID(key), **awaiting},
                )
            elif kind == Rematch.COMMITMENT:
                project_id, _, reference = key.partition(":")
                rows = await conn.execute(
                    text(
                        "SELECT invoice_id FROM invoices WHERE project_id = :p AND commitment_key = :ref "
                        "AND status = ANY(CAST(:awaiting AS text[])) ORDER BY received_position"
                    ),
                    {"p": UUID(project_id), "ref": reference, **awaiting},
                )
            elif kind == Rematch.PROJECT:
                rows = await conn.execute(
                    text(
                        "SELECT invoice_id FROM invoices WHERE project_id = :p "
                        "AND status = ANY(CAST(:awaiting AS text[])) ORDER BY received_position"
                    ),
                    {"p": UUID(key), **awaiting},
                )
            else:
                log.error("unknown re-match kind %r; dropped", kind)
                return []
            return [r.invoice_id for r in rows]

    async def rematch(
        self, invoice_id: UUID, *, cause: str | None = None, correlation_id: str | None = None, actor: str = ""
    ) -> CommandOutcome[Any] | None:
        """Match one invoice again with the facts as they are now; None if it no longer awaits a decision."""
        metadata = EventMetadata(
            actor=actor or domain.MATCHER,
            correlation_id=correlation_id or str(uuid.uuid4()),
            causation_id=cause,
        )
        for attempt in range(3):
            async with self.engine.connect() as conn:
                key = await facts.invoice_key(conn, invoice_id)
                if key is None or key.status not in AWAITING:
                    return None
                found = await facts.read_facts(conn, key)
            try:
                return await self.runtime.executor.execute(
                    CommandContext(metadata=metadata),
                    aggregate=INVOICE,
                    stream_id=domain.stream_id(invoice_id),
                    command=domain.MatchInvoice(found, metadata.actor),
                    respond=lambda state, events, version: {},
                )
            except ConcurrencyError:
                if attempt == 2:
                    raise
        return None
