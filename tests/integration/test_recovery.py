"""The refusals of the recovery commands, against the real PostgreSQL and Kafka (the drills themselves are in
tests/chaos/test_recovery.py): a restore into a database that is not empty, a republish while another runs, a
reconcile against a topic that contradicts the table: each refused with a clear message and nothing changed; and the
503 + ``Retry-After`` a service answers for a project whose events are on its topic but not in its table, lifted by
the reconcile.

The projects service runs in process on a schema of its own; its admission compares the table with a private topic
(the suite's services share one topic per service across schemas, so the service's own topic is always "ahead")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from projects.bootstrap import AGGREGATES
from shared.cli import main as pmo
from shared.db import create_engine
from shared.eventstore import recorded_from_row
from shared.infra.system import create_database, drop_database
from shared.kafka import KafkaOptions, ensure_topics, new_producer, to_record
from shared.recovery import RecoveryRefusedError
from shared.recovery.backup import backup, restore
from shared.recovery.reconcile import compare, reconcile
from shared.recovery.republish import republish
from shared.recovery.topic import end_offsets
from tests.integration.conftest import service_client
from tests.support import auth_header
from tests.support.http import ok, refused
from tests.support.projects import register

pytestmark = pytest.mark.integration


@dataclass
class Service:
    client: httpx.AsyncClient
    runtime: Any
    engine: AsyncEngine
    schema: str
    topic: str
    kafka: KafkaOptions


@pytest.fixture(scope="module")
async def service(infra: Any, kafka: KafkaOptions) -> AsyncIterator[Service]:
    topic = f"pmo.test-recovery-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(kafka, [topic], partitions=3, replication_factor=1)
    async with AsyncExitStack() as stack:
        client = await service_client(stack, "projects", infra, auth_header("dora.director", "director"))
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        runtime.admission.topic = topic
        engine = create_engine(infra.database_url, runtime.schema, pool_size=2)
        try:
            yield Service(client, runtime, engine, runtime.schema, topic, kafka)
        finally:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{runtime.schema}" CASCADE'))
            await engine.dispose()


async def _publish(kafka: KafkaOptions, topic: str, rows: list[Any]) -> None:
    producer = new_producer(kafka)
    await producer.start()
    try:
        for row in rows:
            key, value, headers = to_record("projects", recorded_from_row(row._mapping))
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _events(engine: AsyncEngine, stream: str) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            await conn.execute(text("SELECT * FROM events WHERE stream_id = :s ORDER BY version"), {"s": stream})
        )


async def _stream(service: Service, project: dict[str, Any]) -> str:
    async with service.engine.connect() as conn:
        return str(
            (
                await conn.execute(
                    text("SELECT DISTINCT stream_id FROM events WHERE partition_key = :k"),
                    {"k": project["project_id"]},
                )
            ).scalar_one()
        )


async def test_a_command_for_a_project_behind_its_topic_is_refused_503_until_reconcile_appends_its_events(
    service: Service,
) -> None:
    client = service.client
    behind, other = await register(client), await register(client)
    await ok(await client.post(f"/projects/{behind['project_id']}/approve", json={}))
    stream = await _stream(service, behind)
    approved = (await _events(service.engine, stream))[-1]
    assert approved.name == "project-approved" and approved.version == 2
    # The database restored from before the approval: the topic holds the event, the table does not.
    await _publish(service.kafka, service.topic, [approved])
    async with service.engine.begin() as conn:
        await conn.execute(text("DELETE FROM events WHERE event_id = :e"), {"e": approved.event_id})
    found = await service.runtime.admission.check()
    assert [e.event_id for e in found.missing] == [approved.event_id] and not found.conflicts
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "degraded" and ready["reconcile"]["projects"] == [behind["project_id"]], ready

    answer = await client.post(f"/projects/{behind['project_id']}/start", json={})
    problem = await refused(answer, 503)
    assert answer.headers["retry-after"] == "30"
    assert "pmo reconcile projects" in problem["detail"]
    assert [e.version for e in await _events(service.engine, stream)] == [1]  # nothing appended
    await ok(await client.post(f"/projects/{other['project_id']}/approve", json={}))  # other projects go on

    done = await reconcile(service.engine, service.kafka, service.topic, executor=service.runtime.executor,
                           aggregates=AGGREGATES)  # fmt: skip
    assert [e.event_id for e in done.missing] == [approved.event_id]
    after = await _events(service.engine, stream)
    assert [(e.version, e.event_id) for e in after] == [(1, after[0].event_id), (2, approved.event_id)]
    assert after[1].data == approved.data and after[1].recorded_at == approved.recorded_at
    started = await ok(await client.post(f"/projects/{behind['project_id']}/start", json={}))  # approved: reconciled
    assert started["status"] == "active"
    assert "reconcile" not in (await client.get("/readyz")).json()
    assert not (await compare(service.engine, service.kafka, service.topic)).missing


async def test_reconcile_refuses_a_topic_event_that_conflicts_with_the_table_and_changes_nothing(
    service: Service,
) -> None:
    project = await register(service.client)
    stream = await _stream(service, project)
    await ok(await service.client.post(f"/projects/{project['project_id']}/approve", json={"note": "ours"}))
    table = await _events(service.engine, stream)
    # Another history on the topic: the same stream and version 2, another event with other content.
    forged = dict(table[1]._mapping)
    forged["event_id"], forged["data"] = uuid.uuid4(), {**table[1].data, "note": "theirs"}

    class Row:
        _mapping = forged

    await _publish(service.kafka, service.topic, [Row()])
    found = await compare(service.engine, service.kafka, service.topic)
    assert any(f"stream {stream} version 2" in c for c in found.conflicts), found.conflicts
    with pytest.raises(RecoveryRefusedError, match="conflicts between the topic and the table, nothing changed"):
        await reconcile(service.engine, service.kafka, service.topic, executor=service.runtime.executor,
                        aggregates=AGGREGATES)  # fmt: skip
    assert [(e.event_id, e.data) for e in await _events(service.engine, stream)] == [
        (e.event_id, e.data) for e in table
    ]


async def test_republish_refuses_while_another_republish_of_the_service_runs(service: Service) -> None:
    topic = f"pmo.test-republish-{uuid.uuid4().hex[:8]}.v1"
    await register(service.client)
    gate, entered = asyncio.Event(), asyncio.Event()

    class Gated:
        """The first republish's producer: it starts only once the test lets it."""

        def __init__(self) -> None:
            self.inner: AIOKafkaProducer = new_producer(service.kafka)

        async def start(self) -> None:
            entered.set()
            await gate.wait()
            await self.inner.start()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    running = republish(service.engine, service.kafka, service="projects", topic=topic, schema=service.schema,
                        from_start=True, producer_factory=Gated, consumer_schemas=[service.schema])  # fmt: skip
    first = asyncio.create_task(running)
    await asyncio.wait_for(entered.wait(), 60)
    async with service.engine.connect() as conn:
        checkpoint = (await conn.execute(text("SELECT xid::text, position FROM relay_checkpoint"))).all()
    ends = await end_offsets(service.kafka, topic)
    with pytest.raises(RecoveryRefusedError, match="another republish of projects is running"):
        await republish(service.engine, service.kafka, service="projects", topic=topic, schema=service.schema,
                        from_start=True)  # fmt: skip
    async with service.engine.connect() as conn:
        assert (await conn.execute(text("SELECT xid::text, position FROM relay_checkpoint"))).all() == checkpoint
    assert await end_offsets(service.kafka, topic) == ends == {0: 0, 1: 0, 2: 0}  # nothing published
    gate.set()
    done = await asyncio.wait_for(first, 120)
    assert done.events == done.total > 0
    assert sum((await end_offsets(service.kafka, topic)).values()) == done.events


