"""The consumer that turns events into deliveries: every topic, in the transaction that takes the event in (the
consumer's inbox makes each event's deliveries exactly once, like every read model's change; the deliveries' unique
``(recipient, event_id)`` holds it too).

An event matches a live webhook subscription when its type is among the subscription's event types, or it is an
alert event whose rule is among its alert rules; and, for a subscription with a portfolio, when the event's project
(the record's key) belongs to that portfolio (``project_scopes``, which this consumer keeps too from the
registrations it reads; an alert's portfolio is the one its alert row names). An ``alert-raised`` (and, for those
who asked, an ``alert-cleared``) is e-mailed to each person whose preferences take its rule and severity and whose
scope, as saved with the preferences, holds its project. Events of a project a subscription cannot place in a
portfolio yet are not sent under a portfolio filter (see docs/notifications.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from reporting.notifications import catalogue, messages
from shared.authz import record_project_scope
from shared.contracts import TOPICS, projects
from shared.contracts import alerts as alert_contracts
from shared.ids import new_id
from shared.kafka import ConsumedEvent, ce_type


@dataclass(frozen=True)
class Subscription:
    subscription_id: uuid.UUID
    url: str
    event_types: frozenset[str]
    alert_rules: frozenset[str]
    portfolio_id: str | None
    created_at: datetime

    def wants(self, event: ConsumedEvent, kind: str, rule: str | None) -> bool:
        """Whether the event is of a type or an alert rule the subscription names, and recorded since it was made
        (a consumer catching up never floods a new subscription with the past)."""
        if event.time < self.created_at:
            return False
        return kind in self.event_types or (rule is not None and rule in self.alert_rules)


@dataclass
class _Delivery:
    channel: str
    recipient: str
    subscription_id: uuid.UUID | None
    person: str | None
    target: str
    order_key: str
    event_id: uuid.UUID
    event_type: str
    payload: str


async def live_subscriptions(conn: AsyncConnection) -> list[Subscription]:
    rows = await conn.execute(
        text(
            "SELECT subscription_id, url, event_types, alert_rules, portfolio_id, created_at "
            "FROM webhook_subscriptions WHERE deleted_at IS NULL"
        )
    )
    return [
        Subscription(
            r.subscription_id, r.url, frozenset(r.event_types), frozenset(r.alert_rules), r.portfolio_id, r.created_at
        )
        for r in rows
    ]


def webhook_payload(event: ConsumedEvent) -> str:
    """The body a webhook receives: the Standard Webhooks shape (``type``, ``timestamp``, ``data``) with the
    CloudEvents attributes beside (``id`` = the event id, ``source``, ``subject``)."""
    return json.dumps(
        {
            "id": str(event.event_id),
            "type": ce_type(event.service, event.name, event.version),
            "source": f"/pmo/{event.service}",
            "subject": event.subject,
            "timestamp": event.time.astimezone(UTC).isoformat(),
            "data": event.data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _project_of(event: ConsumedEvent) -> uuid.UUID | None:
    try:
        return uuid.UUID(event.key)
    except (ValueError, TypeError):
        return None


WAKERS: set[Callable[[], None]] = set()
"""What a committed batch of deliveries wakes in this process: the sender (:func:`reporting.notifications.sender.
sender`) registers itself while it runs, so a delivery is sent as soon as it is written, not at the sender's next
look."""


class NotificationProjection:
    """Deliveries from every topic (exactly once through the consumer's inbox)."""

    wrote = False
    """A batch wrote deliveries since the last commit (a rolled-back one too: one look too many, never one too few)."""

    def committed(self) -> None:
        """Called by the consumer once a batch committed: wake this process's senders if it wrote deliveries."""
        if self.wrote:
            self.wrote = False
            for wake in tuple(WAKERS):
                wake()

    name = "reporting.notifications"
    topics = tuple(topic for topic, _ in TOPICS.values())
    start_at_end = True
    """A first start begins at the topics' end (:meth:`shared.consumer.ProjectionConsumer.seek_to_stored`): what
    happened before notifications existed is never sent."""

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        await self.apply_batch(conn, [event])

    async def apply_batch(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> None:
        for event in events:  # scopes first: a registration's own event can then be placed in its portfolio
            if event.service == "projects" and event.name == "project-registered":
                decoded = event.contract(projects.REGISTRY)
                if isinstance(decoded, projects.ProjectRegistered):
                    await record_project_scope(conn, decoded)
        alert_events = [e for e in events if e.service == "reporting" and e.name in catalogue.ALERT_EVENTS]
        subscriptions = await live_subscriptions(conn)
        if not subscriptions and not alert_events:
            return
        alerts = await self._alert_rows(conn, alert_events)
        portfolios = await self._portfolios(conn, events, subscriptions)
        deliveries: list[_Delivery] = []
        for event in events:
            kind = catalogue.event_type(event.service, event.name)
            alert = alerts.get(event.event_id)
            rule = alert["rule"] if alert is not None else None
            wanting = [s for s in subscriptions if s.wants(event, kind, rule)]
            if not wanting:
                continue
            project = _project_of(event)
            portfolio = alert["portfolio_id"] if alert is not None else portfolios.get(project) if project else None
            payload: str | None = None
            for s in wanting:
                if s.portfolio_id is not None and s.portfolio_id != portfolio:
                    continue
                payload = payload or webhook_payload(event)
                deliveries.append(
                    _Delivery(
                        "webhook",
                        str(s.subscription_id),
                        s.subscription_id,
                        None,
                        s.url,
                        event.key,
                        event.event_id,
                        ce_type(event.service, event.name, event.version),
                        payload,
                    )
                )
        for event in alert_events:
            if event.name not in ("alert-raised", "alert-cleared") or event.event_id not in alerts:
                continue
            deliveries.extend(await self._emails(conn, event, alerts[event.event_id]))
        await insert(conn, deliveries)
        self.wrote = self.wrote or bool(deliveries)

    async def _alert_rows(self, conn: AsyncConnection, events: Sequence[ConsumedEvent]) -> dict[uuid.UUID, Any]:
        """Per alert event: its alert's rule, severity, portfolio and title (the event's own where it has them,
        else the alert's row, which the evaluator wrote before the event was published)."""
        found: dict[uuid.UUID, Any] = {}
        ids = []
        for event in events:
            if (event.name, event.version) not in alert_contracts.REGISTRY:
                continue
            decoded = event.contract(alert_contracts.REGISTRY)
            found[event.event_id] = {
                "decoded": decoded,
                "alert_id": getattr(decoded, "alert_id", None),
                "rule": getattr(decoded, "rule", None),
                "severity": getattr(decoded, "severity", None),
                "portfolio_id": getattr(decoded, "portfolio_id", None),
                "title": getattr(decoded, "title", None),
                "project_id": getattr(decoded, "project_id", None),
            }
            ids.append(found[event.event_id]["alert_id"])
        if ids:
            rows = await conn.execute(
                text("SELECT alert_id, portfolio_id, severity, title FROM alerts WHERE alert_id = ANY(:ids)"),
                {"ids": [i for i in ids if i]},
            )
            by_alert = {r.alert_id: r for r in rows}
            for entry in found.values():
                row = by_alert.get(entry["alert_id"])
                if row is not None:
                    entry["portfolio_id"] = entry["portfolio_id"] or row.portfolio_id
                    entry["severity"] = entry["severity"] or row.severity
                    entry["title"] = entry["title"] or row.title
        return found

    async def _portfolios(
        self, conn: AsyncConnection, events: Sequence[ConsumedEvent], subscriptions: Sequence[Subscription]
    ) -> dict[uuid.UUID, str | None]:
        if not any(s.portfolio_id is not None for s in subscriptions):
            return {}
        ids = sorted({p for p in (_project_of(e) for e in events) if p is not None})
        if not ids:
            return {}
        rows = await conn.execute(
            text("SELECT project_id, portfolio_id FROM project_scopes WHERE project_id = ANY(CAST(:p AS uuid[]))"),
            {"p": ids},
        )
        return {r.project_id: r.portfolio_id for r in rows}

    async def _emails(self, conn: AsyncConnection, event: ConsumedEvent, alert: dict[str, Any]) -> list[_Delivery]:
        raised = event.name == "alert-raised"
        rows = await conn.execute(
            text(
                "SELECT np.person, np.email FROM notification_preferences np "
                "WHERE (cardinality(np.alert_rules) = 0 OR :rule = ANY(np.alert_rules)) "
                "AND (CAST(:severity AS text) IS NULL OR CAST(:severity AS text) = ANY(np.severities)) "
                "AND (CAST(:raised AS boolean) OR np.on_cleared) AND np.created_at <= :at "
                "AND (np.scope_all OR EXISTS (SELECT 1 FROM project_scopes ps WHERE ps.project_id = CAST(:pid AS uuid) "
                "AND (ps.portfolio_id = ANY(np.portfolios) OR ps.programme_id = ANY(np.programmes) "
                "OR ps.manager_key = np.manager_key))) ORDER BY np.person"
            ),
            {
                "rule": alert["rule"],
                "severity": alert["severity"],
                "raised": raised,
                "pid": alert["project_id"],
                "at": event.time,
            },
        )
        out = []
        for r in rows:
            mail = messages.alert_mail(event.name, alert, r.email, event.time)
            out.append(
                _Delivery(
                    "email",
                    f"email:{r.person}",
                    None,
                    r.person,
                    r.email,
                    event.key,
                    event.event_id,
                    ce_type(event.service, event.name, event.version),
                    mail,
                )
            )
        return out


async def insert(conn: AsyncConnection, deliveries: Sequence[_Delivery], now: datetime | None = None) -> None:
    """Write the deliveries, pending from now, in the given order (their ``sequence``: a project's order)."""
    if not deliveries:
        return
    at = now or datetime.now(UTC)
    await conn.execute(
        text(
            "INSERT INTO notification_deliveries (delivery_id, channel, recipient, subscription_id, person, target, "
            "order_key, event_id, event_type, payload, status, next_attempt_at, created_at) "
            "SELECT d, c, r, s, p, t, k, e, y, b, 'pending', :at, :at FROM unnest(CAST(:d AS uuid[]), "
            "CAST(:c AS text[]), CAST(:r AS text[]), CAST(:s AS uuid[]), CAST(:p AS text[]), CAST(:t AS text[]), "
            "CAST(:k AS text[]), CAST(:e AS uuid[]), CAST(:y AS text[]), CAST(:b AS text[])) "
            "WITH ORDINALITY AS u(d, c, r, s, p, t, k, e, y, b, n) ORDER BY n "
            "ON CONFLICT (recipient, event_id) DO NOTHING"
        ),
        {
            "at": at,
            "d": [new_id() for _ in deliveries],
            "c": [d.channel for d in deliveries],
            "r": [d.recipient for d in deliveries],
            "s": [d.subscription_id for d in deliveries],
            "p": [d.person for d in deliveries],
            "t": [d.target for d in deliveries],
            "k": [d.order_key for d in deliveries],
            "e": [d.event_id for d in deliveries],
            "y": [d.event_type for d in deliveries],
            "b": [d.payload for d in deliveries],
        },
    )
