"""Query routes: parse the request, call the read function of :mod:`resources.views` (served from the service's
own tables), answer. Names come from ``people`` (null once erased)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from resources import views
from resources.api import models as m
from resources.api.commands import SlugPath
from shared.authz import InScope, withhold_rates
from shared.bounds import WEEK_PATTERN, Day
from shared.errors import NotFoundError
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Page, Paging

router = APIRouter(responses={404: COMMAND_RESPONSES[404], 422: COMMAND_RESPONSES[422]})
ResourceIdPath = Annotated[uuid.UUID, Path(description="Resource id")]
Filter = Annotated[str | None, Query(max_length=200)]
WeekQuery = Annotated[str | None, Query(pattern=WEEK_PATTERN, examples=["2027-W23"])]


# --- resources ----------------------------------------------------------------------------------------------


@router.get("/resources", operation_id="listResources", response_model=Page[m.ResourceView], tags=["resources"])
async def list_resources(
    request: Request,
    rt: Runtime,
    paging: Paging,
    kind: Filter = None,
    role: Filter = None,
    department: Filter = None,
) -> dict[str, Any]:
    """Resources by name (erased ones last), filtered by kind, role and department; hourly rates for resource
    managers and finance only (empty for the others)."""
    found = await views.list_resources(rt.engine, paging, kind=kind, role=role, department=department)
    withhold_rates(request, *found["items"])
    return found


@router.get("/resources/{resource_id}", operation_id="getResource", response_model=m.ResourceView, tags=["resources"])
async def get_resource(request: Request, resource_id: ResourceIdPath, rt: Runtime, scope: InScope) -> JSONResponse:
    """One resource with its capacities, rates (resource managers and finance only: empty for the others), skills,
    certifications, trainings and allocations, and its name (null once erased; contact details:
    ``/personal-data``, resource managers and finance). Allocations: those to projects in the caller's scope.
    ``ETag`` = version."""
    body = await views.resource(rt.engine, resource_id)
    withhold_rates(request, body)
    body["allocations"] = await scope.visible(rt.engine, list(body.get("allocations", [])))
    return JSONResponse(body, headers={"ETag": f'"{body["version"]}"'})


@router.get(
    "/resources/{resource_id}/personal-data",
    operation_id="getPersonalData",
    response_model=m.PersonalDataView,
    tags=["personal data"],
)
async def get_personal_data(resource_id: ResourceIdPath, rt: Runtime) -> dict[str, Any]:
    """Name and contact details (resource managers and finance only); 404 once erased (the resource stays, its
    name null)."""
    return await views.contact_details(rt.engine, resource_id)


@router.get(
    "/resources/{resource_id}/allocations",
    operation_id="listResourceAllocations",
    response_model=list[m.AllocationView],
    tags=["allocations"],
)
async def list_resource_allocations(resource_id: ResourceIdPath, rt: Runtime, scope: InScope) -> list[dict[str, Any]]:
    """The resource's allocations by start date (to projects in the caller's scope), each with the over-allocation
    recorded by its last event."""
    return await scope.visible(rt.engine, list((await views.resource_doc(rt.engine, resource_id))["allocations"]))


@router.get(
    "/resources/{resource_id}/allocations/{allocation_id}",
    operation_id="getAllocation",
    response_model=m.AllocationView,
    tags=["allocations"],
)
async def get_allocation(resource_id: ResourceIdPath, allocation_id: uuid.UUID, rt: Runtime) -> JSONResponse:
    """One allocation of the resource (404 for one of a project outside the caller's scope, as for an unknown one).
    ``ETag`` = the resource's version, for ``If-Match`` on its ``/change`` and ``/end``."""
    doc = await views.resource_doc(rt.engine, resource_id)
    found = next((a for a in doc["allocations"] if a["allocation_id"] == str(allocation_id)), None)
    if found is None:
        raise NotFoundError(f"allocation {allocation_id} does not exist on resource {resource_id}")
    return JSONResponse(found, headers={"ETag": f'"{doc["version"]}"'})


# --- allocations and capacity -------------------------------------------------------------------------------


@router.get("/allocations", operation_id="listAllocations", response_model=Page[m.AllocationView], tags=["allocations"])
async def list_allocations(
    rt: Runtime,
    paging: Paging,
    scope: InScope,
    project_id: uuid.UUID | None = None,
    milestone_id: uuid.UUID | None = None,
    resource_id: uuid.UUID | None = None,
    active_on: Annotated[Day | None, Query(description="only allocations running that day")] = None,
) -> dict[str, Any]:
    """Who is allocated where: allocations by project, milestone or resource (to projects in the caller's scope),
    with the resource's name."""
    return await views.list_allocations(
        rt.engine,
        paging,
        scope=scope.where("a.project_id"),
        project_id=project_id,
        milestone_id=milestone_id,
        resource_id=resource_id,
        active_on=active_on,
    )


@router.get("/capacity", operation_id="getCapacity", response_model=Page[m.CapacityWeek], tags=["allocations"])
async def capacity(
    rt: Runtime,
    paging: Paging,
    from_week: Annotated[str, Query(pattern=WEEK_PATTERN, examples=["2027-W01"])],
    to_week: Annotated[str, Query(pattern=WEEK_PATTERN, examples=["2027-W13"])],
    resource_id: uuid.UUID | None = None,
    department: Filter = None,
    over_only: Annotated[bool, Query(description="only the weeks allocated past capacity")] = False,
) -> dict[str, Any]:
    """Capacity against allocation per resource and ISO week (at most two years at a time)."""
    return await views.capacity(
        rt.engine,
        paging,
        from_week=from_week,
        to_week=to_week,
        resource_id=resource_id,
        department=department,
        over_only=over_only,
    )


# --- work sheets and costs ----------------------------------------------------------------------------------


@router.get("/work-sheets", operation_id="listWorkSheets", response_model=Page[m.WorkSheetView], tags=["work sheets"])
async def list_work_sheets(
    rt: Runtime,
    paging: Paging,
    scope: InScope,
    project_id: uuid.UUID | None = None,
    resource_id: uuid.UUID | None = None,
    status: Filter = None,
    week: WeekQuery = None,
) -> dict[str, Any]:
    """Work sheets, latest week first, by project, resource, status (of their latest version) and week (of
    projects in the caller's scope)."""
    filters = {"project_id": project_id, "resource_id": resource_id, "status": status, "week": week}
    return await views.list_work_sheets(rt.engine, paging, filters, scope.where())


@router.get(
    "/resources/{resource_id}/work-sheets",
    operation_id="listResourceWorkSheets",
    response_model=Page[m.WorkSheetView],
    tags=["work sheets"],
)
async def list_resource_work_sheets(
    resource_id: ResourceIdPath, rt: Runtime, paging: Paging, scope: InScope, status: Filter = None
) -> dict[str, Any]:
    """The resource's work sheets, latest week first (of projects in the caller's scope)."""
    await views.resource_doc(rt.engine, resource_id)
    filters = {"resource_id": resource_id, "status": status}
    return await views.list_work_sheets(rt.engine, paging, filters, scope.where())


@router.get(
    "/resources/{resource_id}/work-sheets/{sheet_id}",
    operation_id="getWorkSheet",
    response_model=m.WorkSheetView,
    tags=["work sheets"],
)
async def get_work_sheet(resource_id: ResourceIdPath, sheet_id: uuid.UUID, rt: Runtime) -> dict[str, Any]:
    """A sheet with every version: entries, who submitted and reviewed it, the rates and costs approved."""
    return await views.work_sheet(rt.engine, resource_id, sheet_id)


@router.get(
    "/projects/{project_id}/costs", operation_id="getProjectCosts", response_model=m.ProjectCosts, tags=["costs"]
)
async def project_costs(
    project_id: uuid.UUID, rt: Runtime, from_week: WeekQuery = None, to_week: WeekQuery = None
) -> dict[str, Any]:
    """Approved cost of a project, in total, per milestone and per resource (only the approved version in force
    of each sheet counts), optionally between two ISO weeks."""
    return await views.project_costs(rt.engine, project_id, from_week=from_week, to_week=to_week)


# --- rates and policies -------------------------------------------------------------------------------------


@router.get("/roles/{role}/rates", operation_id="getRoleRates", response_model=m.RoleRatesView, tags=["rates"])
async def get_role_rates(role: SlugPath, rt: Runtime) -> dict[str, Any]:
    """A role's default hourly rates by effective date (empty if none is set)."""
    return await views.role_rates(rt.engine, role)


@router.get(
    "/departments/{department}/over-allocation-policy",
    operation_id="getOverAllocationPolicy",
    response_model=m.PolicyView,
    tags=["allocations"],
)
async def get_policy(department: SlugPath, rt: Runtime) -> dict[str, Any]:
    return await views.department_policy(rt.engine, department)
