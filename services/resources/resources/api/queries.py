"""Query routes, served from the service's own tables. Names come from ``people`` (null once erased)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import text

from resources import domain
from resources.api import models as m
from resources.api.commands import SlugPath, personal_data, role_rates_view
from shared.bounds import Day
from shared.contracts.resources import OverAllocationPolicy
from shared.errors import InvalidCommandError, NotFoundError
from shared.money import Money, quantize
from shared.service import Runtime, ServiceRuntime
from shared.web import COMMAND_RESPONSES, Page, Paging

router = APIRouter(responses={404: COMMAND_RESPONSES[404], 422: COMMAND_RESPONSES[422]})
ResourceIdPath = Annotated[uuid.UUID, Path(description="Resource id")]
Filter = Annotated[str | None, Query(max_length=200)]
WeekQuery = Annotated[str | None, Query(pattern=r"^\d{4}-W\d{2}$", examples=["2027-W23"])]
MAX_WEEKS = 106


def _page(items: list[Any], total: int, paging: Any) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


def _week(label: str | None, name: str) -> date | None:
    if label is None:
        return None
    try:
        return domain.parse_iso_week(label)
    except ValueError as exc:
        raise InvalidCommandError(str(exc), field=name) from None


def _where(filters: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    given = {k: v for k, v in filters.items() if v is not None}
    return " AND ".join(["TRUE", *(f"{k} = :{k.replace('.', '_')}" for k in given)]), {
        k.replace(".", "_"): v for k, v in given.items()
    }


def _dec(value: Decimal) -> str:
    return format(value, "f")


# --- resources ----------------------------------------------------------------------------------------------


@router.get("/resources", response_model=Page[m.ResourceView], tags=["resources"])
async def list_resources(
    rt: Runtime, paging: Paging, kind: Filter = None, role: Filter = None, department: Filter = None
) -> dict[str, Any]:
    """Resources by name (erased ones last), filtered by kind, role and department."""
    where, params = _where({"r.kind": kind, "r.role": role, "r.department": department})
    params |= {"limit": paging.limit, "offset": paging.offset}
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM resources r WHERE {where}"), params)).scalar_one()
        rows = await conn.execute(
            text(
                "SELECT r.doc, p.name FROM resources r LEFT JOIN people p USING (resource_id) "
                f"WHERE {where} ORDER BY p.name NULLS LAST, r.resource_id LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        items = [{**r.doc, "name": r.name} for r in rows]
    return _page(items, total, paging)


async def resource_doc(rt: ServiceRuntime, resource_id: uuid.UUID) -> dict[str, Any]:
    async with rt.engine.connect() as conn:
        doc = (
            await conn.execute(text("SELECT doc FROM resources WHERE resource_id = :id"), {"id": resource_id})
        ).scalar()
    if doc is None:
        raise NotFoundError(f"resource {resource_id} does not exist")
    return dict(doc)


@router.get("/resources/{resource_id}", response_model=m.ResourceView, tags=["resources"])
async def get_resource(resource_id: ResourceIdPath, rt: Runtime) -> JSONResponse:
    """One resource with its capacities, rates, skills, certifications, trainings and allocations, and its name
    (null once erased; contact details: ``/personal-data``). ``ETag`` = version."""
    doc = await resource_doc(rt, resource_id)
    body = {**doc, **await personal_data(rt, resource_id)}
    return JSONResponse(body, headers={"ETag": f'"{doc["version"]}"'})


@router.get("/resources/{resource_id}/personal-data", response_model=m.PersonalDataView, tags=["personal data"])
async def get_personal_data(resource_id: ResourceIdPath, rt: Runtime) -> dict[str, Any]:
    """Name and contact details (resource managers only); nulls once erased."""
    await resource_doc(rt, resource_id)
    return {"resource_id": str(resource_id), **await personal_data(rt, resource_id, contact=True)}


@router.get("/resources/{resource_id}/allocations", response_model=list[m.AllocationView], tags=["allocations"])
async def list_resource_allocations(resource_id: ResourceIdPath, rt: Runtime) -> list[dict[str, Any]]:
    """The resource's allocations by start date, each with the over-allocation recorded by its last event."""
    return list((await resource_doc(rt, resource_id))["allocations"])


# --- allocations and capacity -------------------------------------------------------------------------------


