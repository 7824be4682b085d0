"""Reporting: the facts of the resources service other than work sheets (people, capacity, allocations) by an index
of their own, so the utilisation heat map reads them without scanning the whole ledger (at 1,000 projects the scan
took 0.4-0.6 s of the dashboard page to find a few rows among 972,000). A copy of the statement in
:data:`reporting.tables.DDL`.

Revision ID: reporting_0007
Revises: reporting_0006
Create Date: 2027-01-08
"""

from __future__ import annotations

from alembic import op

revision = "reporting_0007"
down_revision: str | None = "reporting_0006"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS facts_resource_plans ON facts (recorded_at) "
        "WHERE service = 'resources' AND name NOT IN ('work-sheet-approved', 'work-sheet-approval-reversed')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS facts_resource_plans")
