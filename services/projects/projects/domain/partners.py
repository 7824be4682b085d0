"""A project's partners and stakeholders and the communication log with them: commands, errors, ``decide`` and
``evolve``. A communication may carry a follow-up, closed once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import assert_never
from uuid import UUID

from projects.domain.rules import not_future
from projects.domain.state import Communication, Partner, Project
from shared.contracts.projects import Channel, CommunicationLogged, FollowUpClosed, PartnerKind, PartnerRegistered
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.immutable import frozen

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterPartner:
    partner_id: UUID
    name: str
    kind: PartnerKind
    organisation: str
    role: str


@dataclass(frozen=True)
class LogCommunication:
    communication_id: UUID
    partner_id: UUID
    on: date
    channel: Channel
    summary: str
    follow_up_due: date | None = None


@dataclass(frozen=True)
class CloseFollowUp:
    communication_id: UUID
    closed_on: date
    note: str = ""


PartnerCommand = RegisterPartner | LogCommunication | CloseFollowUp
PartnerEvent = PartnerRegistered | CommunicationLogged | FollowUpClosed

# --- errors -------------------------------------------------------------------------------------------------


class UnknownPartnerError(NotFoundError):
    """The command names a partner that is not registered on the project."""


class UnknownCommunicationError(NotFoundError):
    """The command names a communication that is not logged on the project."""


# --- decide -------------------------------------------------------------------------------------------------


def decide(state: Project, project_id: UUID, command: PartnerCommand, today: date) -> list[DomainEvent]:
    """The events a partner or communication command causes on the open project ``state``, or an error saying why
    not."""
    match command:
        case RegisterPartner():
            if command.partner_id in state.partners:
                raise RuleViolationError(f"partner {command.partner_id} is already registered")
            return [
                PartnerRegistered(
                    project_id=project_id,
                    partner_id=command.partner_id,
                    name=command.name,
                    kind=command.kind,
                    organisation=command.organisation,
                    role=command.role,
                )
            ]
        case LogCommunication():
            if command.partner_id not in state.partners:
                raise UnknownPartnerError(f"partner {command.partner_id} is not registered on this project")
            not_future(command.on, today, "on")
            if command.follow_up_due is not None and command.follow_up_due < command.on:
                raise InvalidCommandError("follow_up_due must not be before the communication", field="follow_up_due")
            return [
                CommunicationLogged(
                    project_id=project_id,
                    communication_id=command.communication_id,
                    partner_id=command.partner_id,
                    on=command.on,
                    channel=command.channel,
                    summary=command.summary,
                    follow_up_due=command.follow_up_due,
                )
            ]
        case CloseFollowUp():
            communication = state.communications.get(command.communication_id)
            if communication is None:
                raise UnknownCommunicationError(
                    f"communication {command.communication_id} is not logged on this project"
                )
            if communication.follow_up_due is None:
                raise RuleViolationError("this communication has no follow-up to close")
            if communication.follow_up_closed_on is not None:
                raise RuleViolationError(f"the follow-up was already closed on {communication.follow_up_closed_on}")
            not_future(command.closed_on, today, "closed_on")
            return [
                FollowUpClosed(
                    project_id=project_id,
                    communication_id=command.communication_id,
                    closed_on=command.closed_on,
                    note=command.note,
                )
            ]
        case _:
            assert_never(command)


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Project, event: PartnerEvent) -> Project:
    """The project after a partner or communication event."""
    match event:
        case PartnerRegistered():
            partner = Partner(event.partner_id, event.name, event.kind, event.organisation, event.role)
            return replace(state, partners=frozen({**state.partners, partner.partner_id: partner}))
        case CommunicationLogged():
            c = Communication(
                event.communication_id, event.partner_id, event.on, event.channel, event.summary, event.follow_up_due
            )
            return replace(state, communications=frozen({**state.communications, c.communication_id: c}))
        case FollowUpClosed():
            c = replace(state.communications[event.communication_id], follow_up_closed_on=event.closed_on)
            return replace(state, communications=frozen({**state.communications, c.communication_id: c}))
        case _:
            assert_never(event)
