"""The reporting service's reads over its own tables (:mod:`reporting.tables`): the ledger of facts, the projects'
books and their versions, thresholds, alerts and the portfolio read model.

:class:`Ledger` implements the handlers' reading interface (:class:`reporting.handlers.ReportingFacts`); the other
functions are the lists the query routes and the dashboard show, and the evaluator's bookkeeping.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from asyncpg import PostgresError  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting import books_store
from reporting.domain.books import Books
from reporting.domain.ledger import Fact
from reporting.domain.ledger.facts import decode_fact
from reporting.domain.raid import RaidBook
from reporting.domain.rules import Thresholds
from reporting.raid_model import raid_books_of
from reporting.rates import rate_in_force
from shared.authz import ObjectOwner
from shared.collector import gc_paused
from shared.db import driver

log = logging.getLogger(__name__)

# --- facts and books ----------------------------------------------------------------------------------------


async def load_facts(engine: AsyncEngine, project_id: uuid.UUID, known_at: datetime | None = None) -> list[Fact]:
    return (await load_facts_of(engine, [project_id], known_at)).get(project_id, [])


async def load_facts_of(
    engine: AsyncEngine, project_ids: Sequence[uuid.UUID] | None, known_at: datetime | None = None
) -> dict[uuid.UUID, list[Fact]]:
    """The facts of many projects (``None``: of every project) in one query, per project in ledger order;
    ``known_at``: only those recorded by then (what could be known at that moment)."""
    conditions: list[str] = []
    args: list[Any] = []
    if project_ids is not None:
        args.append(list(project_ids))
        conditions.append(f"project_id = ANY(${len(args)}::uuid[])")
    if known_at is not None:
        args.append(known_at)
        conditions.append(f"recorded_at <= ${len(args)}")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    async with engine.connect() as conn:
        rows = await (await driver(conn)).fetch(
            "SELECT project_id, event_id, service, name, version, recorded_at, data FROM facts "
            f"{where} ORDER BY project_id, recorded_at, service, position",
            *args,
        )
    facts: dict[uuid.UUID, list[Fact]] = {}
    for r in rows:
        facts.setdefault(r["project_id"], []).append(
            Fact(r["event_id"], r["service"], r["name"], r["version"], r["recorded_at"], r["data"])
        )
    return facts


BOOKS_KEPT = 64
"""Projects whose books a reporting process remembers (per engine, the most recently read), each with its version:
a project page or S-curve read again reads only the version while the books have not moved, instead of fetching
and decoding their JSON (which grows with the history: a few ms at two years)."""
BOOKS_REMEMBERED_UP_TO = 8
"""Reads of at most this many projects (a project's pages) are remembered; a portfolio or an evaluation pass is not
(it would only churn the few kept)."""
_kept: weakref.WeakKeyDictionary[AsyncEngine, OrderedDict[uuid.UUID, Books]] = weakref.WeakKeyDictionary()


async def load_books_of(engine: AsyncEngine, project_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, Books]:
    """The stored books of many projects (``None``: of every project), one row each, kept by the facts consumer:
    what a report or an evaluation as of any date reads (``Books.at``), whatever the length of the history. Books
    remembered at their current version (:data:`BOOKS_KEPT`) are not fetched again. Treat them as read-only."""
    if project_ids is None or len(project_ids) > BOOKS_REMEMBERED_UP_TO:
        where = "" if project_ids is None else "WHERE project_id = ANY($1::uuid[])"
        args = [] if project_ids is None else [list(project_ids)]
        async with engine.connect() as conn:
            rows = await (await driver(conn)).fetch(
                f"SELECT project_id, books::text AS books FROM project_books {where}", *args
            )
        return {r["project_id"]: Books.from_json(r["books"]) for r in rows}
    kept = _kept.setdefault(engine, OrderedDict())
    known = {p: kept[p] for p in project_ids if p in kept}  # held here: another read may evict them meanwhile
    async with engine.connect() as conn:
        rows = await (await driver(conn)).fetch(
            "SELECT b.project_id, CASE WHEN b.facts = k.v THEN NULL ELSE b.books::text END AS books "
            "FROM project_books b LEFT JOIN unnest($2::uuid[], $3::integer[]) AS k(p, v) ON k.p = b.project_id "
            "WHERE b.project_id = ANY($1::uuid[])",
            list(project_ids),
            list(known),
            [b.count for b in known.values()],
        )
    found: dict[uuid.UUID, Books] = {}
    for r in rows:
        pid = r["project_id"]
        found[pid] = known[pid] if r["books"] is None else Books.from_json(r["books"])
        kept[pid] = found[pid]
        kept.move_to_end(pid)
    while len(kept) > BOOKS_KEPT:
        kept.popitem(last=False)
    return found


EARLIEST = datetime(1, 1, 1, tzinfo=UTC)


_FACTS_AFTER = (
    "SELECT position, event_id, service, name, version, recorded_at, data::text AS data FROM facts "
    "WHERE project_id = $1 "
)
_IN_LEDGER_ORDER = "ORDER BY recorded_at, service, position"
FILL_AFTER = 2
"""A read known at a moment that applies more than this many times :data:`reporting.books_store.SNAPSHOT_EVERY`
facts has found a hole in the project's snapshots by recording time (after a bulk catch-up or a rebuild) and fills it
on to the project's latest facts (:func:`load_books_known_at`)."""
FILL_LIMIT = 4096
"""At most this many facts recorded after the moment read are applied to fill a hole (the next read past them fills
on): a read's work stays bounded whatever the project's history."""


async def load_books_known_at(engine: AsyncEngine, project_id: uuid.UUID, known_at: datetime) -> Books | None:
    """The project's books as known at ``known_at`` (None: no fact of it recorded by then): the largest snapshot whose
    facts were all recorded by then (a snapshot holds exactly the project's facts at or below its ledger ``position``
    and recorded by its ``latest_recorded``), plus the facts recorded by then that it does not hold, in the ledger's
    order: the books of exactly the facts recorded by ``known_at``, as ``Books.of`` those facts.

    The facts consumer's snapshots (:func:`reporting.books_store.store_snapshots`) bound the facts applied here in
    live operation; after a bulk catch-up they may all hold facts recorded late (the topics are read at their own
    pace). A read that applies many facts keeps snapshots of its own every
    :data:`reporting.books_store.SNAPSHOT_EVERY` facts of what it built (each the books of the facts recorded by a
    moment), and, when it applied more than :data:`FILL_AFTER` times that (a hole), goes on through the facts
    recorded after its moment (up to :data:`FILL_LIMIT`) keeping snapshots the same way, and answers with a copy of
    the books as they stood at its moment: that read pays for the project's whole chain once, and every later read
    known at any moment it covered applies at most about one interval of facts."""
    async with engine.connect() as conn:
        db = await driver(conn)
        snapshot = await db.fetchrow(
            "SELECT position, latest_recorded, books FROM project_book_snapshots WHERE project_id = $1 "
            "AND latest_recorded <= $2 ORDER BY facts DESC, position DESC LIMIT 1",
            project_id,
            known_at,
        )
        position, recorded = (0, EARLIEST) if snapshot is None else (snapshot["position"], snapshot["latest_recorded"])
        rows = await db.fetch(
            _FACTS_AFTER + "AND recorded_at <= $2 AND (position > $3 OR recorded_at > $4) " + _IN_LEDGER_ORDER,
            project_id,
            known_at,
            position,
            recorded,
        )
        hole = len(rows) > FILL_AFTER * books_store.SNAPSHOT_EVERY
        after = (
            await db.fetch(
                _FACTS_AFTER + "AND recorded_at > $2 " + _IN_LEDGER_ORDER + " LIMIT $3",
                project_id,
                known_at,
                FILL_LIMIT,
            )
            if hole
            else []
        )
    if snapshot is None and not rows:
        return None
    books = Books(project_id) if snapshot is None else Books.from_json(snapshot["books"])
    kept: list[tuple[int, datetime, int, str]] = []
    answer: str | None = None
    applied = [*rows, *after]
    cut = len(after) == FILL_LIMIT  # the facts recorded at the last one's moment may go on past it
    since = 0
    with gc_paused():  # decoding and applying every fact: no await inside
        for n, r in enumerate(applied):
            if n == len(rows):  # the books as known at the moment read, before the filling goes on
                answer = kept[-1][3] if since == 0 and kept else books.to_json()
            service, name, version = r["service"], r["name"], r["version"]
            # decoded from the JSON text in one step, as the facts consumer decodes the record (its data not kept)
            event = decode_fact(service, name, version, r["data"])
            books.apply(Fact(r["event_id"], service, name, version, r["recorded_at"], {}), event)
            position, since = max(position, r["position"]), since + 1
            following = applied[n + 1]["recorded_at"] if n + 1 < len(applied) else None
            last = following > r["recorded_at"] if following is not None else not (cut and n >= len(rows))
            if (
                since >= books_store.SNAPSHOT_EVERY and last and r["recorded_at"] >= recorded
            ):  # exactly the facts recorded by then
                kept.append((position, r["recorded_at"], books.count, books.to_json()))
                since = 0
    if kept:
        await _keep_snapshots(engine, project_id, kept)
    return books if answer is None else Books.from_json(answer)


async def _keep_snapshots(
    engine: AsyncEngine, project_id: uuid.UUID, kept: list[tuple[int, datetime, int, str]]
) -> None:
    """Store snapshots a read built (a cache of the ledger: a failure to store them is logged, never the read's)."""
    try:
        async with engine.begin() as conn:
            await (await driver(conn)).executemany(
                "INSERT INTO project_book_snapshots (project_id, position, latest_recorded, facts, books) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, position, latest_recorded) DO NOTHING",
                [(project_id, *row) for row in kept],
            )
    except (SQLAlchemyError, PostgresError, OSError):
        log.warning("snapshots of the books of %s not kept", project_id, exc_info=True)


async def book_versions(engine: AsyncEngine) -> dict[uuid.UUID, int]:
    """Every project's books version: the number of facts they hold (it only grows)."""
    async with engine.connect() as conn:
        rows = await (await driver(conn)).fetch("SELECT project_id, facts FROM project_books")
    return {r["project_id"]: r["facts"] for r in rows}


async def load_thresholds(engine: AsyncEngine, portfolio_id: str | None) -> Thresholds:
    if portfolio_id is None:
        return Thresholds()
    async with engine.connect() as conn:
        raw = (
            await conn.execute(text("SELECT thresholds FROM thresholds WHERE portfolio_id = :p"), {"p": portfolio_id})
        ).scalar()
    return Thresholds.of(raw or {})


async def open_alerts_of(
    engine: AsyncEngine, project_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, set[tuple[str, str]]]:
    """The (rule, subject) of every open alert of ``project_ids``."""
    open_alerts: dict[uuid.UUID, set[tuple[str, str]]] = {}
    async with engine.connect() as conn:
        rows = await (await driver(conn)).fetch(
            "SELECT project_id, rule, subject FROM alerts WHERE project_id = ANY($1::uuid[]) AND status = 'open'",
            list(project_ids),
        )
    for r in rows:
        open_alerts.setdefault(r["project_id"], set()).add((r["rule"], r["subject"]))
    return open_alerts


SHEET_EVENTS = ("work-sheet-approved", "work-sheet-approval-reversed")


async def resource_ledger(engine: AsyncEngine, known_at: datetime | None, *, sheets: bool = True) -> list[Fact]:
    """Every fact from the resources service (about a person or a project) recorded by ``known_at`` (or ever);
    without the work sheets when ``sheets`` is false (see :func:`approved_hours`): then by the partial index
    ``facts_resource_plans``, whose predicate the statement repeats word for word (a parameter in its place would
    make PostgreSQL scan the whole ledger)."""
    others = "" if sheets else f"AND name NOT IN ({', '.join(repr(n) for n in SHEET_EVENTS)})"
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT event_id, 'resources' AS service, name, version, recorded_at, data FROM resource_facts "
                "WHERE CAST(:k AS timestamptz) IS NULL OR recorded_at <= :k "
                "UNION ALL SELECT event_id, service, name, version, recorded_at, data FROM facts "
                f"WHERE service = 'resources' {others} AND (CAST(:k AS timestamptz) IS NULL OR recorded_at <= :k)"
            ),
            {"k": known_at},
        )
        return [Fact(r.event_id, r.service, r.name, r.version, r.recorded_at, r.data) for r in rows]


