"""Object-level authorisation (:mod:`shared.authz`): ``project_scopes``, the portfolio, programme and manager of every
project a service knows. A copy of :data:`shared.authz.DDL` as it was at this revision.

Revision ID: runtime_0003
Revises: runtime_0002
Create Date: 2027-01-05
"""

from __future__ import annotations

from alembic import op

revision = "runtime_0003"
down_revision: str | None = "runtime_0002"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

STATEMENTS = [
    """
        CREATE TABLE IF NOT EXISTS project_scopes (
            project_id   uuid PRIMARY KEY,
            portfolio_id text,
            programme_id text,
            manager      text NOT NULL,
            manager_key  text NOT NULL
        )
    """,
    "CREATE INDEX IF NOT EXISTS project_scopes_portfolio ON project_scopes (portfolio_id)",
    "CREATE INDEX IF NOT EXISTS project_scopes_manager ON project_scopes (manager_key)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS project_scopes")
