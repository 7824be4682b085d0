"""The notification tables' statements: subscriptions, preferences, the delivery log, and the sender's claims.

A delivery is *due* when it is pending, its next attempt has come, no live claim holds it, and no earlier pending
delivery of the same recipient and project (``order_key``) waits before it: a project's next message waits for the
previous one (delivered or dead). The sender claims due deliveries for a lease (``FOR UPDATE SKIP LOCKED``: every
replica may send, none sends the same one at once); a claim whose sender died expires and the delivery is sent again
(at least once: receivers drop a repeated ``webhook-id``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

SUBSCRIPTION_COLUMNS = (
    "subscription_id, url, event_types, alert_rules, portfolio_id, description, created_by, created_at"
)
DELIVERY_COLUMNS = (
    "delivery_id, channel, subscription_id, person, target, order_key, event_id, event_type, status, attempts, "
    "round_start, next_attempt_at, created_at, finished_at, last_error"
)


async def count_live_subscriptions(conn: AsyncConnection) -> int:
    rows = await conn.execute(text("SELECT count(*) FROM webhook_subscriptions WHERE deleted_at IS NULL"))
    return int(rows.scalar_one())


async def insert_subscription(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(
        text(
            "INSERT INTO webhook_subscriptions (subscription_id, url, event_types, alert_rules, portfolio_id, "
            "description, secret, created_by, created_at) VALUES (:subscription_id, :url, :event_types, "
            ":alert_rules, :portfolio_id, :description, :secret, :created_by, :created_at)"
        ),
        row,
    )


async def subscription(
    engine: AsyncEngine, subscription_id: uuid.UUID, *, retired: bool = False
) -> dict[str, Any] | None:
    """A live subscription (``retired``: or a retired one, whose delivery log stays readable until retention)."""
    live = "" if retired else " AND deleted_at IS NULL"
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE subscription_id = :id{live}"),
                {"id": subscription_id},
            )
        ).first()
        return dict(row._mapping) if row is not None else None


async def subscriptions_page(
    engine: AsyncEngine, limit: int, offset: int, portfolios: Sequence[str] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """The live subscriptions, oldest first; ``portfolios``: only those filtered to one of them."""
    where = "deleted_at IS NULL" + ("" if portfolios is None else " AND portfolio_id = ANY(CAST(:pf AS text[]))")
    params: dict[str, Any] = {"limit": limit, "offset": offset, "pf": list(portfolios or [])}
    async with engine.connect() as conn:
        total = (
            await conn.execute(text(f"SELECT count(*) FROM webhook_subscriptions WHERE {where}"), params)
        ).scalar_one()
        rows = await conn.execute(
            text(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE {where} "
                "ORDER BY created_at, subscription_id LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        return int(total), [dict(r._mapping) for r in rows]


async def delete_subscription(engine: AsyncEngine, subscription_id: uuid.UUID, by: str, at: datetime) -> bool:
    """Retire a subscription and cancel its pending deliveries, in one transaction; False if it was not live."""
    async with engine.begin() as conn:
        done = await conn.execute(
            text(
                "UPDATE webhook_subscriptions SET deleted_by = :by, deleted_at = :at WHERE subscription_id = :id "
                "AND deleted_at IS NULL"
            ),
            {"id": subscription_id, "by": by, "at": at},
        )
        if done.rowcount == 0:
            return False
        await conn.execute(
            text(
                "UPDATE notification_deliveries SET status = 'cancelled', finished_at = :at, claimed_until = NULL "
                "WHERE recipient = :r AND status = 'pending'"
            ),
            {"r": str(subscription_id), "at": at},
        )
        return True


async def deliveries_page(
    engine: AsyncEngine, recipient: str, status: str | None, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """A recipient's deliveries, newest first, each with its attempts (oldest first)."""
    where = "recipient = :r" + (" AND status = :status" if status else "")
    params: dict[str, Any] = {"r": recipient, "status": status, "limit": limit, "offset": offset}
    async with engine.connect() as conn:
        total = (
            await conn.execute(text(f"SELECT count(*) FROM notification_deliveries WHERE {where}"), params)
        ).scalar_one()
        rows = [
            dict(r._mapping)
            for r in await conn.execute(
                text(
                    f"SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE {where} "
                    "ORDER BY sequence DESC LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ]
        await _with_attempts(conn, rows)
        return int(total), rows


async def _with_attempts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    attempts = await conn.execute(
        text(
            "SELECT delivery_id, attempt, at, status_code, latency_ms, error FROM notification_attempts "
            "WHERE delivery_id = ANY(CAST(:ids AS uuid[])) ORDER BY delivery_id, attempt"
        ),
        {"ids": [r["delivery_id"] for r in rows]},
    )
    by_delivery: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for a in attempts:
        by_delivery.setdefault(a.delivery_id, []).append({k: v for k, v in a._mapping.items() if k != "delivery_id"})
    for row in rows:
        row["attempt_log"] = by_delivery.get(row["delivery_id"], [])


async def delivery(engine: AsyncEngine, recipient: str, delivery_id: uuid.UUID) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    f"SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE delivery_id = :id AND recipient = :r"
                ),
                {"id": delivery_id, "r": recipient},
            )
        ).first()
        if row is None:
            return None
        found = [dict(row._mapping)]
        await _with_attempts(conn, found)
        return found[0]


