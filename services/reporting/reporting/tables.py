"""The reporting service's tables: the ledger of facts and the projects' books (fed by the consumers of the other
services' topics, :mod:`reporting.projections`; ``project_book_snapshots``: a project's books as they stood after
some of its facts, every :data:`reporting.projections.SNAPSHOT_EVERY` facts, from which a report known at a moment is
built without refolding the history; ``sheet_hours``: each approved work sheet's hours, a reversal's negated, by
person and ISO week, for the utilisation heat map), the exchange rates recorded on the budget topic (``fx_rates``:
one row per ``exchange-rate-recorded``, read by :mod:`reporting.rates` for portfolio roll-ups), the portfolio read
model, and the query rows of its own aggregates (alerts, thresholds).
"""

from __future__ import annotations

from reporting import raid_model as raid_model_ddl
from reporting.approvals import model as approvals_ddl

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
    """
    CREATE TABLE IF NOT EXISTS sheet_hours (
        event_id     uuid PRIMARY KEY,
        resource_id  uuid NOT NULL,
        week         text NOT NULL,
        hours        numeric NOT NULL,
        recorded_at  timestamptz NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS sheet_hours_week ON sheet_hours (week, recorded_at) INCLUDE (resource_id, hours)",
    # the resources service's other facts (people, capacity, allocations): the heat map reads them alone
    "CREATE INDEX IF NOT EXISTS facts_resource_plans ON facts (recorded_at) "
    "WHERE service = 'resources' AND name NOT IN ('work-sheet-approved', 'work-sheet-approval-reversed')",
    "CREATE TABLE IF NOT EXISTS dirty_projects (project_id uuid PRIMARY KEY)",
    """
    CREATE TABLE IF NOT EXISTS project_books (
        project_id  uuid PRIMARY KEY,
        books       jsonb NOT NULL,
        facts       integer NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS project_book_snapshots (
        project_id       uuid NOT NULL,
        position         bigint NOT NULL,
        latest_recorded  timestamptz NOT NULL,
        facts            integer NOT NULL,
        books            text NOT NULL,
        PRIMARY KEY (project_id, position, latest_recorded)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS fx_rates (
        event_id      uuid PRIMARY KEY,
        base          text NOT NULL,
        quote         text NOT NULL,
        effective_on  date NOT NULL,
        rate          numeric NOT NULL,
        source        text NOT NULL,
        recorded_at   timestamptz NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS fx_rates_pair ON fx_rates (base, quote, effective_on, recorded_at)",
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
    "ALTER TABLE thresholds ADD COLUMN IF NOT EXISTS pending jsonb, ADD COLUMN IF NOT EXISTS requested_by text",
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
    *raid_model_ddl.DDL,
    *approvals_ddl.DDL,
    """
    CREATE TABLE IF NOT EXISTS portfolio_groupings (
        kind          text NOT NULL,
        grouping_id   text NOT NULL,
        portfolio_id  text NOT NULL,
        name          text NOT NULL,
        closed_on     date,
        PRIMARY KEY (kind, grouping_id)
    )
    """,
]

READ_MODEL_TABLES = (
    "portfolio_projects",
    "portfolio_milestones",
    "portfolio_groupings",
    "facts",
    "sheet_hours",
    "project_books",
    "project_book_snapshots",
    "fx_rates",
)
PROJECT_COLUMNS = (
    "project_id",
    "portfolio_id",
    "programme_id",
    "code",
    "name",
    "status",
    "currency",
    "planned_start",
    "planned_end",
    "milestones",
    "planned_value",
    "last_event_id",
    "last_event_at",
)
"""The columns of ``portfolio_projects``, in the order the portfolio projection copies them."""
