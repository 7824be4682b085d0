"""Read models of the reporting service, fed from Kafka by :class:`shared.consumer.ProjectionConsumer`.

Each projection decodes other services' events with their published contracts (``shared.contracts``) only. The facts
consumer also keeps the exchange rates recorded on the budget topic (``exchange-rate-recorded``, key
``fx:<base>-<quote>``: about no project) in ``fx_rates``, which :mod:`reporting.rates` reads.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from reporting import raid_model
from reporting.books_store import SNAPSHOT_EVERY as SNAPSHOT_EVERY
from reporting.books_store import lock_books as lock_books
from reporting.books_store import rebuild_books as rebuild_books
from reporting.books_store import store_books as store_books
from reporting.books_store import store_snapshots as store_snapshots
from reporting.domain.alerts import Alert, PortfolioThresholds
from reporting.domain.ledger import REGISTRIES, Fact
from reporting.tables import DDL as DDL  # the tables' definitions, importable from here too
from reporting.tables import PROJECT_COLUMNS
from shared.authz import record_project_move, record_project_scope
from shared.collector import gc_paused
from shared.consumer import copy_new_records, copy_records
from shared.contracts import budget, projects, resources
from shared.contracts import project_edits as edits
from shared.contracts.alerts import AlertRaised
from shared.events import DomainEvent, RecordedEvent
from shared.jsonable import jsonable
from shared.kafka import ConsumedEvent, parse_uuid

FACT_TOPICS = (projects.TOPIC, budget.TOPIC, resources.TOPIC, "pmo.invoicing.v1")

FACT_COLUMNS = ("project_id", "event_id", "service", "name", "version", "recorded_at", "data")
FACT_TYPES = ("uuid", "uuid", "text", "text", "integer", "timestamptz", "jsonb")
RESOURCE_FACT_COLUMNS = ("resource_id", "event_id", "name", "version", "recorded_at", "data")
RESOURCE_FACT_TYPES = ("uuid", "uuid", "text", "integer", "timestamptz", "jsonb")
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
SHEET_HOURS_COLUMNS = ("event_id", "resource_id", "week", "hours", "recorded_at")
MILESTONE_COLUMNS = ("milestone_id", "project_id", "name", "due_date", "planned_value", "currency", "planned_event")


def _check_contract(event: ConsumedEvent) -> None:
    """A known event type must validate against its contract, or it is not a fact (the consumer dead-letters it);
    types this version does not know are kept (reports ignore them until they learn them)."""
    registry = REGISTRIES.get(event.service)
    if registry is not None and (event.name, event.version) in registry:
        event.contract(registry)  # memoised on the event: the portfolio read model reuses it


def _json(event: ConsumedEvent) -> str:
    """The event's data as JSON text for a jsonb column: the record's own value when it has one (no re-encoding)."""
    if event.raw is not None:
        try:
            return event.raw.decode()
        except UnicodeDecodeError:  # JSON in UTF-16/32 (json.loads accepts it): re-encode
            pass
    return json.dumps(event.data)


def _decoded(event: ConsumedEvent) -> DomainEvent | None:
    registry = REGISTRIES.get(event.service)
    if registry is None or (event.name, event.version) not in registry:
        return None
    return event.contract(registry)


def _fact(event: ConsumedEvent) -> Fact:
    """The fact the books take beside its decoded event (:func:`_decoded`), without its data: the books read the
    decoded contract only (an event it does not know decodes to nothing either way), so the record's JSON, stored as
    it came in the ledger, is never parsed into a dict here (a tenth of the catch-up's CPU)."""
    return Fact(event.event_id, event.service, event.name, event.version, event.time, {})


def _sheet_hours(event: ConsumedEvent, decoded: DomainEvent | None) -> tuple[Any, ...] | None:
    """The ``sheet_hours`` row of a work sheet's approval (its hours) or reversal (minus its hours); None for any
    other fact."""
    match decoded:
        case resources.WorkSheetApproved():
            hours = decoded.hours
        case resources.WorkSheetApprovalReversed():
            hours = -decoded.hours
        case _:
            return None
    return (event.event_id, decoded.resource_id, decoded.week, hours, event.time)


def _is_rate(event: ConsumedEvent) -> bool:
    return (
        event.service == "budget"
        and event.name == budget.ExchangeRateRecorded.event_name
        and (event.name, event.version) in budget.REGISTRY
    )


async def store_rates(conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
    """Exchange rates into ``fx_rates``, one row per event (a second copy changes nothing: keyed by the event id)."""
    recorded = [(e, e.contract(budget.REGISTRY)) for e in events]
    rates = [(e, r) for e, r in recorded if isinstance(r, budget.ExchangeRateRecorded)]
    await conn.execute(
        text(
            "INSERT INTO fx_rates (event_id, base, quote, effective_on, rate, source, recorded_at) "
            "SELECT * FROM unnest(CAST(:e AS uuid[]), CAST(:b AS text[]), CAST(:q AS text[]), CAST(:d AS date[]), "
            "CAST(:r AS numeric[]), CAST(:s AS text[]), CAST(:t AS timestamptz[])) ON CONFLICT (event_id) DO NOTHING"
        ),
        {
            "e": [e.event_id for e, _ in rates],
            "b": [r.base for _, r in rates],
            "q": [r.quote for _, r in rates],
            "d": [r.effective_on for _, r in rates],
            "r": [r.rate for _, r in rates],
            "s": [r.source for _, r in rates],
            "t": [e.time for e, _ in rates],
        },
    )


class FactsProjection:
    """Every event about a project, from every service's topic, into the ``facts`` ledger (the audit source the
    explanations fold) and, in the same transaction, into the project's books (``project_books``: one row per
    project, :class:`reporting.domain.books.Books` as JSON) the reports read, with a snapshot of them each time a
    batch takes the project past a multiple of :data:`SNAPSHOT_EVERY` facts (``project_book_snapshots``, for reports
    known at a moment); the project is marked for the alert evaluator. Only events new to the ledger go into the
    books, so a second copy changes neither.

    Idempotent, so it keeps no inbox: a fact is keyed by its event id (unique), marking a project twice is marking it
    once, and events about no project or resource write nothing. A second copy of an event is skipped by the key
    (``ON CONFLICT (event_id) DO NOTHING``, in :meth:`apply` and when :meth:`apply_batch`'s COPY meets it).
    """

    name = "reporting.facts"
    topics = FACT_TOPICS
    max_records = 2000
    """Records a consumer takes at most per poll (the default 500 made a catch-up write each project's books, a
    ledger COPY and an offset about four times as often; a batch of one partition stays one transaction)."""
    tables = (
        "facts",
        "sheet_hours",
        "dirty_projects",
        "resource_facts",
        "project_books",
        "project_book_snapshots",
        "fx_rates",
    )
    idempotent = True

    async def apply_batch(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
        """The same as :meth:`apply` for many events, in a few statements (replay and catch-up speed): the facts by
        COPY, or, when the batch holds an event already in the ledger (a relay's re-publish, a re-delivery), by one
        ``INSERT ... ON CONFLICT (event_id) DO NOTHING`` that skips it as :meth:`apply` would. The cyclic garbage
        collector waits for the end of the batch (:func:`~shared.collector.gc_paused`)."""
        with gc_paused():
            await self._apply_batch(conn, events)

    async def _apply_batch(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
        facts, resource_facts, projects_ = [], [], set()
        rates: list[ConsumedEvent] = []
        kept: dict[uuid.UUID, uuid.UUID] = {}  # event id -> project id of the facts this batch writes
        for event in events:
            _check_contract(event)
            if _is_rate(event):
                rates.append(event)
                continue
            if event.key.startswith("resource:") and event.service == "resources":
                resource = parse_uuid(event.key.removeprefix("resource:"))
                resource_facts.append((resource, event.event_id, event.name, event.version, event.time, _json(event)))
                continue
            try:
                project_id = parse_uuid(event.key)
            except ValueError:
                continue
            facts.append(
                (project_id, event.event_id, event.service, event.name, event.version, event.time, _json(event))
            )
            kept[event.event_id] = project_id
            projects_.add(project_id)
        if facts:
            stored = await lock_books(conn, [f[0] for f in facts])
            inserted = await copy_new_records(conn, "facts", FACT_COLUMNS, FACT_TYPES, facts, returning="event_id")
            new_facts, sheets = [], []
            for event in events:  # the events new to the ledger, each once, in the batch's order
                if event.event_id in kept and (inserted is None or event.event_id in inserted):
                    if inserted is not None:
                        inserted.discard(event.event_id)
                    decoded = _decoded(event)
                    new_facts.append((kept[event.event_id], _fact(event), decoded))
                    if (sheet := _sheet_hours(event, decoded)) is not None:
                        sheets.append(sheet)
            await store_books(conn, stored, new_facts)
            if sheets:  # new to the ledger, so new here too
                await copy_records(conn, "sheet_hours", SHEET_HOURS_COLUMNS, sheets)
            await raid_model.mark_dirty(conn, sorted(projects_))  # and their dependants; one lock order
        if resource_facts:
            await copy_new_records(
                conn, "resource_facts", RESOURCE_FACT_COLUMNS, RESOURCE_FACT_TYPES, resource_facts, returning="event_id"
            )
        if rates:
            await store_rates(conn, rates)

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        _check_contract(event)
        if _is_rate(event):
            await store_rates(conn, [event])
            return
        if event.key.startswith("resource:") and event.service == "resources":
            await conn.execute(
                text(
                    "INSERT INTO resource_facts (resource_id, event_id, name, version, recorded_at, data) "
                    "VALUES (:r, :e, :n, :v, :t, :d) ON CONFLICT (event_id) DO NOTHING"
                ),
                {
                    "r": parse_uuid(event.key.removeprefix("resource:")),
                    "e": event.event_id,
                    "n": event.name,
                    "v": event.version,
                    "t": event.time,
                    "d": _json(event),
                },
            )
            return
        try:
            project_id = parse_uuid(event.key)
        except ValueError:
            return  # portfolio, role or department events: not about one project
        stored = await lock_books(conn, [project_id])
        inserted = await conn.execute(
            text(
                "INSERT INTO facts (project_id, event_id, service, name, version, recorded_at, data) "
                "VALUES (:p, :e, :s, :n, :v, :t, :d) ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
            ),
            {
                "p": project_id,
                "e": event.event_id,
                "s": event.service,
                "n": event.name,
                "v": event.version,
                "t": event.time,
                "d": _json(event),
            },
        )
        if inserted.first() is not None:  # a second copy changes neither the ledger nor the books
            decoded = _decoded(event)
            await store_books(conn, stored, [(project_id, _fact(event), decoded)])
            if (sheet := _sheet_hours(event, decoded)) is not None:
                await conn.execute(
                    text(
                        "INSERT INTO sheet_hours (event_id, resource_id, week, hours, recorded_at) "
                        "VALUES (:e, :r, :w, :h, :t)"
                    ),
                    dict(zip(("e", "r", "w", "h", "t"), sheet, strict=True)),
                )
        await raid_model.mark_dirty(conn, [project_id])


async def project(conn: AsyncConnection, state: Any, version: int, events: Sequence[RecordedEvent]) -> None:
    """Query rows of the reporting service's own aggregates (alerts, thresholds), in the command's transaction."""
    if isinstance(state, Alert):
        raised = next((r for r in events if isinstance(r.event, AlertRaised)), None)
        portfolio = raised.event.portfolio_id if raised and isinstance(raised.event, AlertRaised) else None
        evidence = [str(x) for r in events for x in (getattr(r.event, "evidence", None) or [])]
        last = events[-1].recorded_at
        await conn.execute(
            text(
                "INSERT INTO alerts (alert_id, project_id, portfolio_id, rule, subject, status, severity, title, "
                "figures, evidence, acknowledged_by, raised_at, updated_at, cleared_at, version) VALUES "
                "(:id, :p, :pf, :rule, :subject, :status, :sev, :title, :fig, :ev, :ack, :t, :t, :cleared, :v) "
                "ON CONFLICT (alert_id) DO UPDATE SET status = excluded.status, severity = excluded.severity, "
                "title = excluded.title, figures = excluded.figures, "
                "evidence = CASE WHEN excluded.evidence = '[]'::jsonb THEN alerts.evidence ELSE excluded.evidence END, "
                "acknowledged_by = excluded.acknowledged_by, updated_at = excluded.updated_at, "
                "raised_at = CASE WHEN alerts.status = 'cleared' AND excluded.status = 'open' THEN excluded.raised_at "
                "ELSE alerts.raised_at END, cleared_at = excluded.cleared_at, version = excluded.version, "
                "portfolio_id = COALESCE(excluded.portfolio_id, alerts.portfolio_id)"
            ),
            {
                "id": state.alert_id,
                "p": state.project_id,
                "pf": portfolio,
                "rule": state.rule,
                "subject": state.subject,
                "status": "open" if state.open else "cleared",
                "sev": state.severity,
                "title": state.title,
                "fig": json.dumps(jsonable(state.figures or {})),
                "ev": json.dumps(evidence),
                "ack": state.acknowledged_by,
                "t": last,
                "cleared": None if state.open else last,
                "v": version,
            },
        )
    elif isinstance(state, PortfolioThresholds):
        portfolio_id = next((getattr(r.event, "portfolio_id", None) for r in events), None)
        await conn.execute(
            text(
                "INSERT INTO thresholds (portfolio_id, thresholds, pending, requested_by) VALUES (:p, :t, :w, :r) "
                "ON CONFLICT (portfolio_id) DO UPDATE SET thresholds = excluded.thresholds, "
                "pending = excluded.pending, requested_by = excluded.requested_by"
            ),
            {
                "p": portfolio_id,
                "t": json.dumps(state.in_force),
                "w": None if state.pending is None else json.dumps(state.pending),
                "r": state.requested_by,
            },
        )


class PortfolioProjection:
    """Projects and their planned milestones, per portfolio (``pmo.projects.v1``)."""

    name = "reporting.portfolio"
    topics = (projects.TOPIC,)
    max_records = 2000
    tables = ("portfolio_projects", "portfolio_milestones", "portfolio_groupings")

    async def apply_batch(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
        """The same as :meth:`apply` for a batch of one partition, in at most three statements: registrations and
        milestones by COPY; milestones of a project registered earlier in the batch are counted into its new row,
        the others added to theirs by one ``UPDATE`` (``last_event_at``: the latest of the batch's milestones). The
        cyclic garbage collector waits for the end of the batch (:func:`~shared.collector.gc_paused`)."""
        with gc_paused():
            await self._apply_batch(conn, events)

    async def _apply_batch(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
        if any(event.name in _EDITS for event in events):  # rare: a batch with an edit is applied one by one
            for event in events:
                await self.apply(conn, event)
            return
        registered: dict[uuid.UUID, list[Any]] = {}
        planned, later = [], []
        for event in events:
            if event.service != "projects" or (event.name, event.version) not in projects.REGISTRY:
                continue
            decoded = event.contract(projects.REGISTRY)
            if isinstance(decoded, projects.ProjectRegistered):
                if decoded.project_id in registered:
                    raise ValueError(f"project {decoded.project_id} registered twice")  # as the primary key would
                await record_project_scope(conn, decoded)
                registered[decoded.project_id] = [
                    decoded.project_id,
                    decoded.portfolio_id,
                    decoded.programme_id,
                    decoded.code,
                    decoded.name,
                    "proposed",
                    decoded.currency,
                    decoded.planned_start,
                    decoded.planned_end,
                    0,
                    Decimal(0),
                    event.event_id,
                    event.time,
                    None,  # the latest milestone's time, if any
                ]
            elif isinstance(decoded, projects.MilestonePlanned):
                amount = decoded.planned_value.amount
                planned.append(
                    (
                        decoded.milestone_id,
                        decoded.project_id,
                        decoded.name,
                        decoded.due_date,
                        amount,
                        decoded.planned_value.currency,
                        event.event_id,
                    )
                )
                row = registered.get(decoded.project_id)
                if row is None:
                    later.append((decoded.project_id, amount, event.event_id, event.time))
                    continue
                row[9] += 1
                row[10] = EXACT.add(row[10], amount)  # numeric sums exactly, as PostgreSQL's would
                row[11] = event.event_id
                row[13] = event.time if row[13] is None else max(row[13], event.time)
        if registered:
            rows = [(*row[:12], row[12] if row[13] is None else row[13]) for row in registered.values()]
            await copy_records(conn, "portfolio_projects", PROJECT_COLUMNS, rows)
        if planned:
            await copy_records(conn, "portfolio_milestones", MILESTONE_COLUMNS, planned)
        if later:
            await conn.execute(
                text(
                    "UPDATE portfolio_projects AS pp SET milestones = pp.milestones + x.n, "
                    "planned_value = pp.planned_value + x.pv, last_event_id = x.eid, last_event_at = x.t "
                    "FROM (SELECT p, count(*) AS n, sum(pv) AS pv, (array_agg(eid ORDER BY i DESC))[1] AS eid, "
                    "max(t) AS t FROM unnest(CAST(:p AS uuid[]), CAST(:pv AS numeric[]), CAST(:eid AS uuid[]), "
                    "CAST(:t AS timestamptz[])) WITH ORDINALITY AS u(p, pv, eid, t, i) GROUP BY p) AS x "
                    "WHERE pp.project_id = x.p"
                ),
                {
                    "p": [p for p, _, _, _ in later],
                    "pv": [pv for _, pv, _, _ in later],
                    "eid": [e for _, _, e, _ in later],
                    "t": [t for _, _, _, t in later],
                },
            )

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.service != "projects" or (event.name, event.version) not in projects.REGISTRY:
            return  # another version or an event this read model does not use
        decoded = event.contract(projects.REGISTRY)
        match decoded:
            case projects.ProjectRegistered():
                await conn.execute(
                    text(
                        "INSERT INTO portfolio_projects (project_id, portfolio_id, programme_id, code, name, status, "
                        "currency, planned_start, planned_end, last_event_id, last_event_at) VALUES "
                        "(:id, :pf, :pg, :code, :name, 'proposed', :cur, :ps, :pe, :eid, :t)"
                    ),
                    {
                        "id": decoded.project_id,
                        "pf": decoded.portfolio_id,
                        "pg": decoded.programme_id,
                        "code": decoded.code,
                        "name": decoded.name,
                        "cur": decoded.currency,
                        "ps": decoded.planned_start,
                        "pe": decoded.planned_end,
                        "eid": event.event_id,
                        "t": event.time,
                    },
                )
                await record_project_scope(conn, decoded)
            case projects.MilestonePlanned():
                await conn.execute(
                    text(
                        "INSERT INTO portfolio_milestones (milestone_id, project_id, name, due_date, planned_value, "
                        "currency, planned_event) VALUES (:id, :p, :n, :d, :pv, :cur, :eid)"
                    ),
                    {
                        "id": decoded.milestone_id,
                        "p": decoded.project_id,
                        "n": decoded.name,
                        "d": decoded.due_date,
                        "pv": decoded.planned_value.amount,
                        "cur": decoded.planned_value.currency,
                        "eid": event.event_id,
                    },
                )
                await conn.execute(
                    text(
                        "UPDATE portfolio_projects SET milestones = milestones + 1, "
                        "planned_value = planned_value + :pv, last_event_id = :eid, last_event_at = :t "
                        "WHERE project_id = :p"
                    ),
                    {
                        "pv": decoded.planned_value.amount,
                        "eid": event.event_id,
                        "t": event.time,
                        "p": decoded.project_id,
                    },
                )
            case edits.ProjectMoved() | edits.ProjectDetailsChanged() | edits.MilestoneValueChangeApproved():
                await _project_edit(conn, decoded, event)
            case projects.PortfolioCreated() | projects.ProgrammeCreated():
                kind, gid = _grouping_of(decoded)
                await conn.execute(
                    text(
                        "INSERT INTO portfolio_groupings (kind, grouping_id, portfolio_id, name) "
                        "VALUES (:k, :g, :p, :n) ON CONFLICT (kind, grouping_id) DO NOTHING"
                    ),
                    {"k": kind, "g": gid, "p": decoded.portfolio_id, "n": decoded.name},
                )
            case edits.PortfolioRenamed() | edits.ProgrammeRenamed():
                kind, gid = _grouping_of(decoded)
                await conn.execute(
                    text("UPDATE portfolio_groupings SET name = :n WHERE kind = :k AND grouping_id = :g"),
                    {"k": kind, "g": gid, "n": decoded.name},
                )
            case edits.PortfolioClosed() | edits.ProgrammeClosed():
                kind, gid = _grouping_of(decoded)
                await conn.execute(
                    text("UPDATE portfolio_groupings SET closed_on = :c WHERE kind = :k AND grouping_id = :g"),
                    {"k": kind, "g": gid, "c": decoded.closed_on},
                )


_EDITS = frozenset(
    {
        edits.ProjectMoved.event_name,
        edits.ProjectDetailsChanged.event_name,
        edits.MilestoneValueChangeApproved.event_name,
        projects.PortfolioCreated.event_name,
        projects.ProgrammeCreated.event_name,
        edits.PortfolioRenamed.event_name,
        edits.ProgrammeRenamed.event_name,
        edits.PortfolioClosed.event_name,
        edits.ProgrammeClosed.event_name,
    }
)
"""The events the batch path leaves to :meth:`PortfolioProjection.apply`: the project edits (a move also moves the
project's scope) and the portfolios' and programmes' (``portfolio_groupings``: their names and closing dates)."""


def _grouping_of(event: DomainEvent) -> tuple[str, str]:
    """The kind and id of a portfolio's or programme's event."""
    if isinstance(event, projects.PortfolioCreated | edits.PortfolioRenamed | edits.PortfolioClosed):
        return "portfolio", event.portfolio_id
    assert isinstance(event, projects.ProgrammeCreated | edits.ProgrammeRenamed | edits.ProgrammeClosed)
    return "programme", event.programme_id


async def _project_edit(
    conn: AsyncConnection,
    decoded: edits.ProjectMoved | edits.ProjectDetailsChanged | edits.MilestoneValueChangeApproved,
    event: ConsumedEvent,
) -> None:
    """A moved or renamed project's row; a milestone's new planned value (its project's total by the difference)."""
    stamp = {"p": decoded.project_id, "eid": event.event_id, "t": event.time}
    values: dict[str, Any]
    if isinstance(decoded, edits.ProjectMoved):
        await record_project_move(conn, decoded)
        sql, values = "portfolio_id = :pf, programme_id = :pg", {"pf": decoded.portfolio_id, "pg": decoded.programme_id}
    elif isinstance(decoded, edits.ProjectDetailsChanged):
        sql, values = "name = :n", {"n": decoded.name}
    else:
        delta = decoded.planned_value.amount - decoded.previous_value.amount
        await conn.execute(
            text("UPDATE portfolio_milestones SET planned_value = :pv WHERE milestone_id = :m"),
            {"pv": decoded.planned_value.amount, "m": decoded.milestone_id},
        )
        sql, values = "planned_value = planned_value + :d", {"d": delta}
    await conn.execute(
        text(f"UPDATE portfolio_projects SET {sql}, last_event_id = :eid, last_event_at = :t WHERE project_id = :p"),
        {**stamp, **values},
    )
