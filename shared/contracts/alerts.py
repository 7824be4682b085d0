"""Events published by the reporting service on ``pmo.alerts.v1`` (key: the project id).

One alert per condition (rule + subject): raised when the condition starts to hold, updated when its figures
change while it holds, cleared when it stops holding, acknowledged by a person. ``evidence`` lists the ids of the
events behind the figures.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from shared.events import DomainEvent, EventRegistry

TOPIC = "pmo.alerts.v1"


class _AlertEvent(DomainEvent):
    alert_id: str
    project_id: UUID
    rule: str
    subject: str


class AlertRaised(_AlertEvent):
    event_name = "alert-raised"
    portfolio_id: str | None
    severity: str
    title: str
    figures: dict[str, Any]
    evidence: list[UUID]
    as_of: date


class AlertUpdated(_AlertEvent):
    event_name = "alert-updated"
    severity: str
    title: str
    figures: dict[str, Any]
    evidence: list[UUID]
    as_of: date


class AlertCleared(_AlertEvent):
    event_name = "alert-cleared"
    as_of: date


class AlertAcknowledged(_AlertEvent):
    event_name = "alert-acknowledged"
    acknowledged_by: str
    note: str


class AlertThresholdsSet(DomainEvent):
    """The thresholds in force for a portfolio's projects. ``approved_by``: the second person who approved a
    loosening ``set_by`` asked for (absent when nothing was loosened)."""

    event_name = "alert-thresholds-set"
    portfolio_id: str
    thresholds: dict[str, str]
    set_by: str
    approved_by: str | None = None

    @property
    def partition_key(self) -> str:
        return f"portfolio:{self.portfolio_id}"


class AlertThresholdsChangeRequested(DomainEvent):
    """Someone asked to loosen thresholds (``looser`` names which): nothing changes until another person approves."""

    event_name = "alert-thresholds-change-requested"
    portfolio_id: str
    thresholds: dict[str, str]
    requested_by: str
    looser: list[str]

    @property
    def partition_key(self) -> str:
        return f"portfolio:{self.portfolio_id}"


REGISTRY = EventRegistry(
    [AlertRaised, AlertUpdated, AlertCleared, AlertAcknowledged, AlertThresholdsSet, AlertThresholdsChangeRequested]
)
