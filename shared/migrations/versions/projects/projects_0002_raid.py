"""Projects: the RAID logs' query tables (``raid_items``, ``raid_logs``). A copy of their statements in
:data:`projects.raid_tables.DDL`.

Revision ID: projects_0002
Revises: projects_0001
Create Date: 2027-01-06
"""

from __future__ import annotations

from alembic import op

revision = "projects_0002"
down_revision: str | None = "projects_0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS raid_items (
        project_id          uuid NOT NULL,
        item_id             uuid NOT NULL,
        kind                text NOT NULL,
        status              text NOT NULL,
        provider_project_id uuid,
        updated_at          timestamptz NOT NULL,
        doc                 jsonb NOT NULL,
        PRIMARY KEY (project_id, item_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS raid_items_provider ON raid_items (provider_project_id) "
    "WHERE provider_project_id IS NOT NULL",
    """
    CREATE TABLE IF NOT EXISTS raid_logs (
        project_id    uuid PRIMARY KEY,
        version       integer NOT NULL,
        updated_at    timestamptz NOT NULL
    )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS raid_logs")
    op.execute("DROP TABLE IF EXISTS raid_items")
