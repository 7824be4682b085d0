"""The budget service's tables.

* ``known_projects`` / ``known_milestones``: reference data consumed from ``pmo.projects.v1`` (a budget is only
  baselined for a project this service has seen registered; its manager submits the estimates to complete);
* ``budgets``, ``commitments`` and ``estimates``: query tables written from the budget's state and events in the
  command's transaction;
* ``exchange_rates``: the rate in force from each effective date per currency pair, written from the
  ``exchange-rate`` streams in the command's transaction (the handlers read it through ``BudgetFacts``).
"""

from __future__ import annotations

TABLES = ("budgets", "commitments", "estimates", "exchange_rates")
"""The query tables the projector writes (and a rebuild empties)."""

DDL = [
    """
    CREATE TABLE IF NOT EXISTS known_projects (
        project_id  uuid PRIMARY KEY,
        code        text NOT NULL,
        currency    text NOT NULL,
        status      text NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS known_milestones (
        milestone_id uuid PRIMARY KEY,
        project_id   uuid NOT NULL,
        name         text NOT NULL,
        due_date     date NOT NULL
    )
    """,
    "ALTER TABLE known_projects ADD COLUMN IF NOT EXISTS manager text",
    "CREATE INDEX IF NOT EXISTS known_milestones_project ON known_milestones (project_id)",
    """
    CREATE TABLE IF NOT EXISTS budgets (
        project_id  uuid PRIMARY KEY,
        currency    text NOT NULL,
        version     integer NOT NULL,
        updated_at  timestamptz NOT NULL,
        doc         jsonb NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS commitments (
        commitment_id uuid PRIMARY KEY,
        project_id    uuid NOT NULL,
        kind          text NOT NULL,
        vendor        text NOT NULL,
        reference     text NOT NULL,
        category      text NOT NULL,
        milestone_id  uuid,
        status        text NOT NULL,
        amount        numeric NOT NULL,
        currency      text NOT NULL,
        doc           jsonb NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS commitments_project ON commitments (project_id, status)",
    """
    CREATE TABLE IF NOT EXISTS estimates (
        estimate_id  uuid PRIMARY KEY,
        project_id   uuid NOT NULL,
        as_of        date NOT NULL,
        recorded_at  timestamptz NOT NULL,
        doc          jsonb NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS estimates_project ON estimates (project_id, recorded_at DESC, estimate_id DESC)",
    """
    CREATE TABLE IF NOT EXISTS exchange_rates (
        base          text NOT NULL,
        quote         text NOT NULL,
        effective_on  date NOT NULL,
        rate          numeric NOT NULL,
        source        text NOT NULL,
        recorded_by   text NOT NULL,
        recorded_at   timestamptz NOT NULL,
        replaces_rate numeric,
        PRIMARY KEY (base, quote, effective_on)
    )
    """,
]
