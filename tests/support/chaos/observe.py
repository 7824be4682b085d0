"""Reading the system from outside: topics, relay backlog and consumer lag, digests and a fresh replay."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.kafka import KafkaOptions
from tests.support.chaos.common import BOOKKEEPING_COLUMNS, TOPICS, Consumer, consumers, read_models, specs
from tests.support.chaos.world import PrivateWorld

# --- Kafka ---------------------------------------------------------------------------------------------------


async def end_offsets(kafka: KafkaOptions, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The next offset of every partition of ``topics`` (what a consumer that is caught up has stored)."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if len({tp.topic for tp in partitions}) < len(set(topics)):
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
        ends = await consumer.end_offsets(partitions)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def read_topic(kafka: KafkaOptions, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its current end."""
    ends = await end_offsets(kafka, [topic])
    partitions = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **kafka.client_kwargs())
    await consumer.start()
    records: list[Any] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        positions = {tp: 0 for tp in partitions}
        deadline = time.monotonic() + 60
        while any(positions[tp] < ends[(tp.topic, tp.partition)] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            for tp, batch in (await consumer.getmany(timeout_ms=500, max_records=5000)).items():
                records.extend(batch)
                if batch:
                    positions[tp] = batch[-1].offset + 1
        return records
    finally:
        await consumer.stop()


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


# --- waiting for the system to be quiet ----------------------------------------------------------------------


async def relay_backlog(engine: AsyncEngine, schema: str) -> int:
    """Events of ``schema`` the relay has not checkpointed as published."""
    row = await _scalar(
        engine,
        f"SELECT count(*) FROM {schema}.events e WHERE NOT EXISTS (SELECT 1 FROM {schema}.relay_checkpoint c "
        "WHERE c.name = 'relay' AND (e.xid, e.position) <= (c.xid, c.position))",
    )
    return int(row)


async def _positions(engine: AsyncEngine, kafka: KafkaOptions) -> dict[str, dict[tuple[str, int], tuple[int, int]]]:
    """For each consumer, each partition of its topics as ``(stored offset, end offset)`` (stored 0 when none)."""
    running = consumers()
    ends = await end_offsets(kafka, sorted({t for c in running.values() for t in c.topics}))
    out: dict[str, dict[tuple[str, int], tuple[int, int]]] = {}
    for c in running.values():
        stored = {
            (r.topic, r.partition): int(r.next_offset)
            for r in await _rows(
                engine,
                f"SELECT topic, partition, next_offset FROM {c.service}.consumer_offsets WHERE consumer = :c",
                {"c": c.name},
            )
        }
        out[c.name] = {tp: (stored.get(tp, 0), end) for tp, end in ends.items() if tp[0] in c.topics}
    return out


async def consumer_lag(engine: AsyncEngine, kafka: KafkaOptions) -> dict[str, int]:
    """Records each consumer has not consumed yet (from the offsets stored with its read model)."""
    positions = await _positions(engine, kafka)
    return {name: sum(max(0, end - at) for at, end in parts.values()) for name, parts in positions.items()}


async def _partitions_behind(engine: AsyncEngine, kafka: KafkaOptions) -> dict[str, list[str]]:
    """For each consumer behind: its partitions behind, as ``topic[partition] stored/end``."""
    try:
        positions = await _positions(engine, kafka)
    except Exception as exc:  # only for the failure's message
        return {"unknown": [repr(exc)]}
    out = {
        name: [f"{t}[{p}] {at}/{end}" for (t, p), (at, end) in sorted(parts.items()) if at < end]
        for name, parts in positions.items()
    }
    return {name: late for name, late in out.items() if late}


async def wait_quiet(world: PrivateWorld, timeout: float = 120.0) -> float:
    """Wait until every relay has published every event and every consumer consumed every record; returns the
    seconds it took."""
    engine = await world.open()
    started = time.monotonic()
    last: Any = None
    while True:
        try:
            backlog = {s: await relay_backlog(engine, s) for s in TOPICS}
            lag = await consumer_lag(engine, world.infra.kafka_options) if not any(backlog.values()) else {}
            last = (backlog, lag)
            if not any(backlog.values()) and not any(lag.values()):
                return time.monotonic() - started
        except Exception as exc:  # the infrastructure may still be coming back
            last = repr(exc)
        if time.monotonic() - started > timeout:
            tails = "\n".join(f"--- {s} log ---\n{world.log_tail(s)}" for s in TOPICS)
            behind = await _partitions_behind(engine, world.infra.kafka_options)
            failures = [
                f"{s}: {line[:1500]}"
                for s in TOPICS
                for line in world.log_tail(s, 20000).splitlines()
                if "failed; restarting" in line
            ]
            raise AssertionError(
                f"not quiet after {timeout}s: {last}\nbehind: {behind}\nconsumers restarted: {failures[-8:]}\n{tails}"
            )
        await asyncio.sleep(0.25)


async def _scalar(engine: AsyncEngine, sql: str, params: dict[str, Any] | None = None) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params or {})).scalar()


