"""The notification settings (``PMO_WEBHOOK_*``, ``PMO_NOTIFICATION_*``, ``PMO_SMTP_*``), mixed into the reporting
service's :class:`reporting.settings.Settings`. Every value is bounded; a combination that cannot work (a user
without a password, a server without a sender address, a backoff whose start exceeds its cap) is refused at start
naming the variables."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, model_validator

from shared.settings import ServiceSettings

EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
"""An e-mail address as the notifications accept it: a dot-atom local part and a domain name (no quoted local
parts, no IP literals, no spaces or line breaks, so never a header injection)."""


class NotificationSettings(ServiceSettings):
    """How webhooks and e-mails are delivered."""

    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="longest one webhook request (connect, send, answer) may take"
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=30, description="attempts of a delivery (webhook or e-mail) before it is dead"
    )
    webhook_backoff_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="wait before the second attempt; it doubles after each failure"
    )
    webhook_backoff_max_seconds: float = Field(
        default=3600.0, gt=0, le=86400, description="longest wait between two attempts (before jitter)"
    )
    webhook_allow_loopback: bool = Field(
        default=False, description="accept loopback targets (127.0.0.0/8, ::1, localhost): tests and demos only"
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="accept private-network targets (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10): for "
        "receivers inside the organisation's network; link-local and metadata addresses stay refused",
    )
    webhook_max_subscriptions: int = Field(
        default=100, ge=1, le=10_000, description="active webhook subscriptions at most"
    )
    notification_concurrency: int = Field(
        default=8, ge=1, le=64, description="deliveries a replica sends at once (one per subscription and project)"
    )
    notification_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="seconds between two looks for due deliveries while some are sent"
    )
    notification_idle_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="the longest wait between two looks when nothing is due (a new delivery wakes the sender)",
    )
    notification_retention_days: int = Field(
        default=30, ge=1, le=3650, description="days a delivered, dead or cancelled delivery stays in the log"
    )
    smtp_host: str | None = Field(
        default=None, max_length=253, description="SMTP server of the alert e-mails; unset: no e-mail notifications"
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(default=True, description="upgrade the SMTP session with STARTTLS (required if on)")
    smtp_user: str | None = Field(default=None, max_length=256)
    smtp_password: SecretStr | None = None
    smtp_from: str | None = Field(default=None, max_length=254, description="the sender address of alert e-mails")
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _notifications_consistent(self) -> NotificationSettings:
        problems = []
        if self.webhook_backoff_seconds > self.webhook_backoff_max_seconds:
            problems.append("PMO_WEBHOOK_BACKOFF_SECONDS must not exceed PMO_WEBHOOK_BACKOFF_MAX_SECONDS")
        if self.smtp_host is not None:
            if not self.smtp_from or not EMAIL.match(self.smtp_from):
                problems.append("PMO_SMTP_HOST needs PMO_SMTP_FROM, an e-mail address")
            if (self.smtp_user is None) != (self.smtp_password is None):
                problems.append("PMO_SMTP_USER and PMO_SMTP_PASSWORD go together")
            if self.smtp_user is not None and not self.smtp_starttls:
                problems.append("PMO_SMTP_USER needs PMO_SMTP_STARTTLS=true: a password is never sent in clear")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def email_enabled(self) -> bool:
        return self.smtp_host is not None
