"""The alert e-mail: rendered when the alert event is taken in (so a retry sends the same message), stored as the
delivery's payload (JSON: ``to``, ``subject``, ``text``), made into a MIME message when it is sent."""

from __future__ import annotations

import json
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

MAX_SUBJECT = 200


def _one_line(value: object) -> str:
    return " ".join(str(value).split())[:MAX_SUBJECT]


def alert_mail(event_name: str, alert: dict[str, Any], to: str, at: datetime) -> str:
    """The e-mail for an alert raised or cleared, as the delivery's payload."""
    raised = event_name == "alert-raised"
    severity = alert.get("severity") or "warning"
    title = alert.get("title") or alert.get("rule") or "alert"
    subject = f"[PMO {severity}] {title}" if raised else f"[PMO cleared] {title}"
    lines = [
        f"Alert {'raised' if raised else 'cleared'}: {title}",
        "",
        f"Rule: {alert.get('rule')}",
        f"Severity: {severity}",
        f"Project: {alert.get('project_id')}",
        f"Portfolio: {alert.get('portfolio_id') or '-'}",
        f"Alert: {alert.get('alert_id')} (GET /alerts?project_id={alert.get('project_id')})",
        f"At: {at.isoformat()}",
    ]
    decoded = alert.get("decoded")
    figures = getattr(decoded, "figures", None)
    if raised and isinstance(figures, dict) and figures:
        lines += ["", "Figures:"] + [f"  {k}: {v}" for k, v in sorted(figures.items())]
    lines += ["", "You receive this because of your notification preferences (PUT /notifications/preferences)."]
    return json.dumps({"to": to, "subject": _one_line(subject), "text": "\n".join(lines)}, ensure_ascii=False)


def mime(payload: str, sender: str, message_id: str, at: datetime) -> EmailMessage:
    """The MIME message of a stored payload (headers folded by the standard library, one line each)."""
    parts = json.loads(payload)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = parts["to"]
    message["Subject"] = _one_line(parts["subject"])
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid(idstring=message_id, domain=sender.rsplit("@", 1)[-1])
    message.set_content(parts["text"])
    return message
