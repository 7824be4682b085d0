"""Personal data in the projects service: the partners' names and contact details, kept out of every event.

``partner_contacts`` is not a projection: events never carry what it holds. It is written by the registration
command (through :data:`PARTNER_CONTACT`, in the same transaction as ``partner-registered``), replaced by
``PUT /projects/{id}/partners/{partner_id}/personal-data`` and emptied for a partner by
``partner-personal-data-erased``. A rebuild of the query tables leaves it alone (it is not in
:data:`projects.tables.TABLES`).

A partner registered before names left the events (``partner-registered`` version 1) has no row until its personal
data is replaced: its name is then read from that event (the project view holds it), never after an erasure.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.contracts.people import PartnerPersonalDataErased, PartnerRegisteredV2
from shared.events import RecordedEvent

DDL = [
    """
    CREATE TABLE IF NOT EXISTS partner_contacts (
        partner_id    uuid PRIMARY KEY,
        project_id    uuid NOT NULL,
        name          text NOT NULL,
        email         text,
        phone         text,
        updated_at    timestamptz NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS partner_contacts_project ON partner_contacts (project_id)",
]


@dataclass(frozen=True)
class PartnerContact:
    """A partner's name and contact details: personal data, kept out of every event."""

    project_id: uuid.UUID
    partner_id: uuid.UUID
    name: str
    email: str | None = None
    phone: str | None = None

    def as_view(self) -> dict[str, Any]:
        return {"partner_id": str(self.partner_id), "name": self.name, "email": self.email, "phone": self.phone}


PARTNER_CONTACT: ContextVar[PartnerContact | None] = ContextVar("projects_partner_contact", default=None)
"""Set by the registration handler around the command: the projector stores it next to ``partner-registered``, in
the same transaction, so a registered partner never lacks its name and a refused one leaves none behind."""


class ContactWrite(enum.Enum):
    REPLACED = "replaced"
    ERASED = "erased"
    NO_SUCH_PARTNER = "no such partner"


async def project(conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
    """Store the contact given with a registration; forget a partner's on its erasure (the command's
    transaction)."""
    for recorded in events:
        match recorded.event:
            case PartnerRegisteredV2() as e:
                pending = PARTNER_CONTACT.get()
                if pending is not None and pending.partner_id == e.partner_id:
                    await conn.execute(
                        text(
                            "INSERT INTO partner_contacts (partner_id, project_id, name, email, phone, updated_at) "
                            "VALUES (:id, :p, :n, :e, :ph, :t)"
                        ),
                        _params(pending) | {"t": recorded.recorded_at},
                    )
            case PartnerPersonalDataErased() as e:
                await conn.execute(text("DELETE FROM partner_contacts WHERE partner_id = :id"), {"id": e.partner_id})


def _params(contact: PartnerContact) -> dict[str, Any]:
    return {
        "id": contact.partner_id,
        "p": contact.project_id,
        "n": contact.name,
        "e": contact.email,
        "ph": contact.phone,
    }


class PartnerContactsTable:
    """:class:`projects.handlers.people.PartnerContacts` over ``partner_contacts`` and the stored project view."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def contacts(self, project_id: uuid.UUID) -> dict[uuid.UUID, PartnerContact]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT partner_id, name, email, phone FROM partner_contacts WHERE project_id = :p"),
                {"p": project_id},
            )
            return {r.partner_id: PartnerContact(project_id, r.partner_id, r.name, r.email, r.phone) for r in rows}

    async def replace(self, contact: PartnerContact) -> ContactWrite:
        async with self.engine.begin() as conn:
            doc = (
                await conn.execute(
                    text("SELECT doc FROM projects WHERE project_id = :p FOR UPDATE"), {"p": contact.project_id}
                )
            ).scalar()
            partner = next(
                (p for p in (doc or {}).get("partners", ()) if p["partner_id"] == str(contact.partner_id)), None
            )
            if partner is None:
                return ContactWrite.NO_SUCH_PARTNER
            if partner.get("personal_data_erased_on") is not None:
                return ContactWrite.ERASED
            await conn.execute(
                text(
                    "INSERT INTO partner_contacts (partner_id, project_id, name, email, phone, updated_at) "
                    "VALUES (:id, :p, :n, :e, :ph, now()) ON CONFLICT (partner_id) DO UPDATE SET name = excluded.name, "
                    "email = excluded.email, phone = excluded.phone, updated_at = excluded.updated_at"
                ),
                _params(contact),
            )
        return ContactWrite.REPLACED
