"""Reporting: ``project_book_snapshots``, a project's books as they stood after some of its facts (a report known at
a moment is built from the latest one before it). A copy of its statement in :data:`reporting.tables.DDL`.

Revision ID: reporting_0002
Revises: reporting_0001
Create Date: 2027-01-05
"""

from __future__ import annotations

from alembic import op

revision = "reporting_0002"
down_revision: str | None = "reporting_0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

STATEMENTS = [
    """
        CREATE TABLE IF NOT EXISTS project_book_snapshots (
            project_id       uuid NOT NULL,
            position         bigint NOT NULL,
            latest_recorded  timestamptz NOT NULL,
            facts            integer NOT NULL,
            books            text NOT NULL,
            PRIMARY KEY (project_id, position)
        )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS project_book_snapshots")
