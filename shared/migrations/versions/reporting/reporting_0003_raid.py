"""Reporting: the ``raid`` read model (``raid_books``: each project's RAID log as reporting folds it;
``raid_providers``: which projects wait on which provider). A copy of their statements in
:data:`reporting.raid_model.DDL`.

Revision ID: reporting_0003
Revises: reporting_0002
Create Date: 2027-01-06
"""

from __future__ import annotations

from alembic import op

revision = "reporting_0003"
down_revision: str | None = "reporting_0002"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS raid_books (
        project_id  uuid PRIMARY KEY,
        book        jsonb NOT NULL,
        updated_at  timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS raid_providers (
        provider_project_id uuid NOT NULL,
        project_id          uuid NOT NULL,
        PRIMARY KEY (provider_project_id, project_id)
    )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS raid_providers")
    op.execute("DROP TABLE IF EXISTS raid_books")
