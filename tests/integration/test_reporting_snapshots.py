"""Books known at a moment from snapshots: the facts consumer keeps a project's books as they stood every few facts
(``project_book_snapshots``), and a report known at a moment starts from the latest snapshot whose facts were all
recorded by then. Whatever the batches and however late a fact arrives, the books read so equal the books of
exactly the facts recorded by that moment (``Books.of``), on the real PostgreSQL with the real consumer's code."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting import books_store, queries
from reporting.domain.books import Books
from reporting.domain.ledger import Fact
from reporting.projections import DDL, FactsProjection
from reporting.queries import load_books_known_at, load_books_of
from shared import consumer as consumer_module
from shared.db import create_engine, migrate
from shared.events import EventMetadata, RecordedEvent
from shared.kafka import ConsumedEvent, from_record, to_record
from tests.support.reporting import baseline, for_project, milestone, progress, registered, started, work

pytestmark = pytest.mark.integration

T0 = datetime(2027, 1, 1, 9, tzinfo=UTC)


@pytest.fixture
async def engine(infra: Any) -> AsyncIterator[AsyncEngine]:
    schema = f"t_snap_{uuid.uuid4().hex[:8]}"
    eng = create_engine(infra.database_url, schema, pool_size=2)
    await migrate(eng, schema, [*consumer_module.DDL, *DDL])
    try:
        yield eng
    finally:
        async with eng.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await eng.dispose()


def consumed(f: Fact, offset: int) -> ConsumedEvent:
    """``f`` as the facts consumer receives it from its service's topic."""
    recorded = RecordedEvent(
        event_id=f.event_id,
        stream_id=f"test-{f.event_id}",
        stream_type="test",
        version=1,
        position=0,
        name=f.name,
        schema_version=f.version,
        partition_key=f.data["project_id"],
        data=f.data,
        metadata=EventMetadata("tester", "snapshot-test"),
        recorded_at=f.recorded_at,
    )
    key, value, headers = to_record(f.service, recorded)
    return from_record(f"pmo.{f.service}.v1", 0, offset, key, value, headers)


def history(pid: uuid.UUID) -> list[Fact]:
    """A project's facts in the order they arrive: 30 work sheets a day apart, and two late corrections (recorded
    after later sheets, effective before them)."""
    start = date(2027, 1, 4)
    facts = [
        for_project(registered(), pid, T0),
        for_project(started(start), pid, T0 + timedelta(seconds=1)),
        for_project(baseline("100000.00"), pid, T0 + timedelta(seconds=2)),
        for_project(milestone(1, "60000.00", start + timedelta(days=40)), pid, T0 + timedelta(seconds=3)),
    ]
    for n in range(30):
        facts.append(for_project(work(f"{100 + n}.00", start + timedelta(days=n)), pid, T0 + timedelta(days=n + 1)))
    facts.append(for_project(work("-50.00", start + timedelta(days=2)), pid, T0 + timedelta(days=12, hours=3)))
    facts.append(for_project(work("75.00", start + timedelta(days=1)), pid, T0 + timedelta(days=25, hours=5)))
    return facts