async def approved_hours(
    engine: AsyncEngine, weeks: Sequence[str], known_at: datetime | None
) -> dict[tuple[uuid.UUID, str], Decimal]:
    """Approved hours (approvals minus reversals) per resource and ISO week, for ``weeks`` only, summed by the
    database over ``sheet_hours`` (kept with the ledger by the facts consumer) from its index alone: the heat map
    needs no sheet read or decoded."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT resource_id, week, sum(hours) AS hours FROM sheet_hours "
                "WHERE week = ANY(CAST(:w AS text[])) AND (CAST(:k AS timestamptz) IS NULL OR recorded_at <= :k) "
                "GROUP BY 1, 2"
            ),
            {"w": list(weeks), "k": known_at},
        )
        return {(r.resource_id, r.week): r.hours for r in rows}


async def resource_events(engine: AsyncEngine, resource_id: uuid.UUID, known_at: datetime | None) -> list[Any]:
    """The events about ``resource_id`` recorded by ``known_at`` (rows: event_id, name, recorded_at, data), in
    the order they were recorded."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT event_id, name, recorded_at, data FROM resource_facts WHERE resource_id = :r "
                "AND (CAST(:k AS timestamptz) IS NULL OR recorded_at <= :k) "
                "UNION ALL SELECT event_id, name, recorded_at, data FROM facts WHERE service = 'resources' "
                "AND data->>'resource_id' = :rs AND (CAST(:k AS timestamptz) IS NULL OR recorded_at <= :k) "
                "ORDER BY recorded_at"
            ),
            {"r": resource_id, "rs": str(resource_id), "k": known_at},
        )
        return list(rows)


