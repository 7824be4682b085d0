"""The event-store contract against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from shared.errors import ConcurrencyError
from shared.eventstore import FirstWriteError
from tests.support import META, STORE, WorkLogged, append, work

pytestmark = pytest.mark.integration


async def test_append_then_read_stream_returns_events_in_version_order(engine) -> None:
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 4))
    async with engine.connect() as conn:
        events = await STORE.read_stream(conn, f"work-{pid}")
    assert [e.version for e in events] == [1, 2, 3]
    assert [e.event.seq for e in events] == [1, 2, 3]  # type: ignore[union-attr]
    assert all(isinstance(e.event, WorkLogged) for e in events)
    assert events[0].data["amount"] == {"amount": "10.00", "currency": "EUR"}  # exact decimal, as a string
    assert events[0].metadata.actor == "tester"


async def test_append_at_a_stale_version_is_a_concurrency_error_and_appends_nothing(engine) -> None:
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 3))
    with pytest.raises(ConcurrencyError):
        await append(engine, pid, range(3, 4), expected=1)
    async with engine.connect() as conn:
        assert len(await STORE.read_stream(conn, f"work-{pid}")) == 2


async def test_concurrent_appends_at_the_same_version_exactly_one_wins(engine) -> None:
    pid = uuid.uuid4().hex
    await append(engine, pid, range(1, 2))
    contenders = 16

    async def contend(i: int) -> bool:
        try:
            await append(engine, pid, range(100 + i, 101 + i), expected=1)
            return True
        except ConcurrencyError:
            return False

    results = await asyncio.gather(*(contend(i) for i in range(contenders)))
    assert results.count(True) == 1
    async with engine.connect() as conn:
        events = await STORE.read_stream(conn, f"work-{pid}")
    assert [e.version for e in events] == [1, 2]


async def test_append_must_be_the_first_write_of_its_transaction(engine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("CREATE TEMP TABLE scratch (x int)"))
        await conn.execute(text("INSERT INTO scratch VALUES (1)"))
        with pytest.raises(FirstWriteError):
            await STORE.append(
                conn, stream_id="work-x", stream_type="work", expected_version=0, events=[work("x", 1)], metadata=META
            )
        await conn.rollback()


async def test_read_all_returns_every_stream_in_position_order(engine) -> None:
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    await append(engine, a, range(1, 3))
    await append(engine, b, range(1, 3))
    await append(engine, a, range(3, 4), expected=2)
    async with engine.connect() as conn:
        everything = await STORE.read_all(conn)
        after_two = await STORE.read_all(conn, after_position=everything[1].position)
    assert [(e.partition_key, e.event.seq) for e in everything] == [(a, 1), (a, 2), (b, 1), (b, 2), (a, 3)]  # type: ignore[union-attr]
    assert [e.position for e in after_two] == [e.position for e in everything[2:]]


async def test_an_append_belongs_to_the_callers_transaction_and_rolls_back_with_it(engine) -> None:
    """The store writes through the driver connection under SQLAlchemy's: it must not commit on its own."""
    pid = uuid.uuid4().hex

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with engine.begin() as conn:
            await STORE.append(
                conn,
                stream_id=f"work-{pid}",
                stream_type="work",
                expected_version=0,
                events=[work(pid, 1), work(pid, 2)],
                metadata=META,
            )
            assert (
                await conn.execute(text("SELECT count(*) FROM events WHERE partition_key = :p"), {"p": pid})
            ).scalar() == 2
            raise Abort()
    async with engine.connect() as conn:
        assert await STORE.read_stream(conn, f"work-{pid}") == []
    await append(engine, pid, range(1, 2))  # version 1 is free again
    async with engine.connect() as conn:
        assert [e.version for e in await STORE.read_stream(conn, f"work-{pid}")] == [1]


async def test_an_append_and_the_writes_after_it_commit_in_one_transaction(engine) -> None:
    pid = uuid.uuid4().hex
    async with engine.begin() as conn:
        recorded = await STORE.append(
            conn, stream_id=f"work-{pid}", stream_type="work", expected_version=0, events=[work(pid, 1)], metadata=META
        )
        xid_of_append = (
            await conn.execute(text("SELECT xid::text FROM events WHERE position = :p"), {"p": recorded[0].position})
        ).scalar()
        assert xid_of_append == (await conn.execute(text("SELECT pg_current_xact_id()::text"))).scalar()
