"""Reporting: the approvals inbox's read model (``approval_items``: every decision waiting across the services;
``approval_projects``: who registered and who manages each project; ``approval_resources``: whose work a resource's
sheets are). A copy of their statements in :data:`reporting.approvals.model.DDL`.

Revision ID: reporting_0005
Revises: reporting_0004
Create Date: 2027-01-08
"""

from __future__ import annotations

from alembic import op

revision = "reporting_0005"
down_revision: str | None = "reporting_0004"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS approval_items (
        item_key      text PRIMARY KEY,
        kind          text NOT NULL,
        project_id    uuid NOT NULL,
        resource_id   uuid,
        version       integer,
        what          text NOT NULL,
        detail        text,
        amount        numeric,
        currency      text,
        requested_by  text NOT NULL,
        requested_at  timestamptz NOT NULL,
        excluded      text[] NOT NULL,
        params        jsonb NOT NULL,
        pending       boolean NOT NULL,
        event_id      uuid NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS approval_items_waiting ON approval_items (requested_at, item_key) WHERE pending",
    """
    CREATE TABLE IF NOT EXISTS approval_projects (
        project_id  uuid PRIMARY KEY,
        people      text[] NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS approval_resources (
        resource_id  uuid PRIMARY KEY,
        subject_key  text NOT NULL
    )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS approval_resources")
    op.execute("DROP TABLE IF EXISTS approval_projects")
    op.execute("DROP TABLE IF EXISTS approval_items")
