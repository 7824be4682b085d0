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


async def _append_alone(engine, pid: str, seqs: range, expected: int = 0) -> list:
    return await STORE.append_alone(
        engine,
        stream_id=f"work-{pid}",
        stream_type="work",
        expected_version=expected,
        events=[work(pid, s) for s in seqs],
        metadata=META,
    )


async def test_append_alone_commits_its_events_in_one_transaction_of_their_own(engine) -> None:
    pid = uuid.uuid4().hex
    recorded = await _append_alone(engine, pid, range(1, 4))
    assert [e.version for e in recorded] == [1, 2, 3]
    async with engine.connect() as conn:  # another connection sees them: committed
        events = await STORE.read_stream(conn, f"work-{pid}")
        xids = (await conn.execute(text("SELECT DISTINCT xid FROM events WHERE partition_key = :p"), {"p": pid})).all()
    assert [(e.version, e.position, e.event.seq) for e in events] == [  # type: ignore[union-attr]
        (r.version, r.position, s) for r, s in zip(recorded, range(1, 4), strict=True)
    ]
    assert len(xids) == 1  # all three in one transaction


async def test_append_alone_at_a_stale_version_is_a_concurrency_error_and_appends_none_of_its_events(engine) -> None:
    pid = uuid.uuid4().hex
    await _append_alone(engine, pid, range(1, 3))
    with pytest.raises(ConcurrencyError):
        # versions 2, 3, 4: the first collides, so neither 3 nor 4 may be written
        await _append_alone(engine, pid, range(10, 13), expected=1)
    async with engine.connect() as conn:
        assert [e.event.seq for e in await STORE.read_stream(conn, f"work-{pid}")] == [1, 2]  # type: ignore[union-attr]
    assert [e.version for e in await _append_alone(engine, pid, range(3, 4), expected=2)] == [3]


async def test_concurrent_append_alone_calls_at_the_same_version_exactly_one_wins(engine) -> None:
    pid = uuid.uuid4().hex
    await _append_alone(engine, pid, range(1, 2))

    async def contend(i: int) -> bool:
        try:
            await _append_alone(engine, pid, range(100 + i, 102 + i), expected=1)
            return True
        except ConcurrencyError:
            return False

    results = await asyncio.gather(*(contend(i) for i in range(16)))
    assert results.count(True) == 1
    async with engine.connect() as conn:
        assert [e.version for e in await STORE.read_stream(conn, f"work-{pid}")] == [1, 2, 3]
