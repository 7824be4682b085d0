"""Reporting: the notification tables (webhook subscriptions, people's alert e-mail preferences, the deliveries and
their attempts). A copy of their statements in :data:`reporting.notifications.tables.DDL`.

Revision ID: reporting_0004
Revises: reporting_0003
Create Date: 2027-01-07
"""

from __future__ import annotations

from alembic import op

revision = "reporting_0004"
down_revision: str | None = "reporting_0003"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

STATEMENTS = [
    """
    CREATE TABLE IF NOT EXISTS webhook_subscriptions (
        subscription_id uuid PRIMARY KEY,
        url             text NOT NULL,
        event_types     text[] NOT NULL,
        alert_rules     text[] NOT NULL,
        portfolio_id    text,
        description     text NOT NULL,
        secret          text NOT NULL,
        created_by      text NOT NULL,
        created_at      timestamptz NOT NULL,
        deleted_by      text,
        deleted_at      timestamptz
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS notification_preferences (
        person       text PRIMARY KEY,
        email        text NOT NULL,
        alert_rules  text[] NOT NULL,
        severities   text[] NOT NULL,
        on_cleared   boolean NOT NULL,
        scope_all    boolean NOT NULL,
        portfolios   text[] NOT NULL,
        programmes   text[] NOT NULL,
        manager_key  text NOT NULL,
        created_at   timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS notification_deliveries (
        delivery_id      uuid PRIMARY KEY,
        sequence         bigint GENERATED ALWAYS AS IDENTITY,
        channel          text NOT NULL,
        recipient        text NOT NULL,
        subscription_id  uuid,
        person           text,
        target           text NOT NULL,
        order_key        text NOT NULL,
        event_id         uuid NOT NULL,
        event_type       text NOT NULL,
        payload          text NOT NULL,
        status           text NOT NULL,
        attempts         integer NOT NULL DEFAULT 0,
        round_start      integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL,
        claimed_until    timestamptz,
        created_at       timestamptz NOT NULL,
        finished_at      timestamptz,
        last_error       text,
        UNIQUE (recipient, event_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS notification_deliveries_due ON notification_deliveries (next_attempt_at) "
    "WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS notification_deliveries_queue ON notification_deliveries "
    "(recipient, order_key, sequence) WHERE status = 'pending'",
    "CREATE INDEX IF NOT EXISTS notification_deliveries_log ON notification_deliveries (recipient, sequence)",
    "CREATE INDEX IF NOT EXISTS notification_deliveries_finished ON notification_deliveries (finished_at) "
    "WHERE finished_at IS NOT NULL",
    """
    CREATE TABLE IF NOT EXISTS notification_attempts (
        delivery_id  uuid NOT NULL REFERENCES notification_deliveries ON DELETE CASCADE,
        attempt      integer NOT NULL,
        at           timestamptz NOT NULL,
        status_code  integer,
        latency_ms   integer NOT NULL,
        error        text,
        PRIMARY KEY (delivery_id, attempt)
    )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in (
        "notification_attempts",
        "notification_deliveries",
        "notification_preferences",
        "webhook_subscriptions",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
