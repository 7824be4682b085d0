"""The histories, scratch schemas, snapshots and live consumers the replay tests compare a replay with."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting import projections
from shared import consumer as consumer_module
from shared.consumer import ProjectionConsumer
from shared.contracts import budget as b
from shared.contracts import projects as p
from shared.db import create_engine, migrate
from shared.events import DomainEvent, EventMetadata, RecordedEvent
from shared.infra.system import Endpoints
from shared.kafka import DLQ_TOPIC, KafkaOptions, new_producer, to_record
from shared.money import Money
from tests.support import eventually

START = datetime(2027, 1, 4, 9, tzinfo=UTC)


class Portfolio(projections.PortfolioProjection):
    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)  # type: ignore[misc]


class Facts(projections.FactsProjection):
    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)  # type: ignore[misc]


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def record(service: str, event: DomainEvent, at: datetime, event_id: uuid.UUID | None = None) -> Record:
    recorded = RecordedEvent(
        event_id=event_id or uuid.uuid4(),
        stream_id=f"project-{event.partition_key}",
        stream_type="project",
        version=1,
        position=0,
        name=event.event_name,
        schema_version=event.event_version,
        partition_key=event.partition_key,
        data=event.model_dump(mode="json"),
        metadata=EventMetadata("test", "replay"),
        recorded_at=at,
    )
    return to_record(service, recorded)


def registered(project_id: uuid.UUID, code: str) -> p.ProjectRegistered:
    return p.ProjectRegistered(
        project_id=project_id,
        portfolio_id="pf-replay",
        programme_id=None,
        code=code,
        name=f"Project {code}",
        objectives="",
        sponsor="s",
        manager="m",
        planned_start=date(2027, 1, 4),
        planned_end=date(2027, 12, 17),
        currency="EUR",
    )


def planned(project_id: uuid.UUID, m: int) -> p.MilestonePlanned:
    return p.MilestonePlanned(
        project_id=project_id,
        milestone_id=uuid.uuid4(),
        name=f"M{m}",
        due_date=date(2027, 3, 1) + timedelta(days=30 * m),
        planned_value=Money.of(f"{1000 * (m + 1)}.25", "EUR"),
        acceptance_criteria="",
    )


def baselined(project_id: uuid.UUID) -> b.BudgetBaselined:
    return b.BudgetBaselined(
        project_id=project_id,
        total=Money.of("50000.00", "EUR"),
        categories=[b.CategoryAmount(category=b.CostCategory.LABOUR, amount=Money.of("50000.00", "EUR"))],
        phasing=[],
        baselined_by="f",
    )


def history(projects_topic: str, budget_topic: str) -> tuple[list[tuple[str, Record]], dict[str, int]]:
    """Records for both topics, in the order produced, and the poison records each read model must dead-letter."""
    out: list[tuple[str, Record]] = []
    at = START
    first: list[Record] = []
    for n in range(24):
        pid = uuid.uuid4()
        events: list[tuple[str, str, DomainEvent]] = [
            (projects_topic, "projects", registered(pid, f"R{n:02d}")),
            *((projects_topic, "projects", planned(pid, m)) for m in range(3)),
            (projects_topic, "projects", p.ProjectStarted(project_id=pid, started_on=date(2027, 1, 4))),
            (budget_topic, "budget", baselined(pid)),
        ]
        for topic, service, event in events:
            at += timedelta(seconds=1)
            out.append((topic, record(service, event, at)))
        first.append(out[-6][1])
    key = first[0][0]
    # Poison for both read models: not a CloudEvent at all, and a known event breaking its contract.
    out.append((projects_topic, (key, b"{not json", [("x", b"y")])))
    broken = record("projects", planned(uuid.UUID(key.decode()), 9), at + timedelta(seconds=1))
    out.append((projects_topic, (broken[0], b'{"project_id": "' + key + b'"}', broken[2])))
    # Poison for the portfolio only: a second registration of a registered project (another event id); the facts
    # ledger keeps it as a fact.
    again = registered(uuid.UUID(key.decode()), "R00-AGAIN")
    out.append((projects_topic, record("projects", again, at + timedelta(seconds=2))))
    # Duplicates: the same records (same event ids) delivered again, as a relay re-publishing would.
    out += [(projects_topic, r) for r in first[:5]]
    out += [(projects_topic, out[3][1]), (budget_topic, out[5][1])]
    # An event type this version does not know: kept by the facts ledger, ignored by the portfolio.
    replaced = {"ce_type": b"pmo.projects.something-new.v7", "ce_id": str(uuid.uuid4()).encode()}
    odd = (key, b'{"project_id": "' + key + b'", "x": 1}', [(k, replaced.get(k, v)) for k, v in first[1][2]])
    out.append((projects_topic, odd))
    return out, {"reporting.portfolio": 3, "reporting.facts": 2}


async def produce(kafka: KafkaOptions, records: list[tuple[str, Record]]) -> None:
    producer = new_producer(kafka)
    await producer.start()
    try:
        for topic, (key, value, headers) in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def new_schema(infra: Endpoints, label: str) -> tuple[AsyncEngine, str]:
    schema = f"t_{label}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(infra.database_url, schema, pool_size=4)
    await migrate(engine, schema, [*consumer_module.DDL, *projections.DDL])
    return engine, schema


@contextlib.asynccontextmanager
async def scratch(infra: Endpoints, label: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a new schema with the reporting read models, dropped afterwards."""
    engine, schema = await new_schema(infra, label)
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


