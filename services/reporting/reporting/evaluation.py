"""Loading a project's facts and computing its report; the evaluator that raises and clears alerts.

The evaluator runs in the service (a background task), on one replica at a time (an advisory lock elects it):
every ``evaluation_interval`` it evaluates the projects the facts consumer marked as changed, and all of them at
start, when the business date changes and every ``full_evaluation_interval`` (time passing is a fact too: a status
report becomes overdue without any event). Each alert change is a command on the alert's own stream, so
it is stored as an event and published on ``pmo.alerts.v1`` by the relay like any other event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.domain import alerts
from reporting.domain.books import Books
from reporting.domain.evm import Evm, evm
from reporting.domain.ledger import Fact, ProjectBook, book
from reporting.domain.risk import MilestoneRisk, milestone_risks
from reporting.domain.rules import Condition, Thresholds, conditions
from shared.commands import CommandContext
from shared.db import driver
from shared.events import EventMetadata
from shared.metrics import ALERTS_OPEN, EVALUATOR_LEADER
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)
ALERTS = alerts.ALERT
EVALUATION_CHUNK = 500
"""Projects whose facts and open alerts one evaluation query loads."""
SYSTEM = EventMetadata(actor="system:reporting-evaluator", correlation_id="alert-evaluation")


@dataclass(frozen=True)
class ProjectReport:
    books: ProjectBook
    figures: Evm
    risks: list[MilestoneRisk]
    conditions: list[Condition]


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


async def load_books_of(engine: AsyncEngine, project_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, Books]:
    """The stored books of many projects (``None``: of every project), one row each, kept by the facts consumer:
    what a report or an evaluation as of any date reads (``Books.at``), whatever the length of the history."""
    where = "" if project_ids is None else "WHERE project_id = ANY($1::uuid[])"
    args = [] if project_ids is None else [list(project_ids)]
    async with engine.connect() as conn:
        rows = await (await driver(conn)).fetch(
            f"SELECT project_id, books::text AS books FROM project_books {where}", *args
        )
    return {r["project_id"]: Books.from_json(r["books"]) for r in rows}


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
    return thresholds_from(raw or {})


def thresholds_from(raw: dict[str, Any]) -> Thresholds:
    return Thresholds.of(raw)


def week_ends(start: date, end: date, limit: int = 260) -> list[date]:
    """Sundays from the week of ``start`` to the last one on or before ``end`` (at most ``limit``), then ``end``."""
    first = start + timedelta(days=6 - start.weekday())
    days = [first + timedelta(weeks=i) for i in range(limit) if first + timedelta(weeks=i) < end]
    return [*days[-limit:], end]


BooksOn = Callable[[date], ProjectBook]
"""A project's books on a date: ``Books.at`` of its stored books, or the ledger's fold of its facts."""


def cpi_history(books_on: BooksOn, as_of: date, weeks: int = 8) -> list[Decimal]:
    """The CPI at the end of each of the ``weeks`` weeks before ``as_of`` (where it is defined)."""
    history = []
    for week in range(weeks, 0, -1):
        day = as_of - timedelta(weeks=week)
        cpi = evm(books_on(day), day).value("cpi")
        if cpi is not None:
            history.append(cpi)
    return history


def report_on(books_on: BooksOn, as_of: date, thresholds: Thresholds) -> ProjectReport:
    """Figures, milestone risks and the alert conditions of one project as of a date (pure)."""
    books = books_on(as_of)
    figures = evm(books, as_of)
    ac = figures.value("ac") or Decimal(0)
    risks = milestone_risks(books, as_of, ac, figures.value("cpi"), cpi_history(books_on, as_of))
    return ProjectReport(books, figures, risks, conditions(books, figures, risks, as_of, thresholds))


def report(project_id: uuid.UUID, facts: list[Fact], as_of: date, thresholds: Thresholds) -> ProjectReport:
    """:func:`report_on` the ledger's fold of ``facts`` (what was known at a time, or an explanation)."""
    return report_on(lambda day: book(project_id, facts, day), as_of, thresholds)


@dataclass
class _Pass:
    """What one evaluation pass loaded for many projects at once (instead of three queries per project)."""

    books: dict[uuid.UUID, Books]
    open_alerts: dict[uuid.UUID, set[tuple[str, str]]]
    thresholds: dict[str | None, Thresholds]


async def _load_pass(rt: ServiceRuntime, project_ids: Sequence[uuid.UUID]) -> _Pass:
    books = await load_books_of(rt.engine, project_ids)
    open_alerts: dict[uuid.UUID, set[tuple[str, str]]] = {}
    async with rt.engine.connect() as conn:
        rows = await (await driver(conn)).fetch(
            "SELECT project_id, rule, subject FROM alerts WHERE project_id = ANY($1::uuid[]) AND status = 'open'",
            list(project_ids),
        )
    for r in rows:
        open_alerts.setdefault(r["project_id"], set()).add((r["rule"], r["subject"]))
    return _Pass(books, open_alerts, {})


