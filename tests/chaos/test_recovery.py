"""Disaster-recovery drills on the chaos world (its own PostgreSQL, Kafka and five services): a backup restored and
compared table by table; Kafka's data lost under the running system and the topics republished; the database
restored behind Kafka and reconciled. Each prints its recovery time (chaos figures) and ends with every acknowledged
command exactly once in every read model (:func:`tests.support.chaos.verify`). The world is shared with the rest of
the chaos package (set up once); these drills run last in it (module order) because they replace its broker's data
and its database.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts import REGISTRIES
from shared.infra.system import SERVICES, create_database, drop_database
from shared.kafka import from_record
from shared.recovery import RecoveryRefusedError
from shared.recovery.backup import backup, restore
from shared.recovery.guard import Admission
from shared.recovery.reconcile import compare, reconcile
from shared.recovery.republish import republish
from tests.support.chaos import FIGURES, TOPICS, Ledger, PrivateWorld, Workload, verify, wait_quiet
from tests.support.chaos.common import specs
from tests.support.chaos.fixtures import new_workload, started_world
from tests.support.chaos.observe import _rows, header, live_digests, read_topic, table_digests

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


def _url(world: PrivateWorld, database: str) -> str:
    return world.infra.database_url.replace("/pmo?", f"/{database}?")


async def _tables(engine: AsyncEngine, schema: str) -> list[str]:
    sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = :s"
    return [r.name for r in await _rows(engine, sql, {"s": schema})]


async def _digests(url: str) -> dict[str, tuple[int, str]]:
    from shared.db import create_engine

    engine = create_engine(url, "public", pool_size=2)
    try:
        out: dict[str, tuple[int, str]] = {}
        for schema in SERVICES:
            for name, digest in (await table_digests(engine, schema, await _tables(engine, schema))).items():
                out[f"{schema}.{name}"] = digest
        return out
    finally:
        await engine.dispose()


async def _steady(workload: Workload, clients: dict[str, httpx.AsyncClient], ledger: Ledger, seconds: float) -> None:
    await workload.run(clients, rate=15, duration=seconds, concurrency=4, stop=asyncio.Event())
    await ledger.settle(clients, workload.learn)


WORK_QUEUES = ("reporting.dirty_projects",)
"""Tables a service fills and drains by itself with no command (the projects to evaluate again): not compared."""


# The drills lose Kafka's data and the database: they run in a world of their own, whose history is the system's
# alone (the message-fault scenarios write records straight into Kafka that no event table holds, so a republished
# log could not give them back, nor a fresh replay of it equal read models that applied them).
@pytest.fixture(scope="module")
async def world(infra: Any) -> AsyncIterator[PrivateWorld]:
    async with started_world(infra) as running:
        yield running


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="module")
async def workload(world: PrivateWorld, ledger: Ledger) -> Workload:
    return await new_workload(world, ledger)


async def test_backup_restored_into_an_empty_database_equals_the_original_table_by_table(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient], tmp_path: Path
) -> None:
    await _steady(workload, clients, ledger, 4)
    await wait_quiet(world)
    engine = await world.open()
    started = time.monotonic()
    manifest = await backup(engine, world.infra.database_url, list(SERVICES), tmp_path / "b")
    took_backup = time.monotonic() - started
    assert manifest.tables["projects.events"] > 0 and "projects.relay" in manifest.relay_checkpoints
    base = world.infra.database_url.replace("/pmo?", "/postgres?")
    await create_database(base, "pmo_restored")
    restored = _url(world, "pmo_restored")
    from shared.db import create_engine

    target = create_engine(restored, "public", pool_size=2)
    try:
        started = time.monotonic()
        await restore(target, restored, tmp_path / "b")
        took_restore = time.monotonic() - started
        with pytest.raises(RecoveryRefusedError, match="not empty"):
            await restore(target, restored, tmp_path / "b")  # a non-empty target: refused
    finally:
        await target.dispose()
    # The services wrote nothing since the backup (quiet, no commands): the copy equals the original, table by table.
    # Except the evaluator's work queue, which a quiet reporting service still fills and drains on its own.
    original, copy = await _digests(world.infra.database_url), await _digests(restored)
    for queue in WORK_QUEUES:
        original.pop(queue, None), copy.pop(queue, None)
    assert copy == original
    await drop_database(base, "pmo_restored")
    FIGURES.add(
        f"recovery drill backup/restore: {sum(manifest.tables.values())} rows in {len(manifest.tables)} tables backed "
        f"up in {took_backup:.1f}s, restored and checked in {took_restore:.1f}s; every table equal"
    )


# Pending for a day (2026-12-07): runs left one read model one to three records behind the recreated topics after the
# republication. Two causes, fixed: running consumers read on from their places in the old logs past the offsets the
# republish moved back (shared.consumer now checks a batch's start against the stored offset, and rechecks every 30 s);
# and the republish moved the offsets back after creating the topic, so a consumer assigned it in between kept its old
# place, at the end of a quiet partition for good (offsets of a gone topic now go back before it exists again).
async def test_kafka_data_lost_under_the_running_system_then_republished_a_reader_from_the_beginning_sees_every_event(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    await _steady(workload, clients, ledger, 4)
    await wait_quiet(world)
    kafka = world.infra.kafka
    await asyncio.to_thread(kafka.stop)
    shutil.rmtree(kafka.data_dir)
    await asyncio.to_thread(kafka.start)
    started = time.monotonic()
    engine = await world.open()
    from shared.db import create_engine

    republished: list[str] = []
    for service in SERVICES:
        own = create_engine(world.infra.database_url, service, pool_size=3)
        try:
            done = await republish(own, world.infra.kafka_options, service=service, topic=TOPICS[service],
                                   schema=service)  # fmt: skip
            republished.append(f"{service} {done.events}/{done.total} in {done.seconds:.1f}s")
        finally:
            await own.dispose()
    took = time.monotonic() - started
    await _steady(workload, clients, ledger, 3)  # the system goes on after the recovery
    await wait_quiet(world)
    for service, topic in TOPICS.items():
        records = await read_topic(world.infra.kafka_options, topic)
        seen: dict[str, int] = {}
        versions: dict[str, list[int]] = defaultdict(list)
        for r in records:
            ident = header(r, "ce_id")
            assert ident is not None and header(r, "ce_type") is not None, "a record that is not a CloudEvent"
            if ident in seen:
                continue
            seen[ident] = 1
            # read as a finance tool would: the CloudEvent decoded, its data checked against its published contract
            event = from_record(topic, r.partition, r.offset, r.key, r.value, r.headers)
            REGISTRIES[event.service].decode_json(event.name, event.version, event.raw)
            versions[str(header(r, "ce_subject"))].append(int(str(header(r, "ce_streamversion"))))
        in_table = {r.id for r in await _rows(engine, f"SELECT event_id::text AS id FROM {service}.events")}
        if lacking := in_table - set(seen):
            sql = f"SELECT event_id::text AS id, xid::text AS xid, position, recorded_at FROM {service}.events"
            where = [f"{r.id} xid {r.xid} pos {r.position} at {r.recorded_at}" for r in await _rows(engine, sql)
                     if r.id in lacking]  # fmt: skip
            raise AssertionError(f"{service}: {len(lacking)} events not on {topic} ({republished}): {where[:10]}")
        for stream, got in versions.items():
            assert got == sorted(got), f"{topic}: stream {stream} out of order: {got}"
    verdict = await verify(world, ledger)
    FIGURES.add(f"recovery drill Kafka lost: five topics republished in {took:.1f}s ({', '.join(republished)}); "
                f"{verdict.line()}")  # fmt: skip


async def test_database_restored_behind_kafka_is_reconciled_and_equals_a_system_that_never_failed(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient], tmp_path: Path
) -> None:
    await _steady(workload, clients, ledger, 3)
    await wait_quiet(world)
    engine = await world.open()
    await backup(engine, world.infra.database_url, list(SERVICES), tmp_path / "b")
    await _steady(workload, clients, ledger, 4)  # acknowledged after the backup: only Kafka keeps them
    await wait_quiet(world)
    never_failed = await live_digests(world)
    for service in SERVICES:
        await asyncio.to_thread(world.terminate, service)
    await world.close()
    base = world.infra.database_url.replace("/pmo?", "/postgres?")
    started = time.monotonic()
    await drop_database(base, "pmo")
    await create_database(base, "pmo")
    from shared.db import create_engine

    target = create_engine(world.infra.database_url, "public", pool_size=2)
    try:
        await restore(target, world.infra.database_url, tmp_path / "b")
    finally:
        await target.dispose()
    missing = 0
    for service in SERVICES:
        own = create_engine(world.infra.database_url, service, pool_size=3)
        try:
            found = await compare(own, world.infra.kafka_options, TOPICS[service])
            assert not found.conflicts
            missing += len(found.missing)
            admission = Admission(own, world.infra.kafka_options, service=service, topic=TOPICS[service])
            await admission.check()
            if found.missing:
                assert (await admission.readiness()) is not None
            await reconcile(own, world.infra.kafka_options, TOPICS[service], executor=_executor(own, service),
                            aggregates=_aggregates(service))  # fmt: skip
            assert not (await compare(own, world.infra.kafka_options, TOPICS[service])).missing
        finally:
            await own.dispose()
    assert missing > 0, "the drill lost nothing: the backup was not behind Kafka"
    for service in SERVICES:
        await asyncio.to_thread(world.restart, service)
    await wait_quiet(world)
    took = time.monotonic() - started
    assert await live_digests(world) == never_failed
    verdict = await verify(world, ledger)
    FIGURES.add(f"recovery drill database behind Kafka: {missing} events re-appended, recovered in {took:.1f}s; "
                f"{verdict.line()}")  # fmt: skip


def _executor(engine: object, service: str) -> object:
    from shared.commands import CommandExecutor
    from shared.eventstore import EventStore

    spec = specs()[service]
    return CommandExecutor(engine, EventStore(spec.registry), projector=spec.projector)  # type: ignore[arg-type]


def _aggregates(service: str) -> Any:
    import importlib

    return getattr(importlib.import_module(f"{service}.bootstrap"), "AGGREGATES", None)
