"""Reporting: a snapshot of a project's books is known by its ledger position *and* its latest recording time (the
primary key of ``project_book_snapshots``), since it holds exactly the project's facts at or below that position and
recorded by that time. Keyed by position alone, the snapshots a read known at a moment keeps as it applies the facts
in recording order after a bulk catch-up all had the same position (the highest, once it applied a fact recorded
early but consumed last) and none was stored: every such read applied the project's whole history again (a 1,961-fact
project read known at a past moment took p50 71-76 ms at full size). A copy of the statement in
:data:`reporting.tables.DDL`.

Revision ID: reporting_0009
Revises: reporting_0008
Create Date: 2027-01-10
"""

from __future__ import annotations

from alembic import op

revision = "reporting_0009"
down_revision: str | None = "reporting_0008"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE project_book_snapshots DROP CONSTRAINT IF EXISTS project_book_snapshots_pkey")
    op.execute("ALTER TABLE project_book_snapshots ADD PRIMARY KEY (project_id, position, latest_recorded)")


def downgrade() -> None:
    # snapshots are a cache of the ledger: of those sharing a position, the one holding the most facts stays
    op.execute(
        "DELETE FROM project_book_snapshots s USING project_book_snapshots t WHERE s.project_id = t.project_id "
        "AND s.position = t.position AND (s.facts, s.latest_recorded) < (t.facts, t.latest_recorded)"
    )
    op.execute("ALTER TABLE project_book_snapshots DROP CONSTRAINT IF EXISTS project_book_snapshots_pkey")
    op.execute("ALTER TABLE project_book_snapshots ADD PRIMARY KEY (project_id, position)")
