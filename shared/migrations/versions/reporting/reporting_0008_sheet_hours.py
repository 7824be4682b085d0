"""Reporting: ``sheet_hours``, each approved work sheet's hours (a reversal's negated) by person and ISO week, kept
by the facts consumer with the ledger, so the utilisation heat map sums them from one index instead of reading every
sheet's JSON in the ledger for its weeks; filled here from the ledger's sheets, after which the ledger's index on
their week (``facts_sheet_week``, read by nothing else) goes. A copy of the statements in
:data:`reporting.tables.DDL`.

Revision ID: reporting_0008
Revises: reporting_0007
Create Date: 2027-01-09
"""

from __future__ import annotations

from alembic import op

revision = "reporting_0008"
down_revision: str | None = "reporting_0007"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS sheet_hours (
            event_id     uuid PRIMARY KEY,
            resource_id  uuid NOT NULL,
            week         text NOT NULL,
            hours        numeric NOT NULL,
            recorded_at  timestamptz NOT NULL
        )
        """
    )
    op.execute(
        "INSERT INTO sheet_hours (event_id, resource_id, week, hours, recorded_at) "
        "SELECT event_id, (data->>'resource_id')::uuid, data->>'week', "
        "CASE name WHEN 'work-sheet-approved' THEN 1 ELSE -1 END * (data->>'hours')::numeric, recorded_at "
        "FROM facts WHERE service = 'resources' AND name IN ('work-sheet-approved', 'work-sheet-approval-reversed') "
        "ON CONFLICT (event_id) DO NOTHING"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS sheet_hours_week ON sheet_hours (week, recorded_at) INCLUDE (resource_id, hours)"
    )
    op.execute("DROP INDEX IF EXISTS facts_sheet_week")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS facts_sheet_week ON facts ((data->>'week')) "
        "WHERE service = 'resources' AND name IN ('work-sheet-approved', 'work-sheet-approval-reversed')"
    )
    op.execute("DROP TABLE IF EXISTS sheet_hours")
