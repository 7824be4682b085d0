"""Fault scenarios where the messages are wrong: duplicated and replayed records, poison records, an event breaking
its contract, an event Kafka refuses; the checks of :func:`tests.support.chaos.verify` hold after each."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared.infra.system import SERVICES
from shared.kafka import DLQ_TOPIC, new_producer
from tests.support import set_topic_limit
from tests.support.chaos import (
    FIGURES,
    TOPICS,
    Ledger,
    PrivateWorld,
    Workload,
    append_outbox,
    consumers,
    header,
    live_digests,
    read_topic,
    verify,
    wait_quiet,
    wait_until,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


async def test_duplicate_and_replayed_kafka_messages_change_no_read_model(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    kafka = world.infra.kafka_options
    workload.phase = "duplicates"
    await workload.ensure_projects(clients, 5)
    figures = await workload.run(clients, rate=30, duration=3, concurrency=8)
    await ledger.settle(clients, workload.learn)
    await wait_quiet(world)
    before = await live_digests(world)

    # 1. Every record of every consumed topic delivered once more (same key, value and headers).
    consumed = sorted({t for c in consumers().values() for t in c.topics})
    producer = new_producer(kafka)
    await producer.start()
    copied = 0
    try:
        for topic in consumed:
            for record in await read_topic(kafka, topic):
                await producer.send(
                    topic, value=record.value, key=record.key, partition=record.partition, headers=list(record.headers)
                )
                copied += 1
        await producer.flush()
    finally:
        await producer.stop()
    await wait_quiet(world)
    assert await live_digests(world) == before

    # 2. Every consuming service replays its topics from the beginning: stopped, its stored positions forgotten,
    # started again; the inbox recognises every event.
    engine = await world.open()
    owners = sorted({c.service for c in consumers().values()})
    await asyncio.gather(*(asyncio.to_thread(world.terminate, service) for service in owners))
    async with engine.begin() as conn:
        for service in owners:
            await conn.execute(text(f"DELETE FROM {service}.consumer_offsets"))
    await asyncio.gather(*(asyncio.to_thread(world.restart, service) for service in owners))
    replay_took = await wait_quiet(world)
    assert await live_digests(world) == before
    verdict = await verify(world, ledger)
    FIGURES.add(
        f"duplicates and replay: {copied} records published a second time on {len(consumed)} topics, then "
        f"{', '.join(owners)} replayed every topic from offset 0 ({replay_took:.1f}s): read models unchanged "
        f"(digests equal); stream {figures.line()}; {verdict.line()}",
        scenarios=1,
        commands=figures.sent,
        event_checks=verdict.events_checked,
    )


def poison_records(service: str, key: bytes) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    """Records no consumer can decode: not a CloudEvent, a CloudEvent whose data is not JSON, a CloudEvent whose id
    is not a UUID, a CloudEvent of a type that does not parse."""
    ce = [
        ("ce_specversion", b"1.0"),
        ("ce_source", f"/pmo/{service}".encode()),
        ("ce_subject", b"chaos"),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("content-type", b"application/json"),
    ]
    event_type = f"pmo.{service}.project-registered.v1".encode()
    return [
        ("not a cloudevent", b"\xff\xfe garbage \x00", [("x-chaos", b"1")]),
        ("data not json", b'{"project_id": ', [*ce, ("ce_id", str(uuid.uuid4()).encode()), ("ce_type", event_type)]),
        ("id not a uuid", b"{}", [*ce, ("ce_id", b"not-a-uuid"), ("ce_type", event_type)]),
        ("type unparsable", b"{}", [*ce, ("ce_id", str(uuid.uuid4()).encode()), ("ce_type", b"pmo..v")]),
    ]


def reads_its_data(consumer: str, service: str) -> bool:
    """Whether ``consumer`` uses the data of a ``project-registered`` event on ``service``'s topic (data is parsed
    where it is used): the facts ledger stores every event's data (PostgreSQL refuses what is not JSON), and only
    the projects topic has such an event, which every consumer of that topic decodes except the RAID read model (it
    reads only the RAID events and skips the others undecoded); consumers of the other topics skip an event type
    they do not know, as they would a well-formed one."""
    return consumer == "reporting.facts" or (service == "projects" and consumer not in SKIPS_OTHER_EVENTS)


SKIPS_OTHER_EVENTS = {"reporting.raid"}
"""Consumers of the projects topic that decode only the events they keep (a project registration is not one)."""

SKIPS_MILESTONE_PLANS = {"reporting.approvals", "reporting.notifications"}
"""Consumers of the projects topic that never decode a milestone plan: the approvals inbox keeps only requests and
decisions, and the notifications decode an event's data only for a subscription that wants it (none here)."""


