"""Notifications that reach people and systems (docs/notifications.md): signed webhooks to subscribed URLs and alert
e-mails to the people who asked for them, written as deliveries by a consumer of every topic in the transaction that
takes the event in, sent apart by a background sender with retries, a log and a dead state.

The reporting service registers :data:`DDL`, :class:`NotificationProjection`, :func:`sender`, :data:`router` and
:data:`ACCESS`; its settings include :class:`NotificationSettings`.
"""

from __future__ import annotations

from reporting.notifications.api import router
from reporting.notifications.projection import NotificationProjection
from reporting.notifications.sender import sender
from reporting.notifications.settings import NotificationSettings
from reporting.notifications.tables import DDL
from shared.auth import ALL_ROLES, Role

WEBHOOK_ADMINS = frozenset({Role.PMO})
"""Who manages webhook subscriptions (directors always may): they carry events out of the system."""
_SUB = "/webhooks/subscriptions"
ACCESS = {
    f"POST {_SUB}": WEBHOOK_ADMINS,
    f"GET {_SUB}": WEBHOOK_ADMINS,
    f"GET {_SUB}/{{subscription_id}}": WEBHOOK_ADMINS,
    f"DELETE {_SUB}/{{subscription_id}}": WEBHOOK_ADMINS,
    f"GET {_SUB}/{{subscription_id}}/deliveries": WEBHOOK_ADMINS,
    f"POST {_SUB}/{{subscription_id}}/deliveries/{{delivery_id}}/redeliver": WEBHOOK_ADMINS,
    "PUT /notifications/preferences": ALL_ROLES,
    "DELETE /notifications/preferences": ALL_ROLES,
    "POST /notifications/deliveries/{delivery_id}/redeliver": ALL_ROLES,
}
"""The routes' roles for the service's access policy (reads of one's own preferences and log: every role)."""

__all__ = ["ACCESS", "DDL", "NotificationProjection", "NotificationSettings", "router", "sender"]
