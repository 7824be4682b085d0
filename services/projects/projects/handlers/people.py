"""A project's partners as people: their names and contact details (kept apart from the events, erasable) and the
edits of a partner's kind, organisation and role (events, with ``If-Match``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from projects import domain, views
from projects.handlers.running import Outcome, on_project, today
from projects.people_tables import PARTNER_CONTACT, ContactWrite, PartnerContact
from shared.commands import CommandContext, Executor
from shared.contracts.people import PartnerKind
from shared.errors import NotFoundError, RuleViolationError
from shared.ids import new_id


class PartnerContacts(Protocol):
    """The erasable table of partners' names and contact details, written apart from the events."""

    async def contacts(self, project_id: uuid.UUID) -> Mapping[uuid.UUID, PartnerContact]:
        """The project's partners' contacts by partner id (none for an erased partner)."""
        ...

    async def replace(self, contact: PartnerContact) -> ContactWrite:
        """Replace a partner's contact unless its personal data was erased (then nothing is written)."""
        ...


def with_names(
    partners: Iterable[Mapping[str, Any]], contacts: Mapping[uuid.UUID, PartnerContact]
) -> list[dict[str, Any]]:
    """Partner views (the stored project view's) with their names from the table, which wins over a name a
    version-1 event carried; null once erased."""
    named = []
    for partner in partners:
        contact = contacts.get(uuid.UUID(partner["partner_id"]))
        named.append({**partner, "name": contact.name if contact is not None else partner.get("name")})
    return named


async def register_partner(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    name: str,
    kind: PartnerKind,
    organisation: str,
    role: str,
    email: str | None = None,
    phone: str | None = None,
    contacts: PartnerContacts | None = None,
) -> Outcome:
    """Register a partner or stakeholder (201), answered with the partner and its name. The name and contact
    details are stored apart from the event, in the command's transaction; the stored answer never holds them (a
    replayed answer names the partner as the table does now, null once erased; without ``contacts``, null)."""
    partner_id = new_id()
    command = domain.RegisterPartner(partner_id, kind, organisation, role)
    view = views.part_view("partners", partner_id, "partner_id")
    token = PARTNER_CONTACT.set(PartnerContact(project_id, partner_id, name, email, phone))
    try:
        outcome = await on_project(executor, ctx, project_id, command, view, status_code=201)
    finally:
        PARTNER_CONTACT.reset(token)
    if not outcome.replayed:
        return replace(outcome, body={**outcome.body, "name": name}, body_json=None)
    return await named(contacts, project_id, outcome)


async def named(contacts: PartnerContacts | None, project_id: uuid.UUID, outcome: Outcome) -> Outcome:
    """A partner answer with the partner's name as the table holds it (never stored with the answer)."""
    table = await contacts.contacts(project_id) if contacts is not None else {}
    (partner,) = with_names([outcome.body], table)
    return replace(outcome, body=partner, body_json=None)


async def edit_partner(
    executor: Executor,
    contacts: PartnerContacts,
    ctx: CommandContext,
    project_id: uuid.UUID,
    partner_id: uuid.UUID,
    *,
    kind: PartnerKind | None,
    organisation: str | None,
    role: str | None,
) -> Outcome:
    """Change a partner's kind, organisation or role (``partner-edited``; nothing when it already reads so),
    answered with the partner and its name."""
    command = domain.EditPartner(partner_id, kind, organisation, role)
    view = views.part_view("partners", partner_id, "partner_id")
    return await named(contacts, project_id, await on_project(executor, ctx, project_id, command, view))


async def erase_partner_personal_data(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, partner_id: uuid.UUID
) -> Outcome:
    """Forget the partner's name and contact details (``partner-personal-data-erased``; nothing when erased
    already), on an open or closed project: every event and communication stays. Answered with an empty body."""
    command = domain.ErasePartnerPersonalData(partner_id, today(executor, None))
    return await on_project(executor, ctx, project_id, command, lambda state, version: {}, status_code=204)


async def replace_partner_personal_data(contacts: PartnerContacts, contact: PartnerContact) -> dict[str, Any]:
    """Replace the partner's name and contact details (not event-sourced); refused once erased."""
    match await contacts.replace(contact):
        case ContactWrite.NO_SUCH_PARTNER:
            raise NotFoundError(f"partner {contact.partner_id} is not registered on project {contact.project_id}")
        case ContactWrite.ERASED:
            raise RuleViolationError("this partner's personal data was erased; it is not collected again")
    return contact.as_view()


async def partner_personal_data(
    contacts: PartnerContacts, partner: Mapping[str, Any], project_id: uuid.UUID
) -> dict[str, Any]:
    """The partner's name and contact details (a version-1 partner's inline name until replaced);
    :class:`NotFoundError` once erased (the ``DELETE`` removed them: RFC 9110, 9.3.5; the partner stays)."""
    if partner.get("personal_data_erased_on") is not None:
        raise NotFoundError(
            f"the personal data of partner {partner['partner_id']} were erased on {partner['personal_data_erased_on']}"
        )
    contact = (await contacts.contacts(project_id)).get(uuid.UUID(partner["partner_id"]))
    if contact is not None:
        return contact.as_view()
    return {"partner_id": partner["partner_id"], "name": partner.get("name"), "email": None, "phone": None}
