"""Read models of the reporting service, fed from Kafka by :class:`shared.consumer.ProjectionConsumer`.

Each projection decodes other services' events with their published contracts (``shared.contracts``) only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from reporting.domain.alerts import Alert
from shared.contracts import budget, projects, resources
from shared.contracts.alerts import AlertRaised
from shared.events import RecordedEvent
from shared.jsonable import jsonable
from shared.kafka import ConsumedEvent

FACT_TOPICS = (projects.TOPIC, budget.TOPIC, resources.TOPIC, "pmo.invoicing.v1")

DDL = [
    """
    CREATE TABLE IF NOT EXISTS facts (
        position     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project_id   uuid NOT NULL,
        event_id     uuid NOT NULL UNIQUE,
        service      text NOT NULL,
        name         text NOT NULL,
        version      integer NOT NULL,
        recorded_at  timestamptz NOT NULL,
        data         jsonb NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS facts_project ON facts (project_id, recorded_at, position)",
    "CREATE TABLE IF NOT EXISTS dirty_projects (project_id uuid PRIMARY KEY)",
    """
    CREATE TABLE IF NOT EXISTS resource_facts (
        position     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        resource_id  uuid NOT NULL,
        event_id     uuid NOT NULL UNIQUE,
        name         text NOT NULL,
        version      integer NOT NULL,
        recorded_at  timestamptz NOT NULL,
        data         jsonb NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS alerts (
        alert_id        text PRIMARY KEY,
        project_id      uuid NOT NULL,
        portfolio_id    text,
        rule            text NOT NULL,
        subject         text NOT NULL,
        status          text NOT NULL,
        severity        text NOT NULL,
        title           text NOT NULL,
        figures         jsonb NOT NULL,
        evidence        jsonb NOT NULL,
        acknowledged_by text,
        raised_at       timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL,
        cleared_at      timestamptz,
        version         integer NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS alerts_project ON alerts (project_id, status)",
    "CREATE TABLE IF NOT EXISTS thresholds (portfolio_id text PRIMARY KEY, thresholds jsonb NOT NULL)",
    """
    CREATE TABLE IF NOT EXISTS portfolio_projects (
        project_id       uuid PRIMARY KEY,
        portfolio_id     text,
        programme_id     text,
        code             text NOT NULL,
        name             text NOT NULL,
        status           text NOT NULL,
        currency         text NOT NULL,
        planned_start    date NOT NULL,
        planned_end      date NOT NULL,
        milestones       integer NOT NULL DEFAULT 0,
        planned_value    numeric NOT NULL DEFAULT 0,
        last_event_id    uuid NOT NULL,
        last_event_at    timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS portfolio_milestones (
        milestone_id   uuid PRIMARY KEY,
        project_id     uuid NOT NULL,
        name           text NOT NULL,
        due_date       date NOT NULL,
        planned_value  numeric NOT NULL,
        currency       text NOT NULL,
        planned_event  uuid NOT NULL
    )
    """,
]

READ_MODEL_TABLES = ("portfolio_projects", "portfolio_milestones", "facts")


def _check_contract(event: ConsumedEvent) -> None:
    """A known event type must validate against its contract, or it is not a fact (the consumer dead-letters it);
    types this version does not know are kept (reports ignore them until they learn them)."""
    from reporting.domain.ledger import REGISTRIES

    registry = REGISTRIES.get(event.service)
    if registry is not None and (event.name, event.version) in registry:
        registry.decode(event.name, event.version, event.data)


class FactsProjection:
    """Every event about a project, from every service's topic, into the ``facts`` ledger the figures are computed
    from; the project is marked for the alert evaluator."""

    name = "reporting.facts"
    topics = FACT_TOPICS
    tables = ("facts", "dirty_projects", "resource_facts")

    async def apply_batch(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
        """The same as :meth:`apply` for many events, in three statements (replay and catch-up speed)."""
        facts, resource_facts = [], []
        for event in events:
            _check_contract(event)
            if event.key.startswith("resource:") and event.service == "resources":
                resource_facts.append((uuid.UUID(event.key.removeprefix("resource:")), event))
                continue
            try:
                facts.append((uuid.UUID(event.key), event))
            except ValueError:
                continue
        if facts:
            await conn.execute(
                text(
                    "INSERT INTO facts (project_id, event_id, service, name, version, recorded_at, data) "
                    "SELECT * FROM unnest(CAST(:p AS uuid[]), CAST(:e AS uuid[]), CAST(:s AS text[]), "
                    "CAST(:n AS text[]), CAST(:v AS integer[]), CAST(:t AS timestamptz[]), CAST(:d AS jsonb[])) "
                    "ON CONFLICT (event_id) DO NOTHING"
                ),
                {
                    "p": [p for p, _ in facts],
                    "e": [e.event_id for _, e in facts],
                    "s": [e.service for _, e in facts],
                    "n": [e.name for _, e in facts],
                    "v": [e.version for _, e in facts],
                    "t": [e.time for _, e in facts],
                    "d": [json.dumps(e.data) for _, e in facts],
                },
            )
            await conn.execute(
                text(
                    "INSERT INTO dirty_projects (project_id) SELECT DISTINCT unnest(CAST(:p AS uuid[])) "
                    "ON CONFLICT DO NOTHING"
                ),
                {"p": list({p for p, _ in facts})},
            )
        if resource_facts:
            await conn.execute(
                text(
                    "INSERT INTO resource_facts (resource_id, event_id, name, version, recorded_at, data) "
                    "SELECT * FROM unnest(CAST(:r AS uuid[]), CAST(:e AS uuid[]), CAST(:n AS text[]), "
                    "CAST(:v AS integer[]), CAST(:t AS timestamptz[]), CAST(:d AS jsonb[])) "
                    "ON CONFLICT (event_id) DO NOTHING"
                ),
                {
                    "r": [r for r, _ in resource_facts],
                    "e": [e.event_id for _, e in resource_facts],
                    "n": [e.name for _, e in resource_facts],
                    "v": [e.version for _, e in resource_facts],
                    "t": [e.time for _, e in resource_facts],
                    "d": [json.dumps(e.data) for _, e in resource_facts],
                },
            )

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        _check_contract(event)
        if event.key.startswith("resource:") and event.service == "resources":
            await conn.execute(
                text(
                    "INSERT INTO resource_facts (resource_id, event_id, name, version, recorded_at, data) "
                    "VALUES (:r, :e, :n, :v, :t, :d) ON CONFLICT (event_id) DO NOTHING"
                ),
                {
                    "r": uuid.UUID(event.key.removeprefix("resource:")),
                    "e": event.event_id,
                    "n": event.name,
                    "v": event.version,
                    "t": event.time,
                    "d": json.dumps(event.data),
                },
            )
            return
        try:
            project_id = uuid.UUID(event.key)
        except ValueError:
            return  # portfolio, role or department events: not about one project
        await conn.execute(
            text(
                "INSERT INTO facts (project_id, event_id, service, name, version, recorded_at, data) "
                "VALUES (:p, :e, :s, :n, :v, :t, :d) ON CONFLICT (event_id) DO NOTHING"
            ),
            {
                "p": project_id,
                "e": event.event_id,
                "s": event.service,
                "n": event.name,
                "v": event.version,
                "t": event.time,
                "d": json.dumps(event.data),
            },
        )
        await conn.execute(
            text("INSERT INTO dirty_projects (project_id) VALUES (:p) ON CONFLICT DO NOTHING"), {"p": project_id}
        )


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
    elif isinstance(state, dict):
        portfolio_id = next((getattr(r.event, "portfolio_id", None) for r in events), None)
        await conn.execute(
            text(
                "INSERT INTO thresholds (portfolio_id, thresholds) VALUES (:p, :t) "
                "ON CONFLICT (portfolio_id) DO UPDATE SET thresholds = excluded.thresholds"
            ),
            {"p": portfolio_id, "t": json.dumps(state)},
        )


class PortfolioProjection:
    """Projects and their planned milestones, per portfolio (``pmo.projects.v1``)."""

    name = "reporting.portfolio"
    topics = (projects.TOPIC,)
    tables = ("portfolio_projects", "portfolio_milestones")

    async def apply_batch(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
        """The same as :meth:`apply` for a batch of one partition (registrations come before their milestones)."""
        registered, planned = [], []
        for event in events:
            if event.service != "projects" or (event.name, event.version) not in projects.REGISTRY:
                continue
            decoded = projects.REGISTRY.decode(event.name, event.version, event.data)
            if isinstance(decoded, projects.ProjectRegistered):
                registered.append((decoded, event))
            elif isinstance(decoded, projects.MilestonePlanned):
                planned.append((decoded, event))
        if registered:
            await conn.execute(
                text(
                    "INSERT INTO portfolio_projects (project_id, portfolio_id, programme_id, code, name, status, "
                    "currency, planned_start, planned_end, last_event_id, last_event_at) SELECT p, pf, pg, c, n, "
                    "'proposed', cur, ps, pe, eid, t FROM unnest(CAST(:p AS uuid[]), CAST(:pf AS text[]), "
                    "CAST(:pg AS text[]), CAST(:c AS text[]), CAST(:n AS text[]), CAST(:cur AS text[]), "
                    "CAST(:ps AS date[]), CAST(:pe AS date[]), CAST(:eid AS uuid[]), CAST(:t AS timestamptz[])) "
                    "AS x(p, pf, pg, c, n, cur, ps, pe, eid, t)"
                ),
                {
                    "p": [d.project_id for d, _ in registered],
                    "pf": [d.portfolio_id for d, _ in registered],
                    "pg": [d.programme_id for d, _ in registered],
                    "c": [d.code for d, _ in registered],
                    "n": [d.name for d, _ in registered],
                    "cur": [d.currency for d, _ in registered],
                    "ps": [d.planned_start for d, _ in registered],
                    "pe": [d.planned_end for d, _ in registered],
                    "eid": [e.event_id for _, e in registered],
                    "t": [e.time for _, e in registered],
                },
            )
        if planned:
            await conn.execute(
                text(
                    "INSERT INTO portfolio_milestones (milestone_id, project_id, name, due_date, planned_value, "
                    "currency, planned_event) SELECT * FROM unnest(CAST(:m AS uuid[]), CAST(:p AS uuid[]), "
                    "CAST(:n AS text[]), CAST(:d AS date[]), CAST(:pv AS numeric[]), CAST(:cur AS text[]), "
                    "CAST(:eid AS uuid[]))"
                ),
                {
                    "m": [d.milestone_id for d, _ in planned],
                    "p": [d.project_id for d, _ in planned],
                    "n": [d.name for d, _ in planned],
                    "d": [d.due_date for d, _ in planned],
                    "pv": [d.planned_value.amount for d, _ in planned],
                    "cur": [d.planned_value.currency for d, _ in planned],
                    "eid": [e.event_id for _, e in planned],
                },
            )
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
                    "p": [d.project_id for d, _ in planned],
                    "pv": [d.planned_value.amount for d, _ in planned],
                    "eid": [e.event_id for _, e in planned],
                    "t": [e.time for _, e in planned],
                },
            )

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if event.service != "projects" or (event.name, event.version) not in projects.REGISTRY:
            return  # another version or an event this read model does not use
        decoded = projects.REGISTRY.decode(event.name, event.version, event.data)
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