TABLES = {
    "portfolio_projects": "SELECT * FROM portfolio_projects ORDER BY project_id",
    "portfolio_milestones": "SELECT * FROM portfolio_milestones ORDER BY milestone_id",
    "facts": "SELECT project_id, event_id, service, name, version, recorded_at, data FROM facts ORDER BY event_id",
    "dirty_projects": "SELECT * FROM dirty_projects ORDER BY project_id",
    "approval_items": "SELECT * FROM approval_items ORDER BY item_key",
    "approval_projects": "SELECT * FROM approval_projects ORDER BY project_id",
    "inbox": "SELECT consumer, event_id, dead_lettered FROM inbox ORDER BY consumer, event_id",
    "consumer_offsets": "SELECT consumer, topic, partition, next_offset FROM consumer_offsets "
    "ORDER BY consumer, topic, partition",
}


BOOK_DATES = (date(2027, 1, 3), date(2027, 3, 15), date(2027, 12, 31))


def books_view(raw: str) -> tuple[Any, ...]:
    """What a project's stored books answer (their JSON's order keys depend on how the topics interleaved on the
    way in, the answers must not): the facts they took and the books on a few dates."""
    from reporting.domain.books import Books

    books = Books.from_json(raw)
    return (books.count, *(books.at(day) for day in BOOK_DATES))


async def snapshot(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        tables = {name: [tuple(r) for r in await conn.execute(text(q))] for name, q in TABLES.items()}
        rows = await conn.execute(text("SELECT project_id, facts, books::text FROM project_books ORDER BY project_id"))
        tables["project_books"] = [(pid, facts, books_view(raw)) for pid, facts, raw in rows]
        return tables


class DeadLetters:
    """Records arriving on the DLQ from now on, about ``topic``, counted per consumer."""

    def __init__(self, kafka: KafkaOptions, topic: str) -> None:
        self.kafka, self.topic = kafka, topic
        self.consumer = AIOKafkaConsumer(auto_offset_reset="latest", enable_auto_commit=False, **kafka.client_kwargs())

    async def __aenter__(self) -> DeadLetters:
        await self.consumer.start()
        # Assigned explicitly and positioned before anything is dead-lettered: a subscription's assignment may come
        # later, on a loaded machine after the dead letters, and its reset to "latest" would then skip them.
        partitions = self.consumer.partitions_for_topic(DLQ_TOPIC)
        if not partitions:
            await self.consumer._client.force_metadata_update()
            partitions = self.consumer.partitions_for_topic(DLQ_TOPIC) or set()
        assigned = [TopicPartition(DLQ_TOPIC, p) for p in sorted(partitions)]
        self.consumer.assign(assigned)
        for tp in assigned:  # let the offset reset assign() starts finish first, so it cannot undo the seek
            await self.consumer.position(tp)
        await self.consumer.seek_to_end(*assigned)
        for tp in assigned:
            await self.consumer.position(tp)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def collect(self, expect: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        deadline = asyncio.get_running_loop().time() + 15
        while sum(counts.values()) < expect and asyncio.get_running_loop().time() < deadline:
            for batch in (await self.consumer.getmany(timeout_ms=300)).values():
                for r in batch:
                    headers = dict(r.headers)
                    if headers.get("pmo_original_topic") == self.topic.encode():
                        name = headers["pmo_consumer"].decode()
                        counts[name] = counts.get(name, 0) + 1
        for batch in (await self.consumer.getmany(timeout_ms=500)).values():  # nothing more should come
            for r in batch:
                headers = dict(r.headers)
                if headers.get("pmo_original_topic") == self.topic.encode():
                    name = headers["pmo_consumer"].decode()
                    counts[name] = counts.get(name, 0) + 1
        return counts


async def run_live(engine: AsyncEngine, kafka: KafkaOptions, models: list[Any], total: dict[str, int]) -> None:
    """The live consumers, until each has stored offsets up to the end of its topics."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(ProjectionConsumer(engine, kafka, m, group_id=f"t-{uuid.uuid4().hex}").run(stop))
        for m in models
    ]
    try:

        async def caught_up() -> None:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT consumer, sum(next_offset) FROM consumer_offsets GROUP BY consumer")
                )
                assert dict(rows.all()) == total

        await eventually(caught_up, timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)


async def books_equal_the_ledger(engine: AsyncEngine) -> bool:
    """Every project's stored books, on a few dates, are the ledger's fold of its facts."""
    from reporting.domain.books import Books
    from reporting.domain.ledger import Fact, book

    async with engine.connect() as conn:
        facts: dict[Any, list[Fact]] = {}
        for r in await conn.execute(
            text(
                "SELECT project_id, event_id, service, name, version, recorded_at, data FROM facts "
                "ORDER BY project_id, recorded_at, service, position"
            )
        ):
            facts.setdefault(r.project_id, []).append(
                Fact(r.event_id, r.service, r.name, r.version, r.recorded_at, r.data)
            )
        stored = dict((await conn.execute(text("SELECT project_id, books::text FROM project_books"))).all())
    assert stored.keys() == facts.keys()
    for pid, raw in stored.items():
        books = Books.from_json(raw)
        for day in BOOK_DATES:
            assert books.at(day) == book(pid, facts[pid], day), (pid, day)
    return True
