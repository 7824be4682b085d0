"""A project's partners and stakeholders and the communication log with them: commands, errors, ``decide`` and
``evolve``. A communication may carry a follow-up, closed once. A partner's kind, organisation and role are edited
by events; its name and contact details never enter one (the service's erasable table holds them), and erasing
them is recorded (``partner-personal-data-erased``), also on a closed project."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import assert_never
from uuid import UUID

from projects.domain.rules import not_future
from projects.domain.state import Communication, Partner, Project
from shared.contracts.people import PartnerEdited, PartnerKind, PartnerPersonalDataErased, PartnerRegisteredV2
from shared.contracts.projects import Channel, CommunicationLogged, FollowUpClosed
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.immutable import frozen

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterPartner:
    """Its name and contact details go to the erasable table, in the command's transaction, not in the event."""

    partner_id: UUID
    kind: PartnerKind
    organisation: str
    role: str


@dataclass(frozen=True)
class EditPartner:
    """The partner's kind, organisation and role from now on; a part left out (None) stays as it is."""

    partner_id: UUID
    kind: PartnerKind | None = None
    organisation: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class ErasePartnerPersonalData:
    partner_id: UUID
    erased_on: date


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


PartnerCommand = RegisterPartner | EditPartner | ErasePartnerPersonalData | LogCommunication | CloseFollowUp
PartnerEvent = PartnerRegisteredV2 | PartnerEdited | PartnerPersonalDataErased | CommunicationLogged | FollowUpClosed

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
                PartnerRegisteredV2(
                    project_id=project_id,
                    partner_id=command.partner_id,
                    kind=command.kind,
                    organisation=command.organisation,
                    role=command.role,
                )
            ]
        case EditPartner():
            return _edit(state, project_id, command)
        case ErasePartnerPersonalData():
            return erase(state, command)
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


def _edit(state: Project, project_id: UUID, command: EditPartner) -> list[DomainEvent]:
    partner = state.partners.get(command.partner_id)
    if partner is None:
        raise UnknownPartnerError(f"partner {command.partner_id} is not registered on this project")
    if command.kind is None and command.organisation is None and command.role is None:
        raise InvalidCommandError("name at least one of kind, organisation and role", field="kind")
    kind = partner.kind if command.kind is None else command.kind
    organisation = partner.organisation if command.organisation is None else command.organisation
    role = partner.role if command.role is None else command.role
    if (kind, organisation, role) == (partner.kind, partner.organisation, partner.role):
        return []  # the partner already reads so: nothing to record
    return [
        PartnerEdited(
            project_id=project_id,
            partner_id=partner.partner_id,
            kind=kind,
            organisation=organisation,
            role=role,
            previous_kind=partner.kind,
            previous_organisation=partner.organisation,
            previous_role=partner.role,
        )
    ]


def erase(state: Project, command: ErasePartnerPersonalData) -> list[DomainEvent]:
    """``partner-personal-data-erased``, on an open or a closed project (a person may be forgotten at any time);
    nothing when already erased."""
    if state.project_id is None:
        raise NotFoundError("the project does not exist")
    partner = state.partners.get(command.partner_id)
    if partner is None:
        raise UnknownPartnerError(f"partner {command.partner_id} is not registered on this project")
    if partner.personal_data_erased_on is not None:
        return []
    return [
        PartnerPersonalDataErased(
            project_id=state.project_id, partner_id=partner.partner_id, erased_on=command.erased_on
        )
    ]


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Project, event: PartnerEvent) -> Project:
    """The project after a partner or communication event."""
    match event:
        case PartnerRegisteredV2():
            partner = Partner(event.partner_id, event.name, event.kind, event.organisation, event.role)
            return replace(state, partners=frozen({**state.partners, partner.partner_id: partner}))
        case PartnerEdited():
            partner = replace(
                state.partners[event.partner_id], kind=event.kind, organisation=event.organisation, role=event.role
            )
            return replace(state, partners=frozen({**state.partners, partner.partner_id: partner}))
        case PartnerPersonalDataErased():
            partner = replace(state.partners[event.partner_id], name=None, personal_data_erased_on=event.erased_on)
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
