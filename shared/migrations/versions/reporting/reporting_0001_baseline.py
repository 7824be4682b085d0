"""The reporting service's own tables (``reporting.tables.DDL`` when versioned migrations began).

The first revision of the ``reporting`` branch.

Every statement is ``IF NOT EXISTS``: a schema made by the start-time DDL of the releases before versioned
migrations is adopted as it is, with its data, and stamped at this revision.

Revision ID: reporting_0001
Revises:
Create Date: 2027-01-04
"""

from __future__ import annotations

from alembic import op

revision = "reporting_0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = ("reporting",)
depends_on: str | None = None

STATEMENTS = [
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
    "CREATE INDEX IF NOT EXISTS facts_sheet_week ON facts ((data->>'week')) WHERE service = 'resources' "
    "AND name IN ('work-sheet-approved', 'work-sheet-approval-reversed')",
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
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone: drop the schema (and rebuild it by migrating)")
