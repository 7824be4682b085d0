"""At a service's start: is its event table behind its topic? The projects whose events are on the topic but not in
the table are *unreconciled*: shown on ``/readyz`` (200, "degraded"), as ``pmo_events_missing_from_table`` and an
ERROR log line, and the command path refuses their commands (503 with ``Retry-After``) until ``pmo reconcile`` has
appended the missing events: a command decided on a stream that lacks events would give a version the topic
already holds to another event."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.errors import UnavailableError
from shared.kafka import KafkaOptions
from shared.metrics import gauge
from shared.recovery.reconcile import Divergence, compare

log = logging.getLogger(__name__)

MISSING = gauge(
    "pmo_events_missing_from_table",
    "Events found on the service's topic past its relay checkpoint but missing from its event table (0 when "
    "reconciled); alert when above 0",
    ["service"],
)

RETRY_AFTER_SECONDS = 30


class NotReconciledError(UnavailableError):
    """The project's events on Kafka are missing from the event table; it takes commands again once reconciled."""

    title = "Project being recovered"
    retry_after = RETRY_AFTER_SECONDS


class Admission:
    """The projects a service refuses commands for until its table is reconciled with its topic."""

    def __init__(self, engine: AsyncEngine, kafka: KafkaOptions, *, service: str, topic: str) -> None:
        self.engine = engine
        self.kafka = kafka
        self.service = service
        self.topic = topic
        self.pending: dict[str, set[uuid.UUID]] = {}
        """By partition key (project), the ids of its events missing from the table."""
        self.streams: dict[str, str] = {}
        """The streams of those events, to their partition keys: a command on one is refused before it is decided."""
        self.conflicts: list[str] = []
        MISSING.labels(service).set(0)

    async def check(self) -> Divergence:
        """Compare the table with the topic past the checkpoint (at start, and on demand)."""
        found = await compare(self.engine, self.kafka, self.topic)
        pending: dict[str, set[uuid.UUID]] = {}
        for event in found.missing:
            pending.setdefault(event.partition_key, set()).add(event.event_id)
        self.pending, self.conflicts = pending, found.conflicts
        self.streams = {event.stream_id: event.partition_key for event in found.missing}
        MISSING.labels(self.service).set(len(found.missing))
        if found.missing:
            log.error(
                "%s: %d events on %s are missing from the event table (projects %s)%s; commands for those projects "
                "are refused until `pmo reconcile %s`",
                self.service,
                len(found.missing),
                self.topic,
                ", ".join(sorted(pending)[:10]),
                f", {len(found.conflicts)} conflicting" if found.conflicts else "",
                self.service,
            )
        return found

    async def admit(self, conn: AsyncConnection, keys: set[str]) -> None:
        """Refuse a command on a stream of an unreconciled project (before it is decided: its state lacks events) or
        whose events belong to one (``keys``: stream ids or partition keys; read in the command's transaction, so a
        reconciliation committed meanwhile lets it through)."""
        if not self.pending:
            return
        for key in {self.streams.get(k, k) for k in keys} & self.pending.keys():
            ids = self.pending[key]
            present = (
                await conn.execute(
                    text("SELECT count(*) FROM events WHERE event_id = ANY(CAST(:ids AS uuid[]))"),
                    {"ids": [str(i) for i in ids]},
                )
            ).scalar_one()
            if present < len(ids):
                raise NotReconciledError(
                    f"project {key} has {len(ids) - present} events on Kafka that this service's event table lacks "
                    f"(restored from an older backup); retry once `pmo reconcile {self.service}` has run"
                )
            self._settled(key)

    async def readiness(self) -> dict[str, Any] | None:
        """``{"reconcile": {...}}`` while events are missing; None otherwise."""
        if not self.pending:
            return None
        async with self.engine.connect() as conn:
            for key in list(self.pending):
                present = (
                    await conn.execute(
                        text("SELECT count(*) FROM events WHERE event_id = ANY(CAST(:ids AS uuid[]))"),
                        {"ids": [str(i) for i in self.pending[key]]},
                    )
                ).scalar_one()
                if present == len(self.pending[key]):
                    self._settled(key)
        if not self.pending:
            return None
        missing = sum(len(ids) for ids in self.pending.values())
        return {
            "reconcile": {
                "events_missing_from_table": missing,
                "projects": sorted(self.pending)[:100],
                "conflicts": self.conflicts[:10],
                "run": f"pmo reconcile {self.service}",
            }
        }

    def _settled(self, key: str) -> None:
        self.pending.pop(key, None)
        MISSING.labels(self.service).set(sum(len(ids) for ids in self.pending.values()))
        if not self.pending:
            log.warning("%s: event table reconciled with %s; every project takes commands", self.service, self.topic)
