"""The alert aggregate: one stream per condition (rule + subject), so one condition never holds two open alerts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, assert_never
from uuid import UUID

from reporting.domain.rules import Condition, Thresholds
from shared.contracts.alerts import (
    AlertAcknowledged,
    AlertCleared,
    AlertRaised,
    AlertThresholdsChangeRequested,
    AlertThresholdsSet,
    AlertUpdated,
)
from shared.decider import Decider
from shared.errors import NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person


def alert_id(rule: str, subject: str) -> str:
    """A stable id for the alert of a condition."""
    return hashlib.sha256(f"{rule}|{subject}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Alert:
    alert_id: str | None = None
    project_id: UUID | None = None
    rule: str = ""
    subject: str = ""
    open: bool = False
    severity: str = ""
    title: str = ""
    figures: dict[str, Any] | None = None
    acknowledged_by: str | None = None


@dataclass(frozen=True)
class Observe:
    """The condition holds as of ``as_of``."""

    project_id: UUID
    portfolio_id: str | None
    condition: Condition
    as_of: date


@dataclass(frozen=True)
class Clear:
    project_id: UUID
    rule: str
    subject: str
    as_of: date


@dataclass(frozen=True)
class Acknowledge:
    by: str
    note: str


Command = Observe | Clear | Acknowledge


def _decide_alert(state: Alert, command: Command, now: datetime) -> Sequence[DomainEvent]:
    match command:
        case Observe(project_id=pid, portfolio_id=portfolio, condition=c, as_of=as_of):
            aid = alert_id(c.rule, c.subject)
            common = {"alert_id": aid, "project_id": pid, "rule": c.rule, "subject": c.subject}
            if not state.open:
                return [
                    AlertRaised(
                        **common,
                        portfolio_id=portfolio,
                        severity=c.severity,
                        title=c.title,
                        figures=c.figures,
                        evidence=list(c.evidence),
                        as_of=as_of,
                    )
                ]
            if (state.severity, state.title, state.figures) != (c.severity, c.title, c.figures):
                return [
                    AlertUpdated(
                        **common,
                        severity=c.severity,
                        title=c.title,
                        figures=c.figures,
                        evidence=list(c.evidence),
                        as_of=as_of,
                    )
                ]
            return []
        case Clear(project_id=pid, rule=rule, subject=subject, as_of=as_of):
            if not state.open:
                return []
            return [
                AlertCleared(alert_id=alert_id(rule, subject), project_id=pid, rule=rule, subject=subject, as_of=as_of)
            ]
        case Acknowledge(by=by, note=note):
            if state.alert_id is None or state.project_id is None:
                raise NotFoundError("no such alert")
            if not state.open:
                raise RuleViolationError("the alert is cleared; there is nothing to acknowledge")
            return [
                AlertAcknowledged(
                    alert_id=state.alert_id,
                    project_id=state.project_id,
                    rule=state.rule,
                    subject=state.subject,
                    acknowledged_by=by,
                    note=note,
                )
            ]
        case _:
            assert_never(command)


def _evolve_alert(state: Alert, event: DomainEvent) -> Alert:
    match event:
        case AlertRaised():
            return Alert(
                event.alert_id,
                event.project_id,
                event.rule,
                event.subject,
                True,
                event.severity,
                event.title,
                event.figures,
                None,
            )
        case AlertUpdated():
            return replace(state, severity=event.severity, title=event.title, figures=event.figures)
        case AlertCleared():
            return replace(state, open=False, acknowledged_by=None)
        case AlertAcknowledged():
            return replace(state, acknowledged_by=event.acknowledged_by)
    return state


ALERT: Decider[Alert, Command] = Decider("alert", Alert, _evolve_alert, _decide_alert)


def stream_id(aid: str) -> str:
    return f"alert-{aid}"


# --- thresholds per portfolio ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortfolioThresholds:
    """A portfolio's thresholds in force and the loosening waiting for a second person, if any."""

    in_force: dict[str, str] = field(default_factory=dict)
    pending: dict[str, str] | None = None
    requested_by: str | None = None
    looser: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetThresholds:
    portfolio_id: str
    thresholds: dict[str, str]
    set_by: str


@dataclass(frozen=True)
class ApproveThresholds:
    portfolio_id: str
    approved_by: str


ThresholdsCommand = SetThresholds | ApproveThresholds


def _decide_thresholds(state: PortfolioThresholds, command: ThresholdsCommand, now: datetime) -> Sequence[DomainEvent]:
    """Stricter (or equal) thresholds apply at once; looser ones wait for another person's approval, so one user
    cannot silence a portfolio's alerts alone."""
    match command:
        case SetThresholds():
            if command.thresholds == state.in_force and state.pending is None:
                return []
            looser = Thresholds.of(command.thresholds).looser_than(Thresholds.of(state.in_force))
            if not looser:
                return [
                    AlertThresholdsSet(
                        portfolio_id=command.portfolio_id, thresholds=command.thresholds, set_by=command.set_by
                    )
                ]
            return [
                AlertThresholdsChangeRequested(
                    portfolio_id=command.portfolio_id,
                    thresholds=command.thresholds,
                    requested_by=command.set_by,
                    looser=looser,
                )
            ]
        case ApproveThresholds():
            if state.pending is None or state.requested_by is None:
                raise RuleViolationError("no loosening of these thresholds is waiting for approval")
            if same_person(command.approved_by, state.requested_by):
                raise SeparationOfDutiesError(
                    f"{state.requested_by} asked to loosen these thresholds; another person must approve it"
                )
            return [
                AlertThresholdsSet(
                    portfolio_id=command.portfolio_id,
                    thresholds=state.pending,
                    set_by=state.requested_by,
                    approved_by=command.approved_by,
                )
            ]
        case _:
            assert_never(command)


def _evolve_thresholds(state: PortfolioThresholds, event: DomainEvent) -> PortfolioThresholds:
    match event:
        case AlertThresholdsSet():
            return PortfolioThresholds(in_force=dict(event.thresholds))
        case AlertThresholdsChangeRequested():
            return replace(
                state, pending=dict(event.thresholds), requested_by=event.requested_by, looser=tuple(event.looser)
            )
        case _:
            return state


THRESHOLDS: Decider[PortfolioThresholds, ThresholdsCommand] = Decider(
    "thresholds", PortfolioThresholds, _evolve_thresholds, _decide_thresholds
)
