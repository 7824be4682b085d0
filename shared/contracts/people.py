"""People in the projects service's events: partners and stakeholders named by id, never by name.

Part of the projects service's contract on ``pmo.projects.v1`` (``shared.contracts.projects`` registers these
events with :func:`register`); keyed by the project id like every other event of a project.

A person is referred to by an id: a partner by its ``partner_id``, a sponsor, manager, owner or decider by the
subject of their identity (the token's ``sub``). Display names and contact details are personal data: the
projects service keeps them in an erasable table, never in an event. ``partner-registered`` version 1 carried the
partner's name; version 2 (since 2026-12-06) carries none, and ``partner-personal-data-erased`` records that a
partner's name and contact details were forgotten, leaving every event as it was.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import Field

from shared.events import DomainEvent, EventRegistry


class PartnerKind(StrEnum):
    EXTERNAL_PARTNER = "external_partner"
    INTERNAL_STAKEHOLDER = "internal_stakeholder"


class PartnerRegisteredV2(DomainEvent):
    """A partner or stakeholder joined a project: its kind, organisation and role; its name and contact details are
    in the projects service's erasable table (``GET /projects/{id}/partners/{partner_id}``).

    Version 2 (published since 2026-12-06): no ``name``. A version-1 event (events are immutable) is read as this
    one, the name it carried inline kept in memory only (never in the data); the projects service shows it until
    the partner's personal data is erased or replaced."""

    event_name = "partner-registered"
    event_version = 2
    project_id: UUID
    partner_id: UUID
    kind: PartnerKind
    organisation: str
    role: str
    name: str | None = Field(default=None, exclude=True)
    """The name a version-1 event carried; never written since version 2 (excluded from the data)."""


class PartnerEdited(DomainEvent):
    """A partner's kind, organisation and role as they stand after the edit (the whole of them, not a difference),
    with what they were before. Names and contact details are edited apart, in the erasable table."""

    event_name = "partner-edited"
    project_id: UUID
    partner_id: UUID
    kind: PartnerKind
    organisation: str
    role: str
    previous_kind: PartnerKind
    previous_organisation: str
    previous_role: str


class PartnerPersonalDataErased(DomainEvent):
    """The partner's name and contact details were erased; its id, its events and the communications logged with
    it stay."""

    event_name = "partner-personal-data-erased"
    project_id: UUID
    partner_id: UUID
    erased_on: date


EVENTS: tuple[type[DomainEvent], ...] = (PartnerEdited, PartnerPersonalDataErased)
"""The events of this module other than ``partner-registered`` v2 (registered with its upcaster)."""


def partner_registered_v2(event: Any) -> PartnerRegisteredV2:
    """Version 1 read as version 2, the inline name kept aside (:attr:`PartnerRegisteredV2.name`)."""
    return PartnerRegisteredV2(
        project_id=event.project_id,
        partner_id=event.partner_id,
        kind=event.kind,
        organisation=event.organisation,
        role=event.role,
        name=event.name,
    )


def register(registry: EventRegistry, partner_registered_v1: type[DomainEvent]) -> None:
    """Add this module's events to the projects topic's ``registry``; version 1 of ``partner-registered`` (defined
    with the topic's other events) is read as version 2."""
    registry.register_upcaster(partner_registered_v1, PartnerRegisteredV2, partner_registered_v2)
    for model in EVENTS:
        registry.register(model)
