"""The projects' books as the facts consumer keeps them (``project_books``, ``project_book_snapshots``): locked and read
before a batch's facts are written, the facts applied, written back in one statement, a snapshot every
:data:`SNAPSHOT_EVERY` facts; and rebuilt from the ledger through the same code. Books this process wrote are kept
decoded between batches (:data:`BOOKS_KEPT`), checked against their row's stamp before each use."""

from __future__ import annotations

import uuid
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reporting.domain.books import Books
from reporting.domain.ledger import Fact
from shared.collector import gc_paused
from shared.events import DomainEvent

BOOKS_KEPT = 4096
"""How many projects' books the facts consumer keeps decoded in its process between batches (least recently written
dropped first): a batch then neither fetches nor decodes the JSON of books it wrote itself (a two-year project's,
about 1,000 facts, is about 90 KB: decoding it for every batch was about a tenth of the catch-up's CPU). Sized above
the projects of an enterprise portfolio (1,000): a catch-up takes every project's facts in every round of its
topics, and a cache smaller than the projects it cycles through would never hit. Such a project's books take about
0.3 MB decoded (measured with tracemalloc: about 1.2 GB at the bound, reached only with that many projects written
by one process; the benchmark's catch-up of 252 projects peaked at 282 MiB for the whole process)."""


@dataclass
class _Kept:
    """Books as committed by a transaction of this process: ``stamp`` is their row's ``xmin`` (the id of the
    transaction that wrote it, unique in the cluster) and facts count, so books written since by anyone else, or
    by a transaction of ours that rolled back, do not match and are read again."""

    stamp: str
    books: Books


_kept: weakref.WeakKeyDictionary[Any, OrderedDict[uuid.UUID, _Kept]] = weakref.WeakKeyDictionary()
"""Per database engine (a process may hold several: tests, a rebuild's scratch schema), the books kept by project."""


def _kept_books(conn: AsyncConnection) -> OrderedDict[uuid.UUID, _Kept]:
    return _kept_books_of(conn.engine)


def _kept_books_of(engine: AsyncEngine) -> OrderedDict[uuid.UUID, _Kept]:
    """The books kept for ``engine``'s database (by the engine's sync core: one per engine)."""
    kept = _kept.get(engine.sync_engine)
    if kept is None:
        kept = _kept[engine.sync_engine] = OrderedDict()
    return kept


async def lock_books(conn: AsyncConnection, project_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Books]:
    """The books of ``project_ids`` that have some, their rows locked until the transaction ends: taken before the
    facts are written, so a project's facts get their positions in the order its books take them. Books this
    process wrote and that nobody changed since (their row's stamp) come from memory, the others from their JSON.
    The kept books are taken out of memory here: they go back only with the stamp of the row that holds them once
    written (:func:`store_books`), so books changed by a batch that then failed are never used again."""
    ids = sorted(set(project_ids))
    found = await _lock_rows(conn, ids)
    missing = [p for p in ids if p not in found]
    if missing:
        # No row to lock yet: a placeholder row (empty books, no facts) is inserted, so held until this transaction
        # ends. Without it two consumers taking a project's first facts from two topics (two replicas, each assigned one
        # of the topics' partitions) would each start from empty books and the later write would drop the earlier
        # one's facts. A placeholder another transaction inserted first is waited for, then locked as it committed.
        inserted = await conn.execute(
            text(
                "INSERT INTO project_books (project_id, books, facts, updated_at) "
                "SELECT p, b::jsonb, 0, now() FROM unnest(CAST(:p AS uuid[]), CAST(:b AS text[])) AS u(p, b) "
                "ORDER BY p ON CONFLICT (project_id) DO NOTHING RETURNING project_id"
            ),
            {"p": missing, "b": [Books(p).to_json() for p in missing]},
        )
        mine = {r.project_id for r in inserted}
        found.update(await _lock_rows(conn, [p for p in missing if p not in mine]))
    return found


async def _lock_rows(conn: AsyncConnection, ids: list[uuid.UUID]) -> dict[uuid.UUID, Books]:
    """The books of the rows of ``ids`` that exist, locked (in ``ids``' order); a placeholder's are not listed."""
    if not ids:
        return {}
    kept = _kept_books(conn)
    known = [kept[p].stamp if p in kept else "" for p in ids]
    rows = await conn.execute(
        text(
            "SELECT b.project_id, b.xmin::text || '/' || b.facts AS stamp, b.facts, "
            "CASE WHEN b.xmin::text || '/' || b.facts = k.s THEN NULL ELSE b.books::text END AS books "
            "FROM project_books AS b JOIN unnest(CAST(:p AS uuid[]), CAST(:s AS text[])) AS k(p, s) "
            "ON b.project_id = k.p ORDER BY b.project_id FOR UPDATE OF b"
        ),
        {"p": ids, "s": known},
    )
    found: dict[uuid.UUID, Books] = {}
    for r in rows:
        if r.facts == 0:  # a placeholder (its transaction wrote no facts after all): no books yet
            kept.pop(r.project_id, None)
            continue
        mine = kept.pop(r.project_id, None)
        if r.books is None and mine is not None and mine.stamp == r.stamp:
            found[r.project_id] = mine.books
        else:
            found[r.project_id] = Books.from_json(r.books if r.books is not None else await _books_json(conn, r))
    return found


