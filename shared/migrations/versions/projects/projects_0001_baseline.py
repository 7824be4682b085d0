"""The projects service's own tables (``projects.tables.DDL`` when versioned migrations began).

The first revision of the ``projects`` branch.

Every statement is ``IF NOT EXISTS``: a schema made by the start-time DDL of the releases before versioned
migrations is adopted as it is, with its data, and stamped at this revision.

Revision ID: projects_0001
Revises:
Create Date: 2027-01-04
"""

from __future__ import annotations

from alembic import op

revision = "projects_0001"
down_revision: str | None = None
branch_labels: tuple[str, ...] | None = ("projects",)
depends_on: str | None = None

STATEMENTS = [
    """
        CREATE TABLE IF NOT EXISTS projects (
            project_id    uuid PRIMARY KEY,
            portfolio_id  text NOT NULL DEFAULT '',
            programme_id  text,
            code          text NOT NULL,
            name          text NOT NULL,
            status        text NOT NULL,
            manager       text NOT NULL,
            currency      text NOT NULL,
            planned_start date NOT NULL,
            planned_end   date NOT NULL,
            version       integer NOT NULL,
            registered_at timestamptz NOT NULL,
            updated_at    timestamptz NOT NULL,
            doc           jsonb NOT NULL,
            CONSTRAINT projects_portfolio_code_key UNIQUE (portfolio_id, code)
        )
    """,
    "CREATE INDEX IF NOT EXISTS projects_status ON projects (status)",
    "CREATE INDEX IF NOT EXISTS projects_programme ON projects (programme_id)",
    """
        CREATE TABLE IF NOT EXISTS groupings (
            kind          text NOT NULL,
            grouping_id   text NOT NULL,
            portfolio_id  text NOT NULL,
            name          text NOT NULL,
            description   text NOT NULL,
            created_at    timestamptz NOT NULL,
            PRIMARY KEY (kind, grouping_id)
        )
    """,
    """
        CREATE TABLE IF NOT EXISTS baselines (
            project_id    uuid NOT NULL,
            version       integer NOT NULL,
            status        text NOT NULL,
            proposed_at   timestamptz NOT NULL,
            decided_at    timestamptz,
            doc           jsonb NOT NULL,
            PRIMARY KEY (project_id, version)
        )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone: drop the schema (and rebuild it by migrating)")
