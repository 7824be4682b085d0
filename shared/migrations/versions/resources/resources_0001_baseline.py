"""The resources service's own tables (``resources.tables.DDL`` when versioned migrations began).

The first revision of the ``resources`` branch.

Every statement is ``IF NOT EXISTS``: a schema made by the start-time DDL of the releases before versioned
migrations is adopted as it is, with its data, and stamped at this revision.

Revision ID: resources_0001
Revises:
Create Date: 2027-01-04
"""

from __future__ import annotations

from alembic import op

revision = "resources_0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = ("resources",)
depends_on: str | None = None

STATEMENTS = [
    """
        CREATE TABLE IF NOT EXISTS people (
            resource_id  uuid PRIMARY KEY,
            name         text NOT NULL,
            email        text,
            phone        text,
            updated_at   timestamptz NOT NULL DEFAULT now()
        )
    """,
    """
        CREATE TABLE IF NOT EXISTS resources (
            resource_id   uuid PRIMARY KEY,
            kind          text NOT NULL,
            vendor_id     text,
            role          text NOT NULL,
            department    text NOT NULL,
            currency      text NOT NULL,
            erased        boolean NOT NULL,
            version       integer NOT NULL,
            registered_at timestamptz NOT NULL,
            updated_at    timestamptz NOT NULL,
            doc           jsonb NOT NULL
        )
    """,
    "CREATE INDEX IF NOT EXISTS resources_department ON resources (department)",
    "CREATE INDEX IF NOT EXISTS resources_role ON resources (role)",
    """
        CREATE TABLE IF NOT EXISTS resource_capacities (
            resource_id    uuid NOT NULL,
            effective_from date NOT NULL,
            hours          numeric NOT NULL,
            PRIMARY KEY (resource_id, effective_from)
        )
    """,
    """
        CREATE TABLE IF NOT EXISTS allocations (
            allocation_id  uuid PRIMARY KEY,
            resource_id    uuid NOT NULL,
            project_id     uuid NOT NULL,
            milestone_id   uuid,
            hours_per_week numeric NOT NULL,
            starts_on      date NOT NULL,
            ends_on        date NOT NULL,
            ended          boolean NOT NULL,
            over_allocated boolean NOT NULL,
            doc            jsonb NOT NULL
        )
    """,
    "CREATE INDEX IF NOT EXISTS allocations_project ON allocations (project_id, starts_on)",
    "CREATE INDEX IF NOT EXISTS allocations_resource ON allocations (resource_id, starts_on)",
    """
        CREATE TABLE IF NOT EXISTS allocation_weeks (
            resource_id  uuid NOT NULL,
            week_start   date NOT NULL,
            week         text NOT NULL,
            capacity     numeric NOT NULL,
            allocated    numeric NOT NULL,
            PRIMARY KEY (resource_id, week_start)
        )
    """,
    """
        CREATE TABLE IF NOT EXISTS work_sheets (
            sheet_id         uuid PRIMARY KEY,
            resource_id      uuid NOT NULL,
            project_id       uuid NOT NULL,
            week_start       date NOT NULL,
            week             text NOT NULL,
            version          integer NOT NULL,
            status           text NOT NULL,
            approved_version integer,
            submitted_by     text NOT NULL,
            hours            numeric NOT NULL,
            updated_at       timestamptz NOT NULL,
            doc              jsonb NOT NULL
        )
    """,
    "CREATE INDEX IF NOT EXISTS work_sheets_resource ON work_sheets (resource_id, week_start)",
    "CREATE INDEX IF NOT EXISTS work_sheets_project ON work_sheets (project_id, week_start)",
    """
        CREATE TABLE IF NOT EXISTS approved_costs (
            sheet_id     uuid NOT NULL,
            version      integer NOT NULL,
            resource_id  uuid NOT NULL,
            project_id   uuid NOT NULL,
            milestone_id uuid,
            week_start   date NOT NULL,
            currency     text NOT NULL,
            hours        numeric NOT NULL,
            cost         numeric NOT NULL
        )
    """,
    "CREATE INDEX IF NOT EXISTS approved_costs_project ON approved_costs (project_id, week_start)",
    "CREATE INDEX IF NOT EXISTS approved_costs_sheet ON approved_costs (sheet_id)",
    """
        CREATE TABLE IF NOT EXISTS role_rates (
            role           text NOT NULL,
            effective_from date NOT NULL,
            amount         numeric NOT NULL,
            currency       text NOT NULL,
            PRIMARY KEY (role, effective_from)
        )
    """,
    """
        CREATE TABLE IF NOT EXISTS known_projects (
            project_id  uuid PRIMARY KEY,
            currency    text NOT NULL,
            status      text NOT NULL
        )
    """,
    """
        CREATE TABLE IF NOT EXISTS known_milestones (
            milestone_id uuid PRIMARY KEY,
            project_id   uuid NOT NULL
        )
    """,
    "CREATE INDEX IF NOT EXISTS known_milestones_project ON known_milestones (project_id)",
    """
        CREATE TABLE IF NOT EXISTS known_rates (
            base         text NOT NULL,
            quote        text NOT NULL,
            effective_on date NOT NULL,
            rate         numeric NOT NULL,
            source       text NOT NULL,
            PRIMARY KEY (base, quote, effective_on)
        )
    """,
    "CREATE INDEX IF NOT EXISTS known_rates_quote ON known_rates (quote, base, effective_on)",
    """
        CREATE TABLE IF NOT EXISTS department_policies (
            department  text PRIMARY KEY,
            policy      text NOT NULL,
            updated_at  timestamptz NOT NULL
        )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone: drop the schema (and rebuild it by migrating)")
