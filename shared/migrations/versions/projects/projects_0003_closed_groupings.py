"""Projects: a portfolio's or programme's closing date (``groupings.closed_on``; null while open). A copy of the
statement in :data:`projects.tables.DDL`.

Revision ID: projects_0003
Revises: projects_0002
Create Date: 2027-01-07
"""

from __future__ import annotations

from alembic import op

revision = "projects_0003"
down_revision: str | None = "projects_0002"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE groupings ADD COLUMN IF NOT EXISTS closed_on date")


def downgrade() -> None:
    op.execute("ALTER TABLE groupings DROP COLUMN IF EXISTS closed_on")