async def test_books_known_at_any_moment_from_snapshots_equal_the_books_of_the_facts_recorded_by_then(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(books_store, "SNAPSHOT_EVERY", 4)
    pid, other = uuid.uuid4(), uuid.uuid4()
    facts = history(pid)
    # the late corrections arrive after the sheets recorded after them: the ledger is not in recorded order
    arriving = [f for f in facts if f.recorded_at.hour != 3 and f.recorded_at.hour != 5]
    arriving[20:20] = [f for f in facts if f.recorded_at.hour == 3]
    arriving.extend(f for f in facts if f.recorded_at.hour == 5)
    interleaved: list[Fact] = []
    for mine, theirs in zip(arriving, history(other) + [None] * len(arriving), strict=False):
        interleaved.extend(x for x in (mine, theirs) if x is not None)
    projection = FactsProjection()
    for i in range(0, len(interleaved), 3):  # batches of 3: snapshots land in the middle of the history
        async with engine.begin() as conn:
            await projection.apply_batch(conn, [consumed(f, i + n) for n, f in enumerate(interleaved[i : i + 3])])

    async with engine.connect() as conn:
        kept = (
            await conn.execute(text("SELECT count(*) FROM project_book_snapshots WHERE project_id = :p"), {"p": pid})
        ).scalar_one()
    assert kept >= 5  # every 4 facts, at the end of the batch that passed the multiple

    ledger_order = sorted(facts, key=lambda f: (f.recorded_at, arriving.index(f)))
    moments = sorted({f.recorded_at for f in facts} | {f.recorded_at + timedelta(minutes=1) for f in facts})
    days = [date(2027, 1, 3), date(2027, 1, 6), date(2027, 1, 20), date(2027, 2, 10)]
    for moment in [T0 - timedelta(seconds=1), *moments]:
        known = await load_books_known_at(engine, pid, moment)
        expected = [f for f in ledger_order if f.recorded_at <= moment]
        if not expected:
            assert known is None
            continue
        assert known is not None and known.count == len(expected), moment
        reference = Books.of(pid, expected)
        for day in days:
            assert known.at(day) == reference.at(day), (moment, day)


async def test_a_late_correction_leaves_the_snapshot_path_known_before_it_untouched(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(books_store, "SNAPSHOT_EVERY", 4)
    pid = uuid.uuid4()
    facts = [f for f in history(pid) if f.recorded_at.hour != 5]
    projection = FactsProjection()
    async with engine.begin() as conn:
        await projection.apply_batch(conn, [consumed(f, n) for n, f in enumerate(facts)])
    seen_then = T0 + timedelta(days=31)
    before = await load_books_known_at(engine, pid, seen_then)
    late = for_project(work("999.00", date(2027, 1, 5)), pid, T0 + timedelta(days=40))
    async with engine.begin() as conn:
        await projection.apply_batch(conn, [consumed(late, len(facts))])
    after = await load_books_known_at(engine, pid, seen_then)
    now = await load_books_known_at(engine, pid, T0 + timedelta(days=41))
    assert before is not None and after is not None and now is not None
    assert after.at(date(2027, 1, 10)) == before.at(date(2027, 1, 10))
    ac_then = sum(before.at(date(2027, 1, 10)).work_cost.values())
    assert sum(now.at(date(2027, 1, 10)).work_cost.values()) == ac_then + 999


async def test_a_project_page_read_again_reuses_its_remembered_books_until_a_fact_moves_them(
    engine: AsyncEngine,
) -> None:
    pid = uuid.uuid4()
    facts = history(pid)[:10]
    projection = FactsProjection()
    async with engine.begin() as conn:
        await projection.apply_batch(conn, [consumed(f, n) for n, f in enumerate(facts)])
    first = (await load_books_of(engine, [pid]))[pid]
    assert (await load_books_of(engine, [pid]))[pid] is first  # same version: not fetched and decoded again
    more = for_project(work("10.00", date(2027, 1, 20)), pid, T0 + timedelta(days=40))
    async with engine.begin() as conn:
        await projection.apply_batch(conn, [consumed(more, len(facts))])
    moved = (await load_books_of(engine, [pid]))[pid]
    assert moved is not first and moved.count == first.count + 1
    assert (await load_books_of(engine, [pid, uuid.uuid4()])).keys() == {pid}  # an unknown project: absent


@pytest.mark.parametrize("last", [False, True], ids=["in-recording-order", "an-early-fact-consumed-last"])
async def test_after_a_skewed_catch_up_a_read_keeps_snapshots_by_recording_time_that_bound_the_next_reads(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, last: bool
) -> None:
    """The projects topic read to its end before the resources topic (as a bulk catch-up does): every snapshot the
    consumer keeps holds progress reported late, so none serves a moment in the middle; the first read known at such
    a moment keeps snapshots of what it built, by recording time, and reads at earlier moments then start from them.
    ``last``: one of the first facts recorded is consumed last (its topic read last), so it has the ledger's highest
    position, and every snapshot the read keeps after applying it has that position too (the snapshots are keyed by
    position and recording time: keyed by position alone, none was kept)."""
    monkeypatch.setattr(books_store, "SNAPSHOT_EVERY", 4)
    pid = uuid.uuid4()
    start = date(2027, 1, 4)
    head = history(pid)[:4]
    progress_facts = [
        for_project(progress(1, str(2 * n), start + timedelta(days=n)), pid, T0 + timedelta(days=n + 1, hours=1))
        for n in range(30)
    ]
    sheets = [f for f in history(pid)[4:] if f.recorded_at.hour == 9]
    arriving = [*head[:3], *progress_facts, *sheets, head[3]] if last else [*head, *progress_facts, *sheets]
    projection = FactsProjection()
    for i in range(0, len(arriving), 40):  # the first batch holds every progress report
        async with engine.begin() as conn:
            await projection.apply_batch(conn, [consumed(f, i + n) for n, f in enumerate(arriving[i : i + 40])])
    ledger_order = sorted(arriving, key=lambda f: f.recorded_at)

    async def largest_snapshot_by(moment: datetime) -> int:
        async with engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT coalesce(max(facts), 0) FROM project_book_snapshots WHERE project_id = :p "
                    "AND latest_recorded <= :t"
                ),
                {"p": pid, "t": moment},
            )
            return int(found.scalar_one())

    async def equal_to_the_fold(moment: datetime) -> None:
        known = await load_books_known_at(engine, pid, moment)
        expected = [f for f in ledger_order if f.recorded_at <= moment]
        assert known is not None and known.count == len(expected), moment
        reference = Books.of(pid, expected)
        for day in (date(2027, 1, 10), date(2027, 1, 20), date(2027, 2, 10)):
            assert known.at(day) == reference.at(day), (moment, day)

    def known_by(moment: datetime) -> int:
        return sum(1 for f in arriving if f.recorded_at <= moment)

    middle, early = T0 + timedelta(days=15, hours=12), T0 + timedelta(days=8, hours=12)
    late = T0 + timedelta(days=29, hours=2)
    assert await largest_snapshot_by(middle) == 0  # the consumer's: all hold the last progress report
    assert await largest_snapshot_by(late) == 0
    await equal_to_the_fold(middle)
    assert await largest_snapshot_by(middle) >= known_by(middle) - 8  # the read's own, by recording time
    assert await largest_snapshot_by(early) >= known_by(early) - 8
    # the read found a hole (more than two intervals applied): it filled the chain on past its moment
    assert await largest_snapshot_by(late) >= known_by(late) - 8
    for moment in (early, T0 + timedelta(days=3), middle, late, T0 + timedelta(days=40)):
        await equal_to_the_fold(moment)