async def redeliver(engine: AsyncEngine, recipient: str, delivery_id: uuid.UUID, at: datetime) -> str | None:
    """Send a finished delivery again (a fresh round of attempts, its log kept). Returns its status before: None
    when it does not exist; ``pending`` when it was still pending (nothing changed)."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT status FROM notification_deliveries WHERE delivery_id = :id AND recipient = :r FOR UPDATE"
                ),
                {"id": delivery_id, "r": recipient},
            )
        ).first()
        if row is None or row.status == "pending":
            return None if row is None else str(row.status)
        await conn.execute(
            text(
                "UPDATE notification_deliveries SET status = 'pending', round_start = attempts, next_attempt_at = :at, "
                "finished_at = NULL, claimed_until = NULL WHERE delivery_id = :id"
            ),
            {"id": delivery_id, "at": at},
        )
        return str(row.status)


async def put_preferences(engine: AsyncEngine, row: dict[str, Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO notification_preferences (person, email, alert_rules, severities, on_cleared, scope_all, "
                "portfolios, programmes, manager_key, created_at, updated_at) VALUES (:person, :email, :alert_rules, "
                ":severities, :on_cleared, :scope_all, :portfolios, :programmes, :manager_key, :updated_at, "
                ":updated_at) "
                "ON CONFLICT (person) DO UPDATE SET email = excluded.email, alert_rules = excluded.alert_rules, "
                "severities = excluded.severities, on_cleared = excluded.on_cleared, scope_all = excluded.scope_all, "
                "portfolios = excluded.portfolios, programmes = excluded.programmes, "
                "manager_key = excluded.manager_key, updated_at = excluded.updated_at"
            ),
            row,
        )


async def preferences(engine: AsyncEngine, person: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT person, email, alert_rules, severities, on_cleared, updated_at "
                    "FROM notification_preferences WHERE person = :p"
                ),
                {"p": person},
            )
        ).first()
        return dict(row._mapping) if row is not None else None


async def delete_preferences(engine: AsyncEngine, person: str, at: datetime) -> bool:
    """Stop a person's e-mails: her preferences removed, her pending e-mails cancelled."""
    async with engine.begin() as conn:
        done = await conn.execute(text("DELETE FROM notification_preferences WHERE person = :p"), {"p": person})
        await conn.execute(
            text(
                "UPDATE notification_deliveries SET status = 'cancelled', finished_at = :at, claimed_until = NULL "
                "WHERE recipient = :r AND status = 'pending'"
            ),
            {"r": f"email:{person}", "at": at},
        )
        return bool(done.rowcount)


# --- the sender's side ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    channel: str
    target: str
    payload: str
    secret: str | None
    attempts: int
    round_start: int