async def _rows(engine: AsyncEngine, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params or {})).all())


# --- digests and a fresh replay ------------------------------------------------------------------------------


async def table_rows(engine: AsyncEngine, schema: str, table: str) -> list[str]:
    """A table's rows as JSON, sorted, without the columns that do not come from events (identity columns, columns
    defaulting to the clock, :data:`BOOKKEEPING_COLUMNS`)."""
    generated = await _rows(
        engine,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t AND "
        "(is_identity = 'YES' OR column_default ILIKE '%now()%' OR column_default ILIKE '%clock_timestamp%' "
        "OR column_default ILIKE '%nextval%')",
        {"s": schema, "t": table},
    )
    drop = {*BOOKKEEPING_COLUMNS, *(r.column_name for r in generated)}
    minus = "".join(f" - '{c}'" for c in sorted(drop))
    return sorted(r[0] for r in await _rows(engine, f"SELECT (to_jsonb(t){minus})::text FROM {schema}.{table} t"))


async def table_digests(engine: AsyncEngine, schema: str, tables: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Row count and sha256 of each table's rows (:func:`table_rows`)."""
    out: dict[str, tuple[int, str]] = {}
    for table in tables:
        rows = await table_rows(engine, schema, table)
        out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


async def inbox_digest(engine: AsyncEngine, schemas: Iterable[str], names: Iterable[str]) -> tuple[int, str]:
    rows: list[str] = []
    for schema in schemas:
        rows += [
            f"{r.consumer}|{r.event_id}|{r.dead_lettered}"
            for r in await _rows(
                engine,
                f"SELECT consumer, event_id, dead_lettered FROM {schema}.inbox WHERE consumer = ANY(:n)",
                {"n": list(names)},
            )
        ]
    rows.sort()
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


async def live_digests(world: PrivateWorld) -> dict[str, tuple[int, str]]:
    """Digests of every read model fed from Kafka, and of the consumers' inboxes, as the services hold them."""
    engine = await world.open()
    out: dict[str, tuple[int, str]] = {}
    for c in read_models().values():
        for table, digest in (await table_digests(engine, c.service, c.tables)).items():
            out[f"{c.service}.{table}"] = digest
        out[f"inbox {c.name}"] = await inbox_digest(engine, [c.service], [c.name])
    return out


def rows_differing(live: list[str], replayed: list[str], shown: int = 2, width: int = 3000) -> str:
    """What differs between two tables' rows: counts, and a few rows of each side (cut to ``width`` characters)."""
    only_live, only_replayed = sorted(set(live) - set(replayed)), sorted(set(replayed) - set(live))
    lines = [f"{len(only_live)} rows only live, {len(only_replayed)} only in the replay"]
    first = {_first_value(row): row for row in only_replayed}
    for row in only_live[:shown]:  # a row of the same key on both sides: where inside it they differ
        other = first.get(_first_value(row))
        if other is not None:
            lines.append(f"  differs at: {', '.join(_paths_differing(json.loads(row), json.loads(other))[:20])}")
    lines += [f"  live:     {row[:width]}" for row in only_live[:shown]]
    lines += [f"  replayed: {row[:width]}" for row in only_replayed[:shown]]
    return "\n".join(lines)


def _first_value(row: str) -> str:
    """A JSON row's identifying value: its first key ending in ``_id`` (else the whole row)."""
    data = json.loads(row)
    return next((str(v) for k, v in sorted(data.items()) if k.endswith("_id")), row)


def _paths_differing(a: Any, b: Any, path: str = "", depth: int = 4) -> list[str]:
    """Where two JSON values differ, as paths (down to ``depth`` levels)."""
    if a == b:
        return []
    if depth and isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted({*a, *b}) for p in _paths_differing(a.get(k), b.get(k), f"{path}.{k}", depth - 1)]
    if depth and isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            p
            for n, (x, y) in enumerate(zip(a, b, strict=True))
            for p in _paths_differing(x, y, f"{path}[{n}]", depth - 1)
        ]
    return [path or "."]


