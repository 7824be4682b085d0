"""The projects service's query tables.

``projects`` keeps the filterable columns and the whole project view as a document; ``groupings`` keeps the
portfolios and programmes; ``baselines`` every version of each project's performance measurement baseline with when
it was proposed and decided (the events' ``recorded_at``). All are projections of the event table
(:mod:`projects.projections` writes them).
"""

from __future__ import annotations

from projects import people_tables, raid_tables

TABLES = ("projects", "groupings", "baselines", *raid_tables.TABLES)

DDL = [
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
    "ALTER TABLE groupings ADD COLUMN IF NOT EXISTS closed_on date",
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
    *raid_tables.DDL,
    *people_tables.DDL,
]
