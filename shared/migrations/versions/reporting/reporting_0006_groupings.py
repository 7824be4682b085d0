"""Reporting: the portfolios and programmes as the portfolio read model knows them, with their names and closing
dates (``portfolio_groupings``). A copy of the statement in :data:`reporting.tables.DDL`.

Revision ID: reporting_0006
Revises: reporting_0005
Create Date: 2027-01-07
"""

from __future__ import annotations

from alembic import op

revision = "reporting_0006"
down_revision: str | None = "reporting_0005"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS portfolio_groupings (
            kind          text NOT NULL,
            grouping_id   text NOT NULL,
            portfolio_id  text NOT NULL,
            name          text NOT NULL,
            closed_on     date,
            PRIMARY KEY (kind, grouping_id)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS portfolio_groupings")
