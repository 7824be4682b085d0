"""Rebuilding all of reporting's read models in one pass (``shared.replay.replay_all``) over real Kafka and
PostgreSQL gives the same tables, inbox rows and positions as the live consumers and as replaying each read model
alone; duplicate records on the topics are applied once and poison records are dead-lettered by each read model
that cannot apply them."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
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
from shared.kafka import DLQ_TOPIC, KafkaOptions, ensure_topics, new_producer, to_record
from shared.money import Money
from shared.replay import replay, replay_all
from tests.support import eventually

pytestmark = pytest.mark.integration

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


@pytest.fixture
async def topics(kafka: KafkaOptions, topic: str) -> AsyncIterator[tuple[str, str]]:
    other = f"pmo.test-{uuid.uuid4().hex[:10]}.v1"
    await ensure_topics(kafka, [other], partitions=3, replication_factor=1)
    yield topic, other


async def test_one_pass_replay_of_all_reporting_read_models_equals_the_live_ones_and_each_replayed_alone(
    infra: Endpoints, kafka: KafkaOptions, topics: tuple[str, str]
) -> None:
    projects_topic, budget_topic = topics
    records, poison = history(projects_topic, budget_topic)
    await produce(kafka, records)
    on_projects = sum(1 for t, _ in records if t == projects_topic)
    total = {"reporting.portfolio": on_projects, "reporting.facts": len(records)}

    def models() -> list[Any]:
        return [Portfolio([projects_topic]), Facts([projects_topic, budget_topic])]

    engines: list[AsyncEngine] = []
    try:
        live, _ = await new_schema(infra, "live")
        engines.append(live)
        async with DeadLetters(kafka, projects_topic) as dead:
            await run_live(live, kafka, models(), total)
            live_dead = await dead.collect(sum(poison.values()))
        # At least once here: a live consumer's rebalance can deliver a batch again, and a record without an event
        # id (not a CloudEvent) cannot be recognised as seen, so it may be dead-lettered twice. The replay has no
        # consumer group: exactly once there (below).
        assert live_dead.keys() == poison.keys() and all(live_dead[k] >= n for k, n in poison.items()), live_dead
        expected = await snapshot(live)

        # The read models hold each event once, whatever the duplicates, and nothing of the poison.
        assert len(expected["portfolio_projects"]) == 24
        assert len(expected["portfolio_milestones"]) == 24 * 3
        assert {r[9] for r in expected["portfolio_projects"]} == {3}  # milestones counted once each
        assert len(expected["facts"]) == 24 * 6 + 2  # and the second registration and the unknown type kept
        # Each project's books took each of its facts once (the duplicates were not applied again) and answer as
        # the ledger's fold of its facts does.
        per_project: dict[Any, int] = {}
        for row in expected["facts"]:
            per_project[row[0]] = per_project.get(row[0], 0) + 1
        assert {pid: facts for pid, facts, _ in expected["project_books"]} == per_project
        assert await books_equal_the_ledger(live)
        dead_marked = {r[0]: 0 for r in expected["inbox"]}
        for consumer, _, marked in expected["inbox"]:
            dead_marked[consumer] += marked
        # the undecodable record has no event id: only the other poison is marked in the inbox; the facts ledger is
        # idempotent and keeps no inbox (the duplicates above were refused by its event-id key)
        assert dead_marked == {"reporting.portfolio": 2}

        # all of a partition in one batch; many small ones; spread over this process and two workers
        for batch, writers, processes in ((5000, 2, 1), (7, 3, 1), (5, 2, 3)):
            engine, schema = await new_schema(infra, "all")
            engines.append(engine)
            seen: list[tuple[int, int]] = []
            async with DeadLetters(kafka, projects_topic) as dead:
                result = await replay_all(
                    engine,
                    kafka,
                    models(),
                    [t for m in models() for t in m.tables],
                    batch=batch,
                    writers=writers,
                    processes=processes,
                    connect=functools.partial(create_engine, infra.database_url, schema, pool_size=4),
                    progress=lambda done, total, seen=seen: seen.append((done, total)),
                )
                assert await dead.collect(sum(poison.values())) == poison
            assert (result.records, result.partitions, result.processes) == (len(records), 6, processes)
            assert await snapshot(engine) == expected, f"one pass, batch {batch}, {processes} processes"
            assert await books_equal_the_ledger(engine)
            assert seen[-1] == (len(records), len(records))
            assert [d for d, _ in seen] == sorted(d for d, _ in seen)

        # Replaying into a schema that already holds read models empties them first; one read model alone too.
        engine = engines[-1]
        for model in models():
            await replay(engine, kafka, model, list(model.tables), batch=11)
        assert await snapshot(engine) == expected
    finally:
        for engine in engines:
            async with engine.begin() as conn:
                schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await engine.dispose()


def _die() -> Any:
    """A worker's ``connect`` that kills its process without a word (as the OOM killer would)."""
    import os

    os._exit(3)