async def test_a_hole_filled_in_parts_gives_the_books_of_the_facts_recorded_by_each_moment(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filling stops after :data:`reporting.queries.FILL_LIMIT` facts, possibly among facts recorded at the same
    moment (a command's events): no snapshot claims a moment whose facts it does not all hold, and reads at every
    moment, in any order, still give the books of exactly the facts recorded by then."""
    monkeypatch.setattr(books_store, "SNAPSHOT_EVERY", 3)
    monkeypatch.setattr(queries, "FILL_LIMIT", 7)
    pid = uuid.uuid4()
    start = date(2027, 1, 4)
    facts = history(pid)[:4]
    for n in range(24):  # two sheets recorded at the same moment each day
        at = T0 + timedelta(days=n + 1)
        facts.append(for_project(work(f"{10 + n}.00", start + timedelta(days=n)), pid, at))
        facts.append(for_project(work(f"{50 + n}.00", start + timedelta(days=n)), pid, at))
    projection = FactsProjection()
    async with engine.begin() as conn:  # one batch: the consumer's only snapshot is at the end
        await projection.apply_batch(conn, [consumed(f, n) for n, f in enumerate(facts)])
    ledger_order = sorted(facts, key=lambda f: (f.recorded_at, facts.index(f)))
    for moment in [T0 + timedelta(days=n, hours=12) for n in (3, 1, 14, 6, 20, 9, 25, 2)]:
        known = await load_books_known_at(engine, pid, moment)
        expected = [f for f in ledger_order if f.recorded_at <= moment]
        assert known is not None and known.count == len(expected), moment
        assert known.at(date(2027, 3, 1)) == Books.of(pid, expected).at(date(2027, 3, 1)), moment
    async with engine.connect() as conn:
        snapshots = (
            await conn.execute(
                text("SELECT latest_recorded, facts FROM project_book_snapshots WHERE project_id = :p"), {"p": pid}
            )
        ).all()
    assert len(snapshots) > 5  # the reads filled the chain
    for latest, count in snapshots:  # each holds every fact recorded by its moment, or is the consumer's last
        assert count == len(facts) or count == sum(1 for f in facts if f.recorded_at <= latest), (latest, count)


async def test_books_kept_between_batches_never_outlive_a_rolled_back_batch_or_another_writer(
    engine: AsyncEngine, infra: Any
) -> None:
    """The facts consumer keeps the books it wrote decoded between batches (``books_store``), each under its row's
    stamp: a batch that fails after applying its facts to them leaves nothing behind, and books another replica (an
    engine of its own) wrote meanwhile are read again; the stored books stay those of every committed fact."""
    pid = uuid.uuid4()
    facts = history(pid)
    projection = FactsProjection()

    async def batch(eng: AsyncEngine, part: list[Fact], offset: int) -> None:
        async with eng.begin() as conn:
            await projection.apply_batch(conn, [consumed(f, offset + n) for n, f in enumerate(part)])

    async def stored() -> Books:
        async with engine.connect() as conn:
            raw = (
                await conn.execute(text("SELECT books::text FROM project_books WHERE project_id = :p"), {"p": pid})
            ).scalar_one()
        return Books.from_json(raw)

    await batch(engine, facts[:10], 0)
    kept = books_store._kept_books_of(engine)
    assert pid in kept and kept[pid].books.count == 10  # kept decoded for the next batch
    with pytest.raises(RuntimeError, match="after the books"):
        async with engine.begin() as conn:
            await projection.apply_batch(conn, [consumed(f, 10 + n) for n, f in enumerate(facts[10:15])])
            raise RuntimeError("the batch failed after the books were applied")
    assert kept[pid].books.count == 15 and (await stored()).count == 10  # under the failed transaction's stamp
    await batch(engine, facts[10:20], 10)
    assert (await stored()).count == 20 and kept[pid].books.count == 20
    schema = await _schema_of(engine)
    other = create_engine(infra.database_url, schema, pool_size=1)  # another replica: books kept of its own
    try:
        await batch(other, facts[20:26], 20)
    finally:
        await other.dispose()
    await batch(engine, facts[26:], 26)  # the kept books are stale: read again from their row
    reference = Books.of(pid, facts)
    books = await stored()
    assert books.count == len(facts) and kept[pid].books.count == len(facts)
    for day in (date(2027, 1, 10), date(2027, 2, 10)):
        assert books.at(day) == reference.at(day) == kept[pid].books.at(day)


async def _schema_of(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(text("SELECT current_schema()"))).scalar_one())


async def test_two_consumers_taking_a_new_projects_first_facts_at_once_keep_both_in_its_books(
    engine: AsyncEngine,
) -> None:
    """Two replicas of reporting, each assigned a partition of another topic, receive a project's first facts at
    the same moment: the second waits for the first's books (a placeholder row held from the first's lock) instead
    of starting from empty books and overwriting them."""
    pid = uuid.uuid4()
    registration = for_project(registered(), pid, T0)
    sheet = for_project(work("120.00", date(2027, 1, 4)), pid, T0 + timedelta(seconds=1))
    projection = FactsProjection()
    async with engine.connect() as first, engine.connect() as second:
        one = await first.begin()
        await projection.apply_batch(first, [consumed(registration, 0)])

        async def other_replica() -> None:
            async with second.begin():
                await projection.apply_batch(second, [consumed(sheet, 0)])

        waiting = asyncio.create_task(other_replica())
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the second writer did not wait for the first's lock on the project's books"
        await one.commit()
        await asyncio.wait_for(waiting, 10)
    async with engine.connect() as conn:
        stored = await conn.scalar(text("SELECT books::text FROM project_books WHERE project_id = :p"), {"p": pid})
        facts = await conn.scalar(text("SELECT facts FROM project_books WHERE project_id = :p"), {"p": pid})
    assert facts == 2
    assert Books.from_json(stored) == Books.of(pid, [registration, sheet])
