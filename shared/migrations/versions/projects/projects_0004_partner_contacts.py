"""Projects: partners' names and contact details in an erasable table (``partner_contacts``), kept out of every
event. A copy of the statements in :data:`projects.people_tables.DDL`.

Revision ID: projects_0004
Revises: projects_0003
Create Date: 2027-01-07
"""

from __future__ import annotations

from alembic import op

revision = "projects_0004"
down_revision: str | None = "projects_0003"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS partner_contacts (
        partner_id    uuid PRIMARY KEY,
        project_id    uuid NOT NULL,
        name          text NOT NULL,
        email         text,
        phone         text,
        updated_at    timestamptz NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS partner_contacts_project ON partner_contacts (project_id)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS partner_contacts")