@pytest.mark.parametrize(
    ("connect", "error"),
    [
        # a worker that cannot reach its database reports its error
        (functools.partial(create_engine, "postgresql://nobody@127.0.0.1:9/none", "nowhere"), "failed"),
        # a worker that dies without a word is seen gone
        (_die, "exited with code 3"),
    ],
    ids=["worker-error", "worker-killed"],
)
async def test_a_replay_fails_as_a_whole_when_one_of_its_worker_processes_fails(
    infra: Endpoints, kafka: KafkaOptions, topics: tuple[str, str], connect: Any, error: str
) -> None:
    """The replay raises, instead of returning as if the worker's share of the partitions had been loaded, and no
    worker process is left running."""
    import multiprocessing

    projects_topic, budget_topic = topics
    records, _ = history(projects_topic, budget_topic)
    await produce(kafka, records)
    models = [Portfolio([projects_topic]), Facts([projects_topic, budget_topic])]
    async with scratch(infra, "failing") as engine:
        with pytest.raises(RuntimeError, match=rf"replay worker [12] {error}"):
            await replay_all(engine, kafka, models, [t for m in models for t in m.tables], processes=3, connect=connect)
        assert multiprocessing.active_children() == []


async def test_pmo_replay_rebuilds_a_services_read_models_from_its_topics_in_several_processes(
    infra: Endpoints, kafka: KafkaOptions
) -> None:
    """The operator's command, configured through the environment as a deployment is: every record of the read
    models' topics up to their end is applied, whichever process loaded its partition."""
    import os
    import sys

    from aiokafka import TopicPartition  # type: ignore[import-untyped]

    await ensure_topics(kafka, list(projections.FACT_TOPICS), partitions=3, replication_factor=1)
    pid = uuid.uuid4()
    events = [registered(pid, "CLI"), planned(pid, 0)]
    await produce(kafka, [(p.TOPIC, record("projects", e, START + timedelta(seconds=i))) for i, e in enumerate(events)])
    reader = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await reader.start()
    try:
        partitions = [TopicPartition(t, n) for t in projections.FACT_TOPICS for n in range(3)]  # as ensured above
        ends = await reader.end_offsets(partitions)
        starts = await reader.beginning_offsets(partitions)
    finally:
        await reader.stop()
    on_topic = {tp: ends[tp] - starts[tp] for tp in partitions}
    expected = {
        "reporting.facts": sum(on_topic.values()),
        "reporting.portfolio": sum(n for tp, n in on_topic.items() if tp.topic == p.TOPIC),
    }
    schema = f"t_cli_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PMO_DATABASE_URL": infra.database_url,
        "PMO_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.cli",
        "replay",
        "reporting",
        "--schema",
        schema,
        "--processes",
        "2",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    engine = create_engine(infra.database_url, schema, pool_size=1)
    try:
        assert process.returncode == 0, err.decode()[-2000:]
        assert f"{expected['reporting.facts']} records from {len(partitions)} partitions" in out.decode(), out.decode()
        assert out.decode().rstrip().endswith("in 2 process(es)"), out.decode()
        async with engine.connect() as conn:
            stored = dict(
                (
                    await conn.execute(
                        text("SELECT consumer, sum(next_offset) FROM consumer_offsets GROUP BY consumer")
                    )
                ).all()
            )
            ends_by_consumer = {
                "reporting.facts": sum(ends.values()),
                "reporting.portfolio": sum(ends[tp] for tp in partitions if tp.topic == p.TOPIC),
            }
            assert stored == ends_by_consumer
            ours = (
                await conn.execute(
                    text("SELECT code, milestones FROM portfolio_projects WHERE project_id = :p"), {"p": pid}
                )
            ).one()
        assert tuple(ours) == ("CLI", 1)
        assert expected["reporting.portfolio"] >= 2
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


async def test_the_facts_ledger_skips_events_it_holds_already_in_one_statement_for_the_batch(
    infra: Endpoints, kafka: KafkaOptions, topics: tuple[str, str]
) -> None:
    """The facts ledger keeps no inbox: a batch holding events it has (a relay's re-publish) is written by one
    ``INSERT ... ON CONFLICT DO NOTHING`` instead of one event at a time, and changes nothing that was there."""
    from shared.kafka import from_record

    projects_topic, budget_topic = topics
    records, _ = history(projects_topic, budget_topic)
    good = [r for _, r in records[:60]]
    resource_key = b"resource:" + str(uuid.uuid4()).encode()
    on_resource = [(resource_key, value, headers) for _, value, headers in good[:3]]
    for i, (_, value, headers) in enumerate(on_resource):  # events about a resource, from the resources service
        typed = [(k, v.replace(b"pmo.projects.", b"pmo.resources.") if k == "ce_type" else v) for k, v in headers]
        typed = [(k, str(uuid.uuid4()).encode() if k == "ce_id" else v) for k, v in typed]
        on_resource[i] = (resource_key, value, typed)
    events = [from_record(projects_topic, 0, n, k, v, h) for n, (k, v, h) in enumerate(good + on_resource)]
    facts = Facts([projects_topic])
    async with scratch(infra, "facts_dup") as engine:
        async with engine.begin() as conn:
            await facts.apply_batch(conn, events[:30] + events[60:62])  # an earlier batch
        async with engine.connect() as conn:
            before = (await conn.execute(text(TABLES["facts"]))).all()
        async with engine.begin() as conn:
            await facts.apply_batch(conn, events)  # the same 30 and 2 again, with the others
        async with engine.connect() as conn:
            after = (await conn.execute(text(TABLES["facts"]))).all()
            resource_rows = (await conn.execute(text("SELECT count(*) FROM resource_facts"))).scalar_one()
            data = await conn.execute(text("SELECT data FROM facts WHERE event_id = :e"), {"e": events[40].event_id})
            stored = data.scalar_one()
    assert len(before) == 30 and len(after) == 60
    assert all(row in after for row in before)  # unchanged
    assert resource_rows == 3
    assert stored == json.loads(events[40].raw)  # jsonb from the text, as COPY writes it