async def test_a_poison_message_on_each_topic_is_dead_lettered_and_the_consumers_move_on(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    kafka = world.infra.kafka_options
    pids = await workload.ensure_projects(clients, 3)
    readers = consumers()
    expected: set[tuple[str, str, int, int]] = set()  # (consumer, topic, partition, offset)
    producer = new_producer(kafka)
    await producer.start()
    try:
        for service, topic in TOPICS.items():
            for label, value, headers in poison_records(service, pids[0].encode()):
                if label == "data not json":  # its id is read (only its data fails): consumers that skip it keep it
                    world.foreign_ids.add(dict(headers)["ce_id"].decode())
                sent = await producer.send_and_wait(topic, value=value, key=pids[0].encode(), headers=headers)
                expected |= {
                    (c.name, topic, sent.partition, sent.offset)
                    for c in readers.values()
                    if topic in c.topics and (label != "data not json" or reads_its_data(c.name, service))
                }
    finally:
        await producer.stop()
    # What comes after the poison, on the same partitions, is processed.
    workload.phase = "after-poison"
    figures = await workload.run(clients, rate=30, duration=3, concurrency=8)
    await ledger.settle(clients, workload.learn)
    await wait_quiet(world)
    for service in SERVICES:
        assert (await clients[service].get("/readyz")).status_code == 200

    def origin(record: Any) -> tuple[str | None, ...]:
        names = ("pmo_consumer", "pmo_original_topic", "pmo_original_partition", "pmo_original_offset")
        return tuple(header(record, n) for n in names)

    wanted = {(c, t, str(p), str(o)) for c, t, p, o in expected}
    dead = [r for r in await read_topic(kafka, DLQ_TOPIC) if origin(r) in wanted]
    missing = wanted - {origin(r) for r in dead}
    assert not missing, f"not dead-lettered: {list(missing)[:5]}"
    errors = Counter((header(r, "pmo_error") or "").split(":")[0] for r in dead)
    verdict = await verify(world, ledger)
    FIGURES.add(
        f"poison: {len(TOPICS) * 4} undecodable records on {len(TOPICS)} topics, {len(expected)} dead-letterings "
        f"expected (one per consumer of the topic) and found on {DLQ_TOPIC} ({dict(errors)}); later records "
        f"processed; stream {figures.line()}; {verdict.line()}",
        scenarios=1,
        commands=figures.sent,
        event_checks=verdict.events_checked,
    )


async def test_an_event_breaking_its_contract_on_a_project_topic_is_dead_lettered_and_breaks_no_report(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    workload.phase = "contract-poison"
    fresh = await ledger.send(clients, workload.register())
    workload.learn(fresh)
    pid = str(fresh.answer["project_id"])
    await wait_quiet(world)
    reporting = clients["reporting"]
    assert (await reporting.get(f"/reports/projects/{pid}")).status_code == 200
    event_id = str(uuid.uuid4())
    world.foreign_ids.add(event_id)
    producer = new_producer(world.infra.kafka_options)
    await producer.start()
    try:  # a well-formed CloudEvent of a known type whose data lacks what the contract requires
        await producer.send_and_wait(
            TOPICS["projects"],
            key=pid.encode(),
            value=json.dumps({"project_id": pid, "milestone_id": str(uuid.uuid4())}).encode(),
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_id", event_id.encode()),
                ("ce_source", b"/pmo/projects"),
                ("ce_type", b"pmo.projects.milestone-planned.v1"),
                ("ce_subject", f"project-{pid}".encode()),
                ("ce_time", datetime.now(UTC).isoformat().encode()),
                ("content-type", b"application/json"),
            ],
        )
    finally:
        await producer.stop()
    await wait_quiet(world)
    answers = {
        path: await reporting.get(path)
        for path in (f"/reports/projects/{pid}", f"/reports/projects/{pid}/s-curve", "/reports/portfolio")
    }
    assert all(a.status_code == 200 for a in answers.values()), {p: a.status_code for p, a in answers.items()}
    # Every consumer of the topic that reads the event's data dead-letters it; none keeps it.
    dead = {
        header(r, "pmo_consumer")
        for r in await read_topic(world.infra.kafka_options, DLQ_TOPIC)
        if header(r, "ce_id") == event_id
    }
    readers = {c.name for c in consumers().values() if TOPICS["projects"] in c.topics}
    readers -= SKIPS_OTHER_EVENTS | SKIPS_MILESTONE_PLANS
    assert dead == readers, (dead, readers)
    engine = await world.open()
    async with engine.connect() as conn:
        stored = await conn.execute(text("SELECT count(*) FROM reporting.facts WHERE event_id = :e"), {"e": event_id})
        assert stored.scalar() == 0
    verdict = await verify(world, ledger)
    FIGURES.add(
        f"an event breaking its contract (milestone-planned without its fields) on {TOPICS['projects']}: "
        f"dead-lettered by {', '.join(sorted(str(d) for d in dead))}; the project's and the portfolio's reports "
        f"answer 200; {verdict.line()}",
        scenarios=1,
        event_checks=verdict.events_checked,
    )


async def test_an_event_kafka_refuses_holds_only_its_project_and_the_operator_command_sends_it_on_in_order(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    """The invoicing topic's record limit is lowered below one stored event of project P (as if the broker's limit
    had been lowered, or the event stored before the store bounded event size). P's events are held; the other
    projects' events still reach reporting, and commands keep working; once the limit is raised again, ``pmo relay
    retry`` sends P's events on, in the order they were written."""
    from shared.cli import main
    from shared.contracts import invoicing as inv

    engine = await world.open()
    kafka = world.infra.kafka_options
    topic = TOPICS["invoicing"]
    p, q = (str(uuid.UUID(pid)) for pid in (await workload.ensure_projects(clients, 2))[:2])

    def dispute(project: str, reason: str) -> Any:
        return inv.InvoiceDisputed(
            project_id=uuid.UUID(project), invoice_id=uuid.uuid4(), disputed_by="fiona.finance", reason=reason
        )

    marker = f"held-{uuid.uuid4().hex[:8]}"
    await set_topic_limit(kafka, topic, 50_000)
    try:
        big = dispute(p, f"{marker} p0 " + "x" * 100_000)
        await append_outbox(world, "invoicing", [big, dispute(p, f"{marker} p1")], f"chaos-{uuid.uuid4()}", "chaos")
        await append_outbox(
            world, "invoicing", [dispute(q, f"{marker} q{i}") for i in range(3)], f"chaos-{uuid.uuid4()}", "chaos"
        )
        await append_outbox(world, "invoicing", [dispute(p, f"{marker} p2")], f"chaos-{uuid.uuid4()}", "chaos")

        async def held() -> bool:
            count = await _count(engine, "SELECT count(*) FROM invoicing.relay_held WHERE partition_key = :k", k=p)
            return count == 3

        try:
            await wait_until(held, 30, "P's three events held")
        except AssertionError as exc:
            rows = await _count(engine, "SELECT count(*) FROM invoicing.relay_held")
            raise AssertionError(f"{exc}; {rows} held in all\n{world.log_tail('invoicing', 30)}") from exc
        workload.phase = "held"
        figures = await workload.run(clients, rate=20, duration=3, concurrency=8)  # commands go on meanwhile
        await wait_quiet(world)
        facts = await _facts(engine, marker)
        assert sorted(facts) == [(q, f"{marker} q{i}") for i in range(3)], facts  # Q reached reporting, P did not
        ready = await clients["invoicing"].get("/readyz")
        assert ready.status_code == 200  # commands still work: still ready, and the answer says what is held
        assert ready.json()["status"] == "degraded"
        assert ready.json()["relay"]["held_events"] == 3 and p in ready.json()["relay"]["projects"], ready.json()
    finally:
        await set_topic_limit(kafka, topic, 1_048_588)  # the operator raises the limit again...
    where = ["--schema", "invoicing", "--database-url", world.infra.database_url]
    assert await asyncio.to_thread(main, ["relay", "retry", "invoicing", "--project", p, *where]) == 0  # ...and retries
    await wait_quiet(world)
    assert (await clients["invoicing"].get("/readyz")).json()["status"] == "ready"
    facts = await _facts(engine, marker)  # in the order reporting applied them
    assert [f for f in facts if f[0] == p] == [(p, f"{marker} p0"), (p, f"{marker} p1"), (p, f"{marker} p2")]
    await ledger.settle(clients, workload.learn)
    verdict = await verify(world, ledger)
    FIGURES.add(
        f"an event over the topic's record limit held its project's 3 events while 3 of another project and "
        f"{figures.sent} commands went through; `pmo relay retry` sent the 3 on in order; {verdict.line()}",
        scenarios=1,
        commands=figures.sent,
        event_checks=verdict.events_checked,
    )


async def _count(engine: Any, sql: str, **params: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def _facts(engine: Any, marker: str) -> list[tuple[str, str]]:
    """The reporting facts of the scenario's disputes, in the order they were applied: (project, the reason's first
    words)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT project_id::text AS p, data->>'reason' AS reason FROM reporting.facts "
                "WHERE name = 'invoice-disputed' AND data->>'reason' LIKE :m ORDER BY position"
            ),
            {"m": f"{marker}%"},
        )
        return [(r.p, r.reason[: len(marker) + 3]) for r in rows]
