"""The budget service's own tables (``budget.tables.DDL`` when versioned migrations began).

The first revision of the ``budget`` branch.

Every statement is ``IF NOT EXISTS``: a schema made by the start-time DDL of the releases before versioned
migrations is adopted as it is, with its data, and stamped at this revision.

Revision ID: budget_0001
Revises:
Create Date: 2027-01-04
"""

from __future__ import annotations

from alembic import op

revision = "budget_0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = ("budget",)
depends_on: str | None = None

STATEMENTS = [
    """
        CREATE TABLE IF NOT EXISTS known_projects (
            project_id  uuid PRIMARY KEY,
            code        text NOT NULL,
            currency    text NOT NULL,
            status      text NOT NULL
        )
    """,
    """
        CREATE TABLE IF NOT EXISTS known_milestones (
            milestone_id uuid PRIMARY KEY,
            project_id   uuid NOT NULL,
            name         text NOT NULL,
            due_date     date NOT NULL
        )
    """,
    "ALTER TABLE known_projects ADD COLUMN IF NOT EXISTS manager text",
    "CREATE INDEX IF NOT EXISTS known_milestones_project ON known_milestones (project_id)",
    """
        CREATE TABLE IF NOT EXISTS budgets (
            project_id  uuid PRIMARY KEY,
            currency    text NOT NULL,
            version     integer NOT NULL,
            updated_at  timestamptz NOT NULL,
            doc         jsonb NOT NULL
        )
    """,
    """
        CREATE TABLE IF NOT EXISTS commitments (
            commitment_id uuid PRIMARY KEY,
            project_id    uuid NOT NULL,
            kind          text NOT NULL,
            vendor        text NOT NULL,
            reference     text NOT NULL,
            category      text NOT NULL,
            milestone_id  uuid,
            status        text NOT NULL,
            amount        numeric NOT NULL,
            currency      text NOT NULL,
            doc           jsonb NOT NULL
        )
    """,
    "CREATE INDEX IF NOT EXISTS commitments_project ON commitments (project_id, status)",
    """
        CREATE TABLE IF NOT EXISTS estimates (
            estimate_id  uuid PRIMARY KEY,
            project_id   uuid NOT NULL,
            as_of        date NOT NULL,
            recorded_at  timestamptz NOT NULL,
            doc          jsonb NOT NULL
        )
    """,
    "CREATE INDEX IF NOT EXISTS estimates_project ON estimates (project_id, recorded_at DESC, estimate_id DESC)",
    """
        CREATE TABLE IF NOT EXISTS exchange_rates (
            base          text NOT NULL,
            quote         text NOT NULL,
            effective_on  date NOT NULL,
            rate          numeric NOT NULL,
            source        text NOT NULL,
            recorded_by   text NOT NULL,
            recorded_at   timestamptz NOT NULL,
            replaces_rate numeric,
            PRIMARY KEY (base, quote, effective_on)
        )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone: drop the schema (and rebuild it by migrating)")