async def test_restore_refuses_a_database_that_is_not_empty_and_changes_nothing(
    infra: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_url(infra.database_url)
    base = server.set(database="postgres").render_as_string(hide_password=False)
    source, target = (f"pmo_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("backed_up", "restored"))
    urls = {name: server.set(database=name).render_as_string(hide_password=False) for name in (source, target)}
    engines = {name: create_engine(url, "public", pool_size=2) for name, url in urls.items()}
    try:
        for name in (source, target):
            await create_database(base, name)
        async with engines[source].begin() as conn:  # a small database of its own: pg_dump reads the whole catalog
            await conn.execute(text("CREATE SCHEMA projects"))
            await conn.execute(text("CREATE TABLE projects.events (id int PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO projects.events VALUES (1), (2)"))
        made = await backup(engines[source], urls[source], ["projects"], tmp_path / "b")
        assert made.tables == {"projects.events": 2} and (tmp_path / "b" / "manifest.json").is_file()
        async with engines[target].begin() as conn:
            await conn.execute(text("CREATE TABLE public.someone_elses (id int)"))
        with pytest.raises(RecoveryRefusedError, match=r"not empty \(public.someone_elses\).*nothing changed"):
            await restore(engines[target], urls[target], tmp_path / "b")
        assert (
            await asyncio.to_thread(pmo, ["restore", "--from", str(tmp_path / "b"), "--database-url", urls[target]])
            == 1
        )
        assert "refused: the target database is not empty" in capsys.readouterr().err
        async with engines[target].begin() as conn:
            assert (await conn.execute(text("SELECT to_regnamespace('projects')"))).scalar() is None  # nothing restored
            await conn.execute(text("DROP TABLE public.someone_elses"))
        restored = await restore(engines[target], urls[target], tmp_path / "b")  # empty now: restored and counted
        assert restored.tables == made.tables
    finally:
        for engine in engines.values():
            await engine.dispose()
        for name in (source, target):
            await drop_database(base, name)
