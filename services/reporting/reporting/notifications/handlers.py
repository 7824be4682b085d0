"""The notification use cases called by the routes: make, list, read and retire a webhook subscription, read its
delivery log and redeliver; save, read and remove a person's alert e-mail preferences. Each write is one
transaction; every refusal names its field."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from reporting.notifications import addresses, catalogue, store
from reporting.notifications.settings import EMAIL, NotificationSettings
from reporting.notifications.signing import new_secret
from shared.auth import Principal
from shared.authz import sees_everything
from shared.commands import CommandContext, CommandExecutor, CommandOutcome
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.identity import skeleton
from shared.ids import new_id


def policy_of(settings: NotificationSettings) -> addresses.Policy:
    return addresses.Policy(settings.webhook_allow_loopback, settings.webhook_allow_private)


def check_event_types(values: Sequence[str]) -> list[str]:
    known = catalogue.event_types()
    for index, value in enumerate(values):
        if value not in known:
            raise InvalidCommandError(
                f"unknown event type {value!r}: one of the published contracts' types, written "
                "pmo.<service>.<event-name> (see docs/events/ or docs/asyncapi.yaml)",
                field=f"event_types.{index}",
            )
    return sorted(set(values))


def check_alert_rules(values: Sequence[str], field: str = "alert_rules") -> list[str]:
    for index, value in enumerate(values):
        if value not in catalogue.ALERT_RULES:
            raise InvalidCommandError(
                f"unknown alert rule {value!r}: one of {', '.join(sorted(catalogue.ALERT_RULES))}",
                field=f"{field}.{index}",
            )
    return sorted(set(values))


async def check_url(url: str, policy: addresses.Policy) -> None:
    """The URL's own rules, and its host's addresses when it resolves now (it is checked again at each delivery;
    a name that does not resolve yet is accepted and fails its deliveries until it does)."""
    try:
        target = addresses.parse_target(url, policy)
    except addresses.TargetRefusedError as exc:
        raise InvalidCommandError(str(exc), field="url") from None
    try:
        await addresses.resolve(target, policy)
    except addresses.TargetRefusedError as exc:
        if "does not resolve" not in str(exc) and "resolves to no address" not in str(exc):
            raise InvalidCommandError(str(exc), field="url") from None


def check_portfolio(principal: Principal | None, portfolio_id: str | None) -> None:
    """A caller who does not see every portfolio subscribes only to one of hers (an event stream of the others'
    projects would leave her scope); 422 naming ``portfolio_id`` otherwise."""
    if principal is None or sees_everything(principal):
        return
    if portfolio_id is None:
        raise InvalidCommandError(
            "name one of your portfolios: a subscription to every portfolio needs a caller who sees every one",
            field="portfolio_id",
        )
    if portfolio_id not in principal.portfolios:
        raise InvalidCommandError(f"{portfolio_id!r} is not one of your portfolios", field="portfolio_id")


def visible_portfolios(principal: Principal | None) -> list[str] | None:
    """The portfolios whose subscriptions the caller sees (None: every subscription)."""
    if principal is None or sees_everything(principal):
        return None
    return sorted(principal.portfolios)


def subscription_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "subscription_id": str(row["subscription_id"]),
        "url": row["url"],
        "event_types": list(row["event_types"]),
        "alert_rules": list(row["alert_rules"]),
        "portfolio_id": row["portfolio_id"],
        "description": row["description"],
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat(),
    }


async def create_subscription(
    executor: CommandExecutor,
    ctx: CommandContext,
    settings: NotificationSettings,
    *,
    url: str,
    event_types: Sequence[str],
    alert_rules: Sequence[str],
    portfolio_id: str | None,
    description: str,
    principal: Principal,
    now: datetime,
) -> CommandOutcome[Any]:
    """A new subscription (201); its answer carries the secret, the only time it is shown, except to a retry of the
    same request with the same ``Idempotency-Key`` by the same caller, which gets the first answer back (the
    secret included: the client lost it) and creates nothing."""
    actor = principal.subject
    check_portfolio(principal, portfolio_id)
    types, rules = check_event_types(event_types), check_alert_rules(alert_rules)
    if not types and not rules:
        raise InvalidCommandError("name at least one event type or alert rule", field="event_types")

    async def write(conn: AsyncConnection) -> dict[str, Any]:
        await check_url(url, policy_of(settings))
        row = {
            "subscription_id": new_id(),
            "url": url,
            "event_types": types,
            "alert_rules": rules,
            "portfolio_id": portfolio_id,
            "description": description,
            "secret": new_secret(),
            "created_by": actor,
            "created_at": now,
        }
        await conn.exec_driver_sql("LOCK TABLE webhook_subscriptions IN SHARE ROW EXCLUSIVE MODE")  # the bound holds
        if await store.count_live_subscriptions(conn) >= settings.webhook_max_subscriptions:
            raise RuleViolationError(
                f"at most {settings.webhook_max_subscriptions} live subscriptions (PMO_WEBHOOK_MAX_SUBSCRIPTIONS): "
                "delete one first"
            )
        await store.insert_subscription(conn, row)
        return {**subscription_view(row), "secret": row["secret"]}

    return await executor.run_once(ctx, write, status_code=201)


async def subscription(
    engine: AsyncEngine, subscription_id: uuid.UUID, principal: Principal | None, *, retired: bool = False
) -> dict[str, Any]:
    """The subscription, if the caller sees it (a scoped caller: those of her portfolios); else 404."""
    row = await store.subscription(engine, subscription_id, retired=retired)
    seen = visible_portfolios(principal)
    if row is None or (seen is not None and row["portfolio_id"] not in seen):
        raise NotFoundError(f"webhook subscription {subscription_id} does not exist", field="subscription_id")
    return row


async def delete_subscription(
    engine: AsyncEngine, subscription_id: uuid.UUID, principal: Principal, now: datetime
) -> None:
    await subscription(engine, subscription_id, principal)
    if not await store.delete_subscription(engine, subscription_id, principal.subject, now):
        raise NotFoundError(f"webhook subscription {subscription_id} does not exist", field="subscription_id")


def delivery_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "delivery_id": str(row["delivery_id"]),
        "channel": row["channel"],
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "project": row["order_key"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"].isoformat() if row["status"] == "pending" else None,
        "created_at": row["created_at"].isoformat(),
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
        "last_error": row["last_error"],
        "attempt_log": [
            {
                "attempt": a["attempt"],
                "at": a["at"].isoformat(),
                "status_code": a["status_code"],
                "latency_ms": a["latency_ms"],
                "error": a["error"],
            }
            for a in row.get("attempt_log", [])
        ],
    }


async def redeliver(engine: AsyncEngine, recipient: str, delivery_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    before = await store.redeliver(engine, recipient, delivery_id, now)
    if before is None:
        raise NotFoundError(f"delivery {delivery_id} does not exist", field="delivery_id")
    if before == "pending":
        raise RuleViolationError(f"delivery {delivery_id} is still pending: it is sent (again) without asking")
    found = await store.delivery(engine, recipient, delivery_id)
    assert found is not None  # just updated in this recipient's log
    return delivery_view(found)


async def save_preferences(
    engine: AsyncEngine,
    settings: NotificationSettings,
    principal: Principal,
    *,
    email: str,
    alert_rules: Sequence[str],
    severities: Sequence[str],
    on_cleared: bool,
    now: datetime,
) -> dict[str, Any]:
    """The caller's alert e-mails: her scope as her token gives it now is kept with them (alerts of projects
    outside it are never mailed to her; save again after her scope changes)."""
    if not settings.email_enabled:
        raise RuleViolationError("e-mail notifications are not configured on this deployment (PMO_SMTP_HOST)")
    if not EMAIL.match(email):
        raise InvalidCommandError("not an e-mail address this service sends to (name@domain)", field="email")
    rules = check_alert_rules(alert_rules)
    row = {
        "person": principal.subject,
        "email": email,
        "alert_rules": rules,
        "severities": sorted(set(severities)),
        "on_cleared": on_cleared,
        "scope_all": sees_everything(principal),
        "portfolios": sorted(principal.portfolios),
        "programmes": sorted(principal.programmes),
        "manager_key": skeleton(principal.subject),
        "updated_at": now,
    }
    await store.put_preferences(engine, row)
    return preferences_view(row)


def preferences_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "person": row["person"],
        "email": row["email"],
        "alert_rules": list(row["alert_rules"]),
        "severities": list(row["severities"]),
        "on_cleared": row["on_cleared"],
        "updated_at": row["updated_at"].isoformat(),
    }


async def preferences(engine: AsyncEngine, person: str) -> dict[str, Any]:
    row = await store.preferences(engine, person)
    if row is None:
        raise NotFoundError("you have no notification preferences", field="person")
    return preferences_view(row)