@router.get("/allocations", response_model=Page[m.AllocationView], tags=["allocations"])
async def list_allocations(
    rt: Runtime,
    paging: Paging,
    project_id: uuid.UUID | None = None,
    milestone_id: uuid.UUID | None = None,
    resource_id: uuid.UUID | None = None,
    active_on: Annotated[Day | None, Query(description="only allocations running that day")] = None,
) -> dict[str, Any]:
    """Who is allocated where: allocations by project, milestone or resource, with the resource's name."""
    where, params = _where({"a.project_id": project_id, "a.milestone_id": milestone_id, "a.resource_id": resource_id})
    if active_on is not None:
        where += " AND a.starts_on <= :day AND a.ends_on >= :day"
        params["day"] = active_on
    params |= {"limit": paging.limit, "offset": paging.offset}
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM allocations a WHERE {where}"), params)).scalar_one()
        rows = await conn.execute(
            text(
                "SELECT a.doc, p.name, r.role, r.department FROM allocations a "
                "JOIN resources r USING (resource_id) LEFT JOIN people p USING (resource_id) "
                f"WHERE {where} ORDER BY a.project_id, a.starts_on, a.allocation_id LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        items = [{**r.doc, "name": r.name, "role": r.role, "department": r.department} for r in rows]
    return _page(items, total, paging)


_GRID = """
WITH weeks AS (
    SELECT CAST(d AS date) AS week_start
    FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '7 days') AS d
), grid AS (
    SELECT r.resource_id, r.department, w.week_start,
           COALESCE(
               (SELECT c.hours FROM resource_capacities c WHERE c.resource_id = r.resource_id
                AND c.effective_from <= w.week_start ORDER BY c.effective_from DESC LIMIT 1),
               (SELECT c.hours FROM resource_capacities c WHERE c.resource_id = r.resource_id
                ORDER BY c.effective_from LIMIT 1),
               0) AS capacity,
           COALESCE(a.allocated, 0) AS allocated
    FROM resources r CROSS JOIN weeks w
    LEFT JOIN allocation_weeks a ON a.resource_id = r.resource_id AND a.week_start = w.week_start
    WHERE {where}
)
"""


@router.get("/capacity", response_model=Page[m.CapacityWeek], tags=["allocations"])
async def capacity(
    rt: Runtime,
    paging: Paging,
    from_week: Annotated[str, Query(pattern=r"^\d{4}-W\d{2}$", examples=["2027-W01"])],
    to_week: Annotated[str, Query(pattern=r"^\d{4}-W\d{2}$", examples=["2027-W13"])],
    resource_id: uuid.UUID | None = None,
    department: Filter = None,
    over_only: Annotated[bool, Query(description="only the weeks allocated past capacity")] = False,
) -> dict[str, Any]:
    """Capacity against allocation per resource and ISO week (at most two years at a time)."""
    first, last = _week(from_week, "from_week"), _week(to_week, "to_week")
    assert first is not None and last is not None
    if last < first:
        raise InvalidCommandError("to_week must not be before from_week", field="to_week")
    if (last - first) // timedelta(days=7) >= MAX_WEEKS:
        raise InvalidCommandError(f"ask for at most {MAX_WEEKS} weeks at a time", field="to_week")
    where, params = _where({"r.resource_id": resource_id, "r.department": department})
    params |= {"first": first, "last": last, "limit": paging.limit, "offset": paging.offset}
    grid = _GRID.format(where=where)
    only = "WHERE g.allocated > g.capacity" if over_only else ""
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"{grid} SELECT count(*) FROM grid g {only}"), params)).scalar_one()
        rows = await conn.execute(
            text(
                f"{grid} SELECT g.*, p.name FROM grid g LEFT JOIN people p USING (resource_id) {only} "
                "ORDER BY g.department, g.resource_id, g.week_start LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        items = [
            {
                "resource_id": str(r.resource_id),
                "name": r.name,
                "department": r.department,
                "week": domain.iso_week(r.week_start),
                "week_start": r.week_start.isoformat(),
                "capacity_hours": _dec(r.capacity),
                "allocated_hours": _dec(r.allocated),
                "available_hours": _dec(max(r.capacity - r.allocated, Decimal(0))),
                "over_hours": _dec(max(r.allocated - r.capacity, Decimal(0))),
            }
            for r in rows
        ]
    return _page(items, total, paging)


# --- work sheets and costs ----------------------------------------------------------------------------------


async def _sheets(rt: ServiceRuntime, paging: Any, filters: dict[str, Any]) -> dict[str, Any]:
    where, params = _where(filters)
    params |= {"limit": paging.limit, "offset": paging.offset}
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM work_sheets WHERE {where}"), params)).scalar_one()
        rows = await conn.execute(
            text(
                f"SELECT doc FROM work_sheets WHERE {where} ORDER BY week_start DESC, sheet_id "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        return _page([r.doc for r in rows], total, paging)


@router.get("/work-sheets", response_model=Page[m.WorkSheetView], tags=["work sheets"])
async def list_work_sheets(
    rt: Runtime,
    paging: Paging,
    project_id: uuid.UUID | None = None,
    resource_id: uuid.UUID | None = None,
    status: Filter = None,
    week: WeekQuery = None,
) -> dict[str, Any]:
    """Work sheets, latest week first, by project, resource, status (of their latest version) and week."""
    _week(week, "week")
    filters = {"project_id": project_id, "resource_id": resource_id, "status": status, "week": week}
    return await _sheets(rt, paging, filters)


@router.get("/resources/{resource_id}/work-sheets", response_model=Page[m.WorkSheetView], tags=["work sheets"])
async def list_resource_work_sheets(
    resource_id: ResourceIdPath, rt: Runtime, paging: Paging, status: Filter = None
) -> dict[str, Any]:
    await resource_doc(rt, resource_id)
    return await _sheets(rt, paging, {"resource_id": resource_id, "status": status})


@router.get("/resources/{resource_id}/work-sheets/{sheet_id}", response_model=m.WorkSheetView, tags=["work sheets"])
async def get_work_sheet(resource_id: ResourceIdPath, sheet_id: uuid.UUID, rt: Runtime) -> dict[str, Any]:
    """A sheet with every version: entries, who submitted and reviewed it, the rates and costs approved."""
    async with rt.engine.connect() as conn:
        doc = (
            await conn.execute(
                text("SELECT doc FROM work_sheets WHERE sheet_id = :s AND resource_id = :r"),
                {"s": sheet_id, "r": resource_id},
            )
        ).scalar()
    if doc is None:
        raise NotFoundError(f"work sheet {sheet_id} does not exist on resource {resource_id}")
    return dict(doc)


def _cost_line(row: Any, **ids: Any) -> dict[str, Any]:
    amount = quantize(row.cost, row.currency)
    return {
        **{k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in ids.items()},
        "currency": row.currency,
        "hours": _dec(row.hours),
        "cost": Money(amount=amount, currency=row.currency).model_dump(mode="json"),
    }


@router.get("/projects/{project_id}/costs", response_model=m.ProjectCosts, tags=["costs"])
async def project_costs(
    project_id: uuid.UUID, rt: Runtime, from_week: WeekQuery = None, to_week: WeekQuery = None
) -> dict[str, Any]:
    """Approved cost of a project, in total, per milestone and per resource (only the approved version in force
    of each sheet counts), optionally between two ISO weeks."""
    params = {"p": project_id, "first": _week(from_week, "from_week"), "last": _week(to_week, "to_week")}
    where = (
        "c.project_id = :p AND (CAST(:first AS date) IS NULL OR c.week_start >= :first) "
        "AND (CAST(:last AS date) IS NULL OR c.week_start <= :last)"
    )
    sums = "c.currency, sum(c.hours) AS hours, sum(c.cost) AS cost"
    async with rt.engine.connect() as conn:
        totals = await conn.execute(
            text(f"SELECT {sums} FROM approved_costs c WHERE {where} GROUP BY c.currency ORDER BY c.currency"), params
        )
        total_lines = [_cost_line(r) for r in totals]
        milestones = await conn.execute(
            text(
                f"SELECT c.milestone_id, {sums} FROM approved_costs c WHERE {where} "
                "GROUP BY c.milestone_id, c.currency ORDER BY c.milestone_id NULLS FIRST, c.currency"
            ),
            params,
        )
        milestone_lines = [_cost_line(r, milestone_id=r.milestone_id) for r in milestones]
        resources = await conn.execute(
            text(
                f"SELECT c.resource_id, p.name, {sums} FROM approved_costs c LEFT JOIN people p USING (resource_id) "
                f"WHERE {where} GROUP BY c.resource_id, p.name, c.currency ORDER BY c.resource_id, c.currency"
            ),
            params,
        )
        resource_lines = [_cost_line(r, resource_id=r.resource_id, name=r.name) for r in resources]
    return {
        "project_id": str(project_id),
        "from_week": from_week,
        "to_week": to_week,
        "totals": total_lines,
        "by_milestone": milestone_lines,
        "by_resource": resource_lines,
    }


# --- rates and policies -------------------------------------------------------------------------------------


@router.get("/roles/{role}/rates", response_model=m.RoleRatesView, tags=["rates"])
async def get_role_rates(role: SlugPath, rt: Runtime) -> dict[str, Any]:
    """A role's default hourly rates by effective date (empty if none is set)."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT effective_from, amount, currency FROM role_rates WHERE role = :r ORDER BY effective_from"),
            {"r": role},
        )
        rates = tuple(domain.Rate(r.effective_from, Money(amount=r.amount, currency=r.currency)) for r in rows)
    return role_rates_view(domain.RoleRateCard(role, rates), role)


@router.get("/departments/{department}/over-allocation-policy", response_model=m.PolicyView, tags=["allocations"])
async def get_policy(department: SlugPath, rt: Runtime) -> dict[str, Any]:
    async with rt.engine.connect() as conn:
        policy = (
            await conn.execute(text("SELECT policy FROM department_policies WHERE department = :d"), {"d": department})
        ).scalar()
    return {"department": department, "policy": policy or OverAllocationPolicy.WARN.value}