class Ledger:
    """The facts the handlers read (:class:`reporting.handlers.ReportingFacts`), over the service's tables;
    ``visible``: the only projects a whole-portfolio read sees (the caller's scope, :mod:`shared.authz`; None: all)."""

    def __init__(self, engine: AsyncEngine, visible: frozenset[uuid.UUID] | None = None) -> None:
        self.engine = engine
        self.visible = visible

    async def facts(self, project_id: uuid.UUID, known_at: datetime | None = None) -> list[Fact]:
        return await load_facts(self.engine, project_id, known_at)

    async def facts_of(
        self, project_ids: Sequence[uuid.UUID] | None, known_at: datetime | None = None
    ) -> dict[uuid.UUID, list[Fact]]:
        if project_ids is None and self.visible is not None:
            project_ids = sorted(self.visible)
        return await load_facts_of(self.engine, project_ids, known_at)

    async def books_of(self, project_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, Books]:
        return await load_books_of(self.engine, project_ids)

    async def books_known_at(self, project_id: uuid.UUID, known_at: datetime) -> Books | None:
        return await load_books_known_at(self.engine, project_id, known_at)

    async def raid_books_of(self, project_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RaidBook]:
        return await raid_books_of(self.engine, project_ids)

    async def book_versions(self) -> dict[uuid.UUID, int]:
        versions = await book_versions(self.engine)
        if self.visible is None:
            return versions
        return {pid: n for pid, n in versions.items() if pid in self.visible}

    async def thresholds(self, portfolio_id: str | None) -> Thresholds:
        return await load_thresholds(self.engine, portfolio_id)

    async def open_alerts_of(self, project_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[tuple[str, str]]]:
        return await open_alerts_of(self.engine, project_ids)

    async def resource_facts(self, known_at: datetime | None, *, sheets: bool = True) -> list[Fact]:
        return await resource_ledger(self.engine, known_at, sheets=sheets)

    async def approved_hours(
        self, weeks: Sequence[str], known_at: datetime | None
    ) -> dict[tuple[uuid.UUID, str], Decimal]:
        return await approved_hours(self.engine, weeks, known_at)

    async def resource_events(self, resource_id: uuid.UUID, known_at: datetime | None) -> list[Any]:
        return await resource_events(self.engine, resource_id, known_at)

    async def rate(self, base: str, quote: str, on: date) -> Decimal | None:
        """1 ``base`` in ``quote`` on ``on`` (:func:`reporting.rates.rate_in_force`), None without one either way."""
        async with self.engine.connect() as conn:
            return await rate_in_force(conn, base, quote, on)