async def _books_json(conn: AsyncConnection, row: Any) -> str:
    """The JSON of books whose stamp matched ones this process no longer holds (dropped meanwhile)."""
    value = await conn.scalar(
        text("SELECT books::text FROM project_books WHERE project_id = :p"), {"p": row.project_id}
    )
    return str(value)


async def store_books(
    conn: AsyncConnection,
    stored: dict[uuid.UUID, Books],
    new_facts: Sequence[tuple[uuid.UUID, Fact, DomainEvent | None]],
) -> None:
    """Apply facts new to the ledger (in the ledger's order for each project) to their projects' books (``stored``:
    :func:`lock_books`, changed in place) and store them, one statement for all the projects, keeping them in
    memory under their new rows' stamps; then a snapshot of the books of each project that passed a multiple of
    :data:`SNAPSHOT_EVERY` facts (:func:`store_snapshots`). The facts must already be in the ledger."""
    changed: dict[uuid.UUID, Books] = {}
    before: dict[uuid.UUID, int] = {}
    with gc_paused():
        for project_id, fact, decoded in new_facts:
            books = changed.get(project_id)
            if books is None:
                books = changed[project_id] = stored.get(project_id) or Books(project_id)
                before[project_id] = books.count
            books.apply(fact, decoded)
        if not changed:
            return
        ids = sorted(changed)
        encoded = {p: changed[p].to_json() for p in ids}
    rows = await conn.execute(
        text(
            "INSERT INTO project_books AS pb (project_id, books, facts, updated_at) "
            "SELECT p, b::jsonb, n, now() FROM unnest(CAST(:p AS uuid[]), CAST(:b AS text[]), CAST(:n AS integer[])) "
            "AS u(p, b, n) ON CONFLICT (project_id) DO UPDATE SET books = excluded.books, facts = excluded.facts, "
            "updated_at = excluded.updated_at RETURNING pb.project_id, pb.xmin::text || '/' || pb.facts AS stamp"
        ),
        {"p": ids, "b": [encoded[p] for p in ids], "n": [changed[p].count for p in ids]},
    )
    kept = _kept_books(conn)
    for r in rows:
        kept[r.project_id] = _Kept(r.stamp, changed[r.project_id])
        kept.move_to_end(r.project_id)
    while len(kept) > BOOKS_KEPT:
        kept.popitem(last=False)
    due = [p for p in ids if changed[p].count // SNAPSHOT_EVERY > before[p] // SNAPSHOT_EVERY]
    await store_snapshots(conn, {p: (changed[p].count, encoded[p]) for p in due})


SNAPSHOT_EVERY = 128
"""A project's books are kept as they stand after a batch each time it passes a multiple of this many facts: a report
known at a moment starts from the latest snapshot whose facts were all recorded by then and applies the facts after
it (live, at most about this many: each costs about 40 µs to decode), instead of folding the whole history. Each is
written once; a two-year project of about 1,000 facts has 7 or 8, about 330 KB of JSON before PostgreSQL compresses
it (its facts in the ledger: about 800 KB). After a bulk catch-up they are skewed (each holds facts recorded late):
reads keep snapshots of their own by recording time then (:func:`reporting.queries.load_books_known_at`)."""


async def store_snapshots(conn: AsyncConnection, books: dict[uuid.UUID, tuple[int, str]]) -> None:
    """Keep ``books`` (project -> (facts applied, JSON)) as snapshots, each with the ledger position of its project's
    latest fact and the latest recording time among its facts: the snapshot holds exactly the project's facts at or
    below that position (facts of a project are written under its books' row lock, so none below it comes later).
    A snapshot is a cache of the ledger: any batching gives the same reports known at any moment."""
    if not books:
        return
    ids = sorted(books)
    await conn.execute(
        text(
            "INSERT INTO project_book_snapshots (project_id, position, latest_recorded, facts, books) "
            "SELECT u.p, m.pos, m.rec, u.n, u.b FROM unnest(CAST(:p AS uuid[]), CAST(:n AS integer[]), "
            "CAST(:b AS text[])) AS u(p, n, b), LATERAL (SELECT max(position) AS pos, max(recorded_at) AS rec "
            "FROM facts WHERE project_id = u.p) AS m WHERE m.pos IS NOT NULL "
            "ON CONFLICT (project_id, position, latest_recorded) DO NOTHING"
        ),
        {"p": ids, "n": [books[p][0] for p in ids], "b": [books[p][1] for p in ids]},
    )


async def rebuild_books(conn: AsyncConnection, project_ids: Sequence[uuid.UUID] | None = None) -> int:
    """Build the books of ``project_ids`` (``None``: every project) again from the ``facts`` ledger, in its order,
    through the code the consumer uses (a repair, or a ledger filled without the consumer); returns how many."""
    where = "" if project_ids is None else "WHERE project_id = ANY(CAST(:p AS uuid[]))"
    rows = await conn.execute(
        text(
            "SELECT project_id, event_id, service, name, version, recorded_at, data FROM facts "
            f"{where} ORDER BY project_id, recorded_at, service, position"
        ),
        {} if project_ids is None else {"p": list(project_ids)},
    )
    facts = [(r.project_id, Fact(r.event_id, r.service, r.name, r.version, r.recorded_at, r.data), None) for r in rows]
    projects = {p for p, _, _ in facts}
    for table in ("project_books", "project_book_snapshots"):
        await conn.execute(
            text(f"DELETE FROM {table} WHERE project_id = ANY(CAST(:p AS uuid[]))"), {"p": sorted(projects)}
        )
    await store_books(conn, {}, facts)
    return len(projects)
