"""Partner routes beyond registration: one partner, its edit (an event, ``If-Match``), and its name and contact
details (personal data, kept apart from the events: read by :data:`projects.bootstrap.CONTACT_READERS`, replaced
and erased by the PMO)."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from projects import views
from projects.api.models.partners import PartnerView
from projects.api.models.people import EditPartnerRequest, PartnerPersonalDataRequest, PartnerPersonalDataView
from projects.handlers import people
from projects.people_tables import PartnerContact, PartnerContactsTable
from shared.errors import NotFoundError
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, respond

router = APIRouter(responses=COMMAND_RESPONSES)
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]
PartnerIdPath = Annotated[uuid.UUID, Path(description="Partner id")]
TAGS: list[str | Enum] = ["partners"]
PERSONAL: list[str | Enum] = ["personal data"]


def _contacts(rt: Runtime) -> PartnerContactsTable:
    return PartnerContactsTable(rt.engine)


async def _partner(rt: Runtime, project_id: uuid.UUID, partner_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    """The partner as the stored project view holds it, and the project's version; 404 naming what is unknown."""
    doc = await views.project_doc(rt.engine, project_id)
    for partner in doc["partners"]:
        if partner["partner_id"] == str(partner_id):
            return dict(partner), int(doc["version"])
    raise NotFoundError(f"partner {partner_id} is not registered on project {project_id}")


@router.get(
    "/projects/{project_id}/partners/{partner_id}", operation_id="getPartner", response_model=PartnerView, tags=TAGS
)
async def get_partner(project_id: ProjectIdPath, partner_id: PartnerIdPath, rt: Runtime) -> JSONResponse:
    """One partner with its name (null once erased). ``ETag`` = the project's version (for ``If-Match``)."""
    partner, version = await _partner(rt, project_id, partner_id)
    (named,) = people.with_names([partner], await _contacts(rt).contacts(project_id))
    return JSONResponse(named, headers={"ETag": f'"{version}"'})


@router.patch(
    "/projects/{project_id}/partners/{partner_id}",
    operation_id="editPartner",
    response_model=PartnerView,
    tags=TAGS,
)
async def edit_partner(
    project_id: ProjectIdPath, partner_id: PartnerIdPath, body: EditPartnerRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Change a partner's kind, organisation or role (``partner-edited``, in the project's audit trail). Send
    ``If-Match`` with the ETag read (412 when stale). Its name and contact details: ``PUT .../personal-data``."""
    outcome = await people.edit_partner(
        rt.executor,
        _contacts(rt),
        ctx,
        project_id,
        partner_id,
        kind=body.kind,
        organisation=body.organisation,
        role=body.role,
    )
    return respond(outcome)


@router.get(
    "/projects/{project_id}/partners/{partner_id}/personal-data",
    operation_id="getPartnerPersonalData",
    response_model=PartnerPersonalDataView,
    tags=PERSONAL,
)
async def get_partner_personal_data(
    project_id: ProjectIdPath, partner_id: PartnerIdPath, rt: Runtime
) -> dict[str, Any]:
    """The partner's name and contact details: the PMO, resource managers, finance and the director; 404 once
    erased (the partner stays, its name null)."""
    partner, _ = await _partner(rt, project_id, partner_id)
    return await people.partner_personal_data(_contacts(rt), partner, project_id)


@router.put(
    "/projects/{project_id}/partners/{partner_id}/personal-data",
    operation_id="updatePartnerPersonalData",
    response_model=PartnerPersonalDataView,
    tags=PERSONAL,
)
async def update_partner_personal_data(
    project_id: ProjectIdPath, partner_id: PartnerIdPath, body: PartnerPersonalDataRequest, rt: Runtime
) -> dict[str, Any]:
    """Replace the partner's name and contact details: not an event (they are kept apart, erasable); refused (409)
    once erased."""
    contact = PartnerContact(project_id, partner_id, body.name, body.email, body.phone)
    return await people.replace_partner_personal_data(_contacts(rt), contact)


@router.delete(
    "/projects/{project_id}/partners/{partner_id}/personal-data",
    operation_id="erasePartnerPersonalData",
    status_code=204,
    response_class=Response,
    tags=PERSONAL,
)
async def erase_partner_personal_data(
    project_id: ProjectIdPath, partner_id: PartnerIdPath, ctx: Command, rt: Runtime
) -> Response:
    """Forget the partner's name and contact details (``partner-personal-data-erased``, which carries none), also
    on a closed project. Every event and communication stays, under the partner id. Erasing again changes
    nothing."""
    outcome = await people.erase_partner_personal_data(rt.executor, ctx, project_id, partner_id)
    headers = {"ETag": f'"{outcome.version}"'}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(status_code=204, headers=headers)
