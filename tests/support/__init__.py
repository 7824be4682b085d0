"""Helpers the tests share: a tiny event contract, a counting projection, Kafka readers with deadlines."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.events import DomainEvent, EventMetadata, EventRegistry
from shared.eventstore import EventStore, NewEvent
from shared.kafka import ConsumedEvent, KafkaOptions
from shared.money import Money

T = TypeVar("T")


def auth_header(subject: str, *roles: str) -> dict[str, str]:
    """A development-mode bearer token for ``subject`` with ``roles``."""
    from shared.auth import mint_token

    return {"Authorization": f"Bearer {mint_token(subject, roles)}"}


class WorkLogged(DomainEvent):
    """A test event: some amount of work logged against a project."""

    event_name = "work-logged"
    project_id: str
    seq: int
    amount: Money


REGISTRY = EventRegistry([WorkLogged])
STORE = EventStore(REGISTRY)
META = EventMetadata(actor="tester", correlation_id="test")

COUNTING_DDL = [
    "CREATE TABLE IF NOT EXISTS applied (event_id uuid NOT NULL, project_id text NOT NULL, seq integer NOT NULL, "
    "amount numeric NOT NULL)",
]


class CountingProjection:
    """Records every application, without any constraint, so a duplicate effect would show as a second row.

    ``poison_seq``: applying an event with that ``seq`` raises, to exercise the dead-letter path.
    """

    def __init__(self, topic: str, name: str | None = None, poison_seq: int | None = None) -> None:
        self.name = name or f"test.{uuid.uuid4().hex[:8]}"
        self.topics = (topic,)
        self.poison_seq = poison_seq

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        decoded = REGISTRY.decode(event.name, event.version, event.data)
        assert isinstance(decoded, WorkLogged)
        if decoded.seq == self.poison_seq:
            raise ValueError(f"cannot apply seq {decoded.seq}")
        await conn.execute(
            text("INSERT INTO applied (event_id, project_id, seq, amount) VALUES (:e, :p, :s, :a)"),
            {"e": event.event_id, "p": decoded.project_id, "s": decoded.seq, "a": decoded.amount.amount},
        )


def work(project_id: str, seq: int, amount: str = "10.00") -> NewEvent:
    return NewEvent.of(WorkLogged(project_id=project_id, seq=seq, amount=Money.of(amount, "EUR")))


async def append(engine: Any, project_id: str, seqs: range, expected: int = 0) -> None:
    """Append one event per seq to the stream ``work-<project>``, one transaction for all."""
    async with engine.begin() as conn:
        await STORE.append(
            conn,
            stream_id=f"work-{project_id}",
            stream_type="work",
            expected_version=expected,
            events=[work(project_id, s) for s in seqs],
            metadata=META,
        )


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns without AssertionError, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(interval)


async def read_topic(kafka: KafkaOptions, topic: str, expect: int, timeout: float = 20.0) -> list[Any]:
    """Every record of ``topic`` from the beginning: at least up to the end offsets seen when called, and waiting
    until at least ``expect`` records arrived (or ``timeout``)."""
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await consumer.start()
    records: list[Any] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        for tp in tps:  # let the offset reset assign() starts finish first, so it cannot undo the seek
            await consumer.position(tp)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
            positions = [await consumer.position(tp) for tp in tps]
            if len(records) >= expect and all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
        # a little longer, to see records that should not be there
        for batch in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def applied_rows(engine: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            (await conn.execute(text("SELECT event_id, project_id, seq FROM applied ORDER BY project_id, seq"))).all()
        )


async def set_topic_limit(kafka: KafkaOptions, topic: str, limit: int) -> None:
    """Set a topic's ``max.message.bytes`` (the broker refuses larger records on it)."""
    from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # type: ignore[import-untyped]

    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(limit)})]
        )
    finally:
        await admin.close()