def reading(rt: Any, visible: frozenset[uuid.UUID] | None = None) -> tuple[Ledger, Callable[[], datetime]]:
    """What a read needs from a runtime: the facts over its engine (of the ``visible`` projects only, when given),
    and the present by its executor's clock (asked only when needed: a date left out, a ``known_at`` to check)."""
    return Ledger(rt.engine, visible), lambda: rt.executor.clock.now()


def reporting_currency(rt: Any) -> str:
    """The portfolio's reporting currency of a runtime (``PMO_REPORTING_CURRENCY``; EUR when its settings have
    none)."""
    return str(getattr(rt.settings, "reporting_currency", "EUR"))


# --- lists the routes and the dashboard show ------------------------------------------------------------------


async def alerts_page(
    engine: AsyncEngine,
    filters: dict[str, Any],
    limit: int,
    offset: int,
    scope: tuple[str, dict[str, Any]] = ("TRUE", {}),
) -> tuple[int, list[Any]]:
    """Alerts matching ``filters`` (column -> value; None: any) and the caller's ``scope``
    (:meth:`shared.authz.CallerScope.where`), newest first: the total and the page's rows."""
    used = {k: v for k, v in filters.items() if v is not None}
    where = " AND ".join([scope[0], *(f"{k}::text = :{k}" for k in used)])
    params: dict[str, Any] = {**used, **scope[1], "limit": limit, "offset": offset}
    async with engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM alerts WHERE {where}"), params)).scalar_one()
        rows = (
            await conn.execute(
                text(
                    f"SELECT * FROM alerts WHERE {where} ORDER BY updated_at DESC, alert_id LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ).mappings()
        return total, list(rows)


async def open_alerts(
    engine: AsyncEngine, limit: int = 200, scope: tuple[str, dict[str, Any]] = ("TRUE", {})
) -> list[dict[str, Any]]:
    """The open alerts (of the projects in ``scope``), by severity, the latest changed first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"SELECT * FROM alerts WHERE status = 'open' AND {scope[0]} ORDER BY severity, updated_at DESC LIMIT :n"
            ),
            {"n": limit, **scope[1]},
        )
        return [dict(r._mapping) for r in rows]


async def open_alerts_by_severity(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT severity, count(*) AS n FROM alerts WHERE status = 'open' GROUP BY 1"))
        return {r.severity: r.n for r in rows}


async def thresholds_row(engine: AsyncEngine, portfolio_id: str) -> Any:
    """A portfolio's row of ``thresholds`` (thresholds, pending, requested_by), or None."""
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT thresholds, pending, requested_by FROM thresholds WHERE portfolio_id = :p"),
                {"p": portfolio_id},
            )
        ).first()


async def portfolio_groupings(
    engine: AsyncEngine, portfolios: frozenset[str] | None, programmes: frozenset[str], limit: int, offset: int
) -> tuple[int, list[Any]]:
    """Portfolios and programmes as the portfolio read model knows them (those of ``portfolios``, and the
    ``programmes``; None: every one), portfolios first, by id: the total and the page."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    clause = "TRUE"
    if portfolios is not None:
        clause = "(portfolio_id = ANY(:pfs) OR (kind = 'programme' AND grouping_id = ANY(:pgs)))"
        params |= {"pfs": sorted(portfolios), "pgs": sorted(programmes)}
    async with engine.connect() as conn:
        total = (
            await conn.execute(text(f"SELECT count(*) FROM portfolio_groupings WHERE {clause}"), params)
        ).scalar_one()
        rows = await conn.execute(
            text(
                f"SELECT kind, grouping_id, portfolio_id, name, closed_on FROM portfolio_groupings WHERE {clause} "
                "ORDER BY kind DESC, grouping_id LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        return total, [dict(r) for r in rows.mappings()]


async def portfolio_projects(
    engine: AsyncEngine,
    portfolio_id: str | None,
    limit: int,
    offset: int,
    scope: tuple[str, dict[str, Any]] = ("TRUE", {}),
) -> tuple[int, list[Any]]:
    """Projects of the portfolio read model (of one portfolio, when given; in the caller's ``scope``), by code: the
    total and the page."""
    params: dict[str, Any] = {"limit": limit, "offset": offset, **scope[1]}
    clause = scope[0]
    if portfolio_id:
        clause, params["pf"] = f"{clause} AND portfolio_id = :pf", portfolio_id
    async with engine.connect() as conn:
        total = (
            await conn.execute(text(f"SELECT count(*) FROM portfolio_projects WHERE {clause}"), params)
        ).scalar_one()
        rows = (
            await conn.execute(
                text(
                    f"SELECT * FROM portfolio_projects WHERE {clause} ORDER BY code, project_id "
                    "LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ).mappings()
        return total, list(rows)


async def portfolio_project(engine: AsyncEngine, project_id: uuid.UUID) -> tuple[Any, list[Any]] | None:
    """One project of the portfolio read model and its milestones by due date; None if it is not there."""
    async with engine.connect() as conn:
        row = (
            (await conn.execute(text("SELECT * FROM portfolio_projects WHERE project_id = :id"), {"id": project_id}))
            .mappings()
            .first()
        )
        if row is None:
            return None
        milestones = (
            await conn.execute(
                text("SELECT * FROM portfolio_milestones WHERE project_id = :id ORDER BY due_date, name"),
                {"id": project_id},
            )
        ).mappings()
        return row, list(milestones)


# --- the evaluator's work list ------------------------------------------------------------------------------


async def projects_to_evaluate(engine: AsyncEngine, *, every: bool) -> list[uuid.UUID]:
    """The projects the facts consumer marked as changed, unmarked; ``every``: every project with books (and
    every mark dropped)."""
    async with engine.begin() as conn:
        if every:
            await conn.execute(text("DELETE FROM dirty_projects"))
            rows = await conn.execute(text("SELECT project_id FROM project_books"))
        else:
            rows = await conn.execute(text("DELETE FROM dirty_projects RETURNING project_id"))
        return [r.project_id for r in rows]


OBJECT_OWNERS = {"alert_id": ObjectOwner("SELECT project_id FROM alerts WHERE alert_id = :id", parse=str)}
"""How :mod:`shared.authz` finds the project of an alert addressed by its id."""