async def _books_evidence(world: PrivateWorld, live: list[str], replayed: list[str], shown: int = 2) -> str:
    """For projects whose books differ from the replay's: each record of theirs on the fact topics (offset order) and
    the live ledger's facts (position order), so that a failure shows in which order each side took them."""
    projects = sorted({_first_value(row) for row in set(live) ^ set(replayed)})[:shown]
    lines: list[str] = []
    engine = await world.open()
    for project in projects:
        lines.append(f"project {project}:")
        for topic in sorted(set(TOPICS.values()) - {TOPICS.get("reporting", "")}):
            for r in await read_topic(world.infra.kafka_options, topic):
                if r.key is not None and bytes(r.key).decode(errors="replace") == project:
                    lines.append(
                        f"  {topic}[{r.partition}]@{r.offset} {header(r, 'ce_type')} {header(r, 'ce_id')} "
                        f"v{header(r, 'ce_streamversion')} t={r.timestamp}"
                    )
        for f in await _rows(
            engine,
            "SELECT position, event_id, service, name, recorded_at FROM reporting.facts WHERE project_id = :p "
            "ORDER BY position",
            {"p": project},
        ):
            lines.append(f"  fact #{f.position} {f.service} {f.name} {f.event_id} {f.recorded_at.isoformat()}")
    consumer_lines = [line for line in world.log_tail("reporting", 5000).splitlines() if "reporting.facts" in line]
    return "\n".join([*lines, "reporting's log on its facts consumer:", *consumer_lines[-30:]])


async def replay_digests(
    world: PrivateWorld, timeout: float = 120.0, live: dict[str, tuple[int, str]] | None = None
) -> dict[str, tuple[int, str]]:
    """Replay every topic from the beginning into fresh schemas (one per service) with the services' own
    projections and DDL, and digest the result the way :func:`live_digests` digests the live read models. Given the
    ``live`` digests, a table whose digest differs is compared row by row before the replay's schemas go, and the
    rows that differ are raised (AssertionError), so a failure says what differs."""
    from shared import consumer as consumer_module
    from shared.consumer import ProjectionConsumer
    from shared.db import migrate

    # Each replay member is alone in its group and fails over to nobody: a session long enough for the test process's
    # event loop, busy folding batches for every read model at once on a loaded machine, to miss a few heartbeats
    # (with the services' 6 s, a CI run saw a member dropped from its group every half minute, 5 records short).
    options = world.infra.kafka_options
    kafka = dataclasses.replace(
        options, consumer=dataclasses.replace(options.consumer, session_timeout_ms=20_000, heartbeat_interval_ms=3_000)
    )
    running = read_models()
    by_service: dict[str, list[Consumer]] = {}
    for c in running.values():
        by_service.setdefault(c.service, []).append(c)
    all_specs = specs()
    run = uuid.uuid4().hex[:8]
    engines = {
        service: create_engine(world.infra.database_url, f"replay_{service}_{run}", pool_size=4)
        for service in by_service
    }
    try:
        for service, engine in engines.items():
            await migrate(engine, f"replay_{service}_{run}", [*consumer_module.DDL, *all_specs[service].ddl])
        ends = await end_offsets(kafka, sorted({t for c in running.values() for t in c.topics}))
        stop = asyncio.Event()
        appliers = [
            ProjectionConsumer(engines[c.service], kafka, c.projection, group_id=f"replay-{run}.{c.name}")
            for c in running.values()
        ]
        tasks = [asyncio.create_task(a.run(stop)) for a in appliers]
        try:
            deadline = time.monotonic() + timeout
            while True:
                behind = 0
                for a in appliers:
                    stored = await a.stored_offsets()
                    topics = a.projection.topics
                    behind += sum(max(0, end - stored.get(tp, 0)) for tp, end in ends.items() if tp[0] in topics)
                if behind == 0:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"the replay is {behind} records behind after {timeout}s")
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        out: dict[str, tuple[int, str]] = {}
        for c in running.values():
            schema = f"replay_{c.service}_{run}"
            for table, digest in (await table_digests(engines[c.service], schema, c.tables)).items():
                out[f"{c.service}.{table}"] = digest
            out[f"inbox {c.name}"] = await inbox_digest(engines[c.service], [schema], [c.name])
        if live is not None and live != out:
            details: list[str] = []
            for c in running.values():
                for table in c.tables:
                    name = f"{c.service}.{table}"
                    if live.get(name) != out.get(name):
                        theirs = await table_rows(await world.open(), c.service, table)
                        ours = await table_rows(engines[c.service], f"replay_{c.service}_{run}", table)
                        details.append(f"{name}: {rows_differing(theirs, ours)}")
                        if table == "project_books":
                            details.append(await _books_evidence(world, theirs, ours))
            raise AssertionError(
                f"the read models differ from a fresh replay:\nlive     {live}\nreplayed {out}\n" + "\n".join(details)
            )
        return out
    finally:
        for service, engine in engines.items():
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "replay_{service}_{run}" CASCADE'))
            await engine.dispose()
