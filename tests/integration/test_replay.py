"""Rebuilding all of reporting's read models in one pass (``shared.replay.replay_all``) over real Kafka and
PostgreSQL gives the same tables, inbox rows and positions as the live consumers and as replaying each read model
alone; duplicate records on the topics are applied once and poison records are dead-lettered by each read model
that cannot apply them."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.approvals import ApprovalsProjection
from shared.db import create_engine
from shared.infra.system import Endpoints
from shared.kafka import KafkaOptions, ensure_topics
from shared.replay import replay, replay_all
from tests.support.replay import (
    TABLES,
    DeadLetters,
    Facts,
    Portfolio,
    books_equal_the_ledger,
    history,
    new_schema,
    produce,
    run_live,
    scratch,
    snapshot,
)

pytestmark = pytest.mark.integration


class Approvals(ApprovalsProjection):
    def __init__(self, topics: list[str]) -> None:
        self.topics = tuple(topics)  # type: ignore[assignment]


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
    poison["reporting.approvals"] = 1  # the record that is no CloudEvent: the inbox decodes none of the others
    await produce(kafka, records)
    on_projects = sum(1 for t, _ in records if t == projects_topic)
    total = {"reporting.portfolio": on_projects, "reporting.facts": len(records), "reporting.approvals": len(records)}

    def models() -> list[Any]:
        return [
            Portfolio([projects_topic]),
            Facts([projects_topic, budget_topic]),
            Approvals([projects_topic, budget_topic]),
        ]

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
        # each registration waits for its approval gate, the second registration of a project changing nothing
        assert len(expected["approval_items"]) == len(expected["approval_projects"]) == 24
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
        assert dead_marked == {"reporting.portfolio": 2, "reporting.approvals": 0}

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
