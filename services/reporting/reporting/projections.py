"""Read models of the reporting service, fed from Kafka by :class:`shared.consumer.ProjectionConsumer`.

Each projection decodes other services' events with their published contracts (``shared.contracts``) only.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts import projects
from shared.kafka import ConsumedEvent

DDL = [
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

READ_MODEL_TABLES = ("portfolio_projects", "portfolio_milestones")


class PortfolioProjection:
    """Projects and their planned milestones, per portfolio (``pmo.projects.v1``)."""

    name = "reporting.portfolio"
    topics = (projects.TOPIC,)

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