async def evaluate(rt: ServiceRuntime, project_id: uuid.UUID, as_of: date, loaded: _Pass | None = None) -> int:
    """Raise, update and clear the project's alerts from its books; returns how many alert events were appended."""
    if loaded is None:
        loaded = await _load_pass(rt, [project_id])
    stored = loaded.books.get(project_id)
    if stored is None:
        return 0  # no fact of it has arrived yet
    books = stored.at(as_of)
    if not books.currency:
        return 0  # its registration has not arrived yet
    thresholds = loaded.thresholds.get(books.portfolio_id)
    if thresholds is None:
        thresholds = loaded.thresholds[books.portfolio_id] = await load_thresholds(rt.engine, books.portfolio_id)
    result = report_on(stored.at, as_of, thresholds)
    still_open = set(loaded.open_alerts.get(project_id, ()))
    ctx = CommandContext(metadata=SYSTEM)
    appended = 0
    for condition in result.conditions:
        still_open.discard((condition.rule, condition.subject))
        outcome = await rt.executor.execute(
            ctx,
            aggregate=ALERTS,
            stream_id=alerts.stream_id(alerts.alert_id(condition.rule, condition.subject)),
            command=alerts.Observe(project_id, books.portfolio_id, condition, as_of),
            respond=lambda state, events, version: {},
        )
        appended += len(outcome.events)
    for rule, subject in still_open:
        outcome = await rt.executor.execute(
            ctx,
            aggregate=ALERTS,
            stream_id=alerts.stream_id(alerts.alert_id(rule, subject)),
            command=alerts.Clear(project_id, rule, subject, as_of),
            respond=lambda state, events, version: {},
        )
        appended += len(outcome.events)
    return appended


async def _count_open_alerts(rt: ServiceRuntime) -> None:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(text("SELECT severity, count(*) AS n FROM alerts WHERE status = 'open' GROUP BY 1"))
        counts = {r.severity: r.n for r in rows}
    for severity in ("warning", "critical"):
        ALERTS_OPEN.labels(severity).set(counts.get(severity, 0))


EVALUATOR_LOCK = "pmo-evaluator:{schema}"
"""The advisory lock whose holder evaluates: one evaluator per deployment, however many reporting replicas run."""
LEADER_CHECK_INTERVAL = 1.0


async def evaluator(rt: ServiceRuntime, stop: asyncio.Event) -> None:
    """Background task: the replica holding the evaluator lock evaluates the projects whose facts changed (after
    each consumed batch marks them), and every project at start, when the business date changes and every
    ``full_evaluation_interval`` (date-driven rules: due dates, status freshness, reviews, overdue invoices);
    the other replicas wait to take over."""
    while not stop.is_set():
        try:
            async with rt.engine.connect() as leader:
                key = EVALUATOR_LOCK.format(schema=rt.schema)
                got = (await leader.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key})).scalar()
                await leader.commit()
                if not got:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=2.0)
                    continue
                rt.memo["evaluator_leader"] = True
                EVALUATOR_LEADER.set(1)
                try:
                    await _evaluate_while_leading(rt, stop, leader)
                finally:
                    rt.memo["evaluator_leader"] = False
                    EVALUATOR_LEADER.set(0)
                    try:
                        await leader.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
                        await leader.commit()
                    except Exception:
                        await leader.invalidate()  # never back to the pool holding the lock
        except Exception:
            log.exception("alert evaluation failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _evaluate_while_leading(rt: ServiceRuntime, stop: asyncio.Event, leader: Any) -> None:
    settings: Any = rt.settings
    interval = float(getattr(settings, "evaluation_interval", 0.2))
    full_interval = float(getattr(settings, "full_evaluation_interval", 86400.0))
    last_full, last_day, last_check = 0.0, None, time.monotonic()
    while not stop.is_set():
        today = rt.executor.clock.now().date()
        full = last_day != today or time.monotonic() - last_full >= full_interval
        async with rt.engine.begin() as conn:
            if full:
                await conn.execute(text("DELETE FROM dirty_projects"))
                rows = await conn.execute(text("SELECT project_id FROM project_books"))
                last_full, last_day = time.monotonic(), today
            else:
                rows = await conn.execute(text("DELETE FROM dirty_projects RETURNING project_id"))
            projects = [r.project_id for r in rows]
        if projects:
            await _count_open_alerts(rt)
        for start in range(0, len(projects), EVALUATION_CHUNK):
            chunk = projects[start : start + EVALUATION_CHUNK]
            loaded = await _load_pass(rt, chunk)
            for project_id in chunk:
                if stop.is_set():
                    break
                try:
                    await evaluate(rt, project_id, today, loaded)
                except Exception:
                    log.exception("evaluating project %s failed; retried at the next full evaluation", project_id)
        if time.monotonic() - last_check >= LEADER_CHECK_INTERVAL:
            await leader.execute(text("SELECT 1"))  # leadership ends with this session
            await leader.commit()
            last_check = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