async def claim(engine: AsyncEngine, limit: int, lease: timedelta, now: datetime) -> list[Claimed]:
    """Up to ``limit`` due deliveries, claimed until ``now + lease`` (each the head of its recipient's queue for its
    project), oldest due first."""
    async with engine.begin() as conn:
        rows = await conn.execute(
            text(
                "SELECT d.delivery_id, d.channel, d.target, d.payload, s.secret, d.attempts, d.round_start "
                "FROM notification_deliveries d LEFT JOIN webhook_subscriptions s USING (subscription_id) "
                "WHERE d.status = 'pending' AND d.next_attempt_at <= :now "
                "AND (d.claimed_until IS NULL OR d.claimed_until < :now) "
                "AND NOT EXISTS (SELECT 1 FROM notification_deliveries e WHERE e.status = 'pending' "
                "AND e.recipient = d.recipient AND e.order_key = d.order_key AND e.sequence < d.sequence) "
                "ORDER BY d.next_attempt_at, d.sequence LIMIT :limit FOR UPDATE OF d SKIP LOCKED"
            ),
            {"now": now, "limit": limit},
        )
        claimed = [Claimed(**dict(r._mapping)) for r in rows]
        if claimed:
            await conn.execute(
                text(
                    "UPDATE notification_deliveries SET claimed_until = :until "
                    "WHERE delivery_id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"until": now + lease, "ids": [c.delivery_id for c in claimed]},
            )
        return claimed


async def record_attempt(
    engine: AsyncEngine,
    delivery_id: uuid.UUID,
    *,
    at: datetime,
    status_code: int | None,
    latency_ms: int,
    error: str | None,
    outcome: str,
    next_attempt_at: datetime | None,
) -> None:
    """One attempt and the delivery's new state (``delivered``, ``pending`` again at ``next_attempt_at``, or
    ``dead``) in one transaction. A delivery cancelled or already settled meanwhile keeps its state; the attempt is
    logged all the same."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                text(
                    "UPDATE notification_deliveries SET attempts = attempts + 1, claimed_until = NULL, "
                    "last_error = :error, "
                    "status = CASE WHEN status = 'pending' THEN CAST(:outcome AS text) ELSE status END, "
                    "next_attempt_at = COALESCE(CAST(:next AS timestamptz), next_attempt_at), "
                    "finished_at = CASE WHEN status = 'pending' AND CAST(:outcome AS text) <> 'pending' "
                    "THEN CAST(:at AS timestamptz) ELSE finished_at END "
                    "WHERE delivery_id = :id RETURNING attempts"
                ),
                {"id": delivery_id, "error": error, "outcome": outcome, "next": next_attempt_at, "at": at},
            )
        ).first()
        if row is None:
            return  # removed by retention meanwhile
        await conn.execute(
            text(
                "INSERT INTO notification_attempts (delivery_id, attempt, at, status_code, latency_ms, error) "
                "VALUES (:id, :n, :at, :code, :ms, :error) ON CONFLICT DO NOTHING"
            ),
            {"id": delivery_id, "n": row.attempts, "at": at, "code": status_code, "ms": latency_ms, "error": error},
        )


async def release(engine: AsyncEngine, delivery_ids: Sequence[uuid.UUID]) -> None:
    """Give back the claims of sends cut short (a stop): they are due again at once."""
    if not delivery_ids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE notification_deliveries SET claimed_until = NULL "
                "WHERE delivery_id = ANY(CAST(:ids AS uuid[])) AND status = 'pending'"
            ),
            {"ids": list(delivery_ids)},
        )


async def forget_finished(engine: AsyncEngine, before: datetime, limit: int = 5000) -> int:
    """Remove up to ``limit`` deliveries finished before ``before`` (their attempts go with them)."""
    async with engine.begin() as conn:
        done = await conn.execute(
            text(
                "DELETE FROM notification_deliveries WHERE delivery_id IN (SELECT delivery_id FROM "
                "notification_deliveries WHERE finished_at < :before ORDER BY finished_at LIMIT :limit)"
            ),
            {"before": before, "limit": limit},
        )
        return int(done.rowcount or 0)


async def counts(engine: AsyncEngine) -> dict[tuple[str, str], int]:
    """Deliveries per (channel, state) for the gauges: ``pending`` (not tried yet in this round), ``retrying``
    (pending after a failed attempt) and ``dead``."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT channel, CASE WHEN status = 'pending' AND attempts > round_start THEN 'retrying' "
                "ELSE status END AS state, count(*) AS n FROM notification_deliveries "
                "WHERE status IN ('pending', 'dead') GROUP BY 1, 2"
            )
        )
        return {(r.channel, r.state): int(r.n) for r in rows}


def as_rows(values: Sequence[str]) -> list[str]:
    return sorted(set(values))
