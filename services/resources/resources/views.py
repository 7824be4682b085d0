"""The read side of the resources service: response shaping (state -> JSON document) and the query functions over
the service's own tables. Names come from ``people`` (null once erased); contact details only where asked for.

Every amount and number of hours is an exact decimal written as a string; costs are rounded once, by their
currency.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from resources import domain
from shared.authz import ObjectOwner
from shared.contracts.resources import OverAllocationPolicy
from shared.errors import InvalidCommandError, NotFoundError
from shared.jsonable import jsonable
from shared.money import Money, quantize
from shared.web import PageParams

MAX_WEEKS = 106
"""The most ISO weeks the capacity grid shows at a time (two years)."""

# --- shaping ------------------------------------------------------------------------------------------------


def resource_view(state: domain.Resource, version: int) -> dict[str, Any]:
    """The JSON view of a resource (exact decimals as strings), without personal data nor work sheets."""
    assert state.resource_id is not None
    return {
        "resource_id": str(state.resource_id),
        "kind": state.kind.value,
        "vendor_id": state.vendor_id,
        "role": state.role,
        "department": state.department,
        "currency": state.currency,
        "registered_on": jsonable(state.registered_on),
        "capacities": jsonable(state.capacities),
        "rates": jsonable(state.rates),
        "skills": sorted(jsonable(list(state.skills.values())), key=lambda s: s["skill"].casefold()),
        "certifications": sorted(jsonable(list(state.certifications.values())), key=lambda c: c["obtained_on"]),
        "trainings": sorted(jsonable(state.trainings), key=lambda t: t["completed_on"]),
        "allocations": [
            allocation_view(state, a) for a in sorted(state.allocations.values(), key=lambda a: a.starts_on)
        ],
        "personal_data_erased_on": jsonable(state.personal_data_erased_on),
        "version": version,
    }


def allocation_view(state: domain.Resource, allocation: domain.Allocation) -> dict[str, Any]:
    view = dict(jsonable(allocation))
    view["resource_id"] = str(state.resource_id)
    view["over_allocated"] = bool(allocation.over_allocation)
    return view


def sheet_view(state: domain.Resource, sheet: domain.WorkSheet) -> dict[str, Any]:
    """A work sheet with its latest version on top and every version below."""
    latest = sheet.latest
    in_force = sheet.in_force
    return {
        "sheet_id": str(sheet.sheet_id),
        "resource_id": str(state.resource_id),
        "project_id": str(sheet.project_id),
        "week": domain.iso_week(sheet.week_start),
        "week_start": sheet.week_start.isoformat(),
        "version": latest.version,
        "status": latest.status.value,
        "submitted_by": latest.submitted_by,
        "hours": jsonable(latest.hours),
        "entries": jsonable(latest.entries),
        "deliverables": jsonable(latest.deliverables),
        "approved_version": sheet.approved_version,
        "approved_cost": jsonable(in_force.cost) if in_force else None,
        "approved_booked": jsonable(in_force.booked) if in_force and in_force.booked else None,
        "versions": jsonable(sheet.versions),
    }


def role_rates_view(state: domain.RoleRateCard, role: str) -> dict[str, Any]:
    return {
        "role": role,
        "rates": [
            {"effective_from": r.effective_from.isoformat(), "hourly_rate": r.hourly_rate.model_dump(mode="json")}
            for r in state.rates
        ],
    }


def policy_view(department: str, policy: OverAllocationPolicy) -> dict[str, Any]:
    return {"department": department, "policy": policy.value}


async def _page(
    engine: AsyncEngine,
    paging: PageParams,
    params: dict[str, Any],
    count: str,
    rows: str,
    item: Callable[[Any], Any],
) -> dict[str, Any]:
    """One page of ``rows`` (a query ordered and ready for ``LIMIT`` / ``OFFSET``), each row shaped by ``item``,
    with the ``count`` of the whole list."""
    params = {**params, "limit": paging.limit, "offset": paging.offset}
    async with engine.connect() as conn:
        total = (await conn.execute(text(count), params)).scalar_one()
        items = [item(r) for r in await conn.execute(text(f"{rows} LIMIT :limit OFFSET :offset"), params)]
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


def _where(filters: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    given = {k: v for k, v in filters.items() if v is not None}
    return " AND ".join(["TRUE", *(f"{k} = :{k.replace('.', '_')}" for k in given)]), {
        k.replace(".", "_"): v for k, v in given.items()
    }


def _dec(value: Decimal) -> str:
    return format(value, "f")


def week_param(label: str | None, name: str) -> date | None:
    """The Monday of the ISO week ``label`` given as the query parameter ``name`` (none if not given)."""
    if label is None:
        return None
    try:
        return domain.parse_iso_week(label)
    except ValueError as exc:
        raise InvalidCommandError(str(exc), field=name) from None


# --- resources and personal data ----------------------------------------------------------------------------


async def personal_data(engine: AsyncEngine, resource_id: uuid.UUID, *, contact: bool = False) -> dict[str, Any]:
    """The name of a resource (with ``contact``: and its contact details); nulls once erased."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT name, email, phone FROM people WHERE resource_id = :id"), {"id": resource_id}
            )
        ).first()
    if not contact:
        return {"name": row.name if row else None}
    return (
        {"name": row.name, "email": row.email, "phone": row.phone} if row else dict.fromkeys(("name", "email", "phone"))
    )


async def list_resources(
    engine: AsyncEngine, paging: PageParams, *, kind: str | None, role: str | None, department: str | None
) -> dict[str, Any]:
    """Resources by name (erased ones last), filtered by kind, role and department."""
    where, params = _where({"r.kind": kind, "r.role": role, "r.department": department})
    return await _page(
        engine,
        paging,
        params,
        f"SELECT count(*) FROM resources r WHERE {where}",
        "SELECT r.doc, p.name FROM resources r LEFT JOIN people p USING (resource_id) "
        f"WHERE {where} ORDER BY p.name NULLS LAST, r.resource_id",
        lambda r: {**r.doc, "name": r.name},
    )


async def resource_doc(engine: AsyncEngine, resource_id: uuid.UUID) -> dict[str, Any]:
    """The stored view of a resource (no personal data); :class:`NotFoundError` for an unknown one."""
    async with engine.connect() as conn:
        doc = (
            await conn.execute(text("SELECT doc FROM resources WHERE resource_id = :id"), {"id": resource_id})
        ).scalar()
    if doc is None:
        raise NotFoundError(f"resource {resource_id} does not exist")
    return dict(doc)


async def resource(engine: AsyncEngine, resource_id: uuid.UUID) -> dict[str, Any]:
    """The view of a resource with its name (its ``version`` is the aggregate's)."""
    doc = await resource_doc(engine, resource_id)
    return {**doc, **await personal_data(engine, resource_id)}


async def contact_details(engine: AsyncEngine, resource_id: uuid.UUID) -> dict[str, Any]:
    """The resource's personal data; :class:`NotFoundError` for an unknown resource and once they were erased (the
    ``DELETE`` removed them: RFC 9110, 9.3.5; the resource itself stays, with a null name)."""
    doc = await resource_doc(engine, resource_id)
    if doc.get("personal_data_erased_on") is not None:
        raise NotFoundError(
            f"the personal data of resource {resource_id} were erased on {doc['personal_data_erased_on']}"
        )
    return {"resource_id": str(resource_id), **await personal_data(engine, resource_id, contact=True)}


# --- allocations and capacity -------------------------------------------------------------------------------


async def list_allocations(
    engine: AsyncEngine,
    paging: PageParams,
    *,
    project_id: uuid.UUID | None,
    milestone_id: uuid.UUID | None,
    resource_id: uuid.UUID | None,
    active_on: date | None,
    scope: tuple[str, dict[str, Any]] = ("TRUE", {}),
) -> dict[str, Any]:
    """Allocations by project, milestone or resource (of the projects in ``scope``, a condition on
    ``a.project_id``), with the resource's name, role and department."""
    where, params = _where({"a.project_id": project_id, "a.milestone_id": milestone_id, "a.resource_id": resource_id})
    where, params = f"{where} AND {scope[0]}", {**params, **scope[1]}
    if active_on is not None:
        where += " AND a.starts_on <= :day AND a.ends_on >= :day"
        params["day"] = active_on
    return await _page(
        engine,
        paging,
        params,
        f"SELECT count(*) FROM allocations a WHERE {where}",
        "SELECT a.doc, p.name, r.role, r.department FROM allocations a "
        "JOIN resources r USING (resource_id) LEFT JOIN people p USING (resource_id) "
        f"WHERE {where} ORDER BY a.project_id, a.starts_on, a.allocation_id",
        lambda r: {**r.doc, "name": r.name, "role": r.role, "department": r.department},
    )


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


async def capacity(
    engine: AsyncEngine,
    paging: PageParams,
    *,
    from_week: str,
    to_week: str,
    resource_id: uuid.UUID | None,
    department: str | None,
    over_only: bool,
) -> dict[str, Any]:
    """Capacity against allocation per resource and ISO week, at most :data:`MAX_WEEKS` weeks at a time."""
    first, last = week_param(from_week, "from_week"), week_param(to_week, "to_week")
    assert first is not None and last is not None
    if last < first:
        raise InvalidCommandError("to_week must not be before from_week", field="to_week")
    if (last - first) // timedelta(days=7) >= MAX_WEEKS:
        raise InvalidCommandError(f"ask for at most {MAX_WEEKS} weeks at a time", field="to_week")
    where, params = _where({"r.resource_id": resource_id, "r.department": department})
    params |= {"first": first, "last": last}
    grid = _GRID.format(where=where)
    only = "WHERE g.allocated > g.capacity" if over_only else ""
    return await _page(
        engine,
        paging,
        params,
        f"{grid} SELECT count(*) FROM grid g {only}",
        f"{grid} SELECT g.*, p.name FROM grid g LEFT JOIN people p USING (resource_id) {only} "
        "ORDER BY g.department, g.resource_id, g.week_start",
        _capacity_week,
    )


def _capacity_week(row: Any) -> dict[str, Any]:
    return {
        "resource_id": str(row.resource_id),
        "name": row.name,
        "department": row.department,
        "week": domain.iso_week(row.week_start),
        "week_start": row.week_start.isoformat(),
        "capacity_hours": _dec(row.capacity),
        "allocated_hours": _dec(row.allocated),
        "available_hours": _dec(max(row.capacity - row.allocated, Decimal(0))),
        "over_hours": _dec(max(row.allocated - row.capacity, Decimal(0))),
    }


# --- work sheets and costs ----------------------------------------------------------------------------------


async def list_work_sheets(
    engine: AsyncEngine,
    paging: PageParams,
    filters: dict[str, Any],
    scope: tuple[str, dict[str, Any]] = ("TRUE", {}),
) -> dict[str, Any]:
    """Work sheets, latest week first, by the columns in ``filters`` (``None``: any), of the projects in ``scope``."""
    if "week" in filters:
        week_param(filters["week"], "week")
    where, params = _where(filters)
    where, params = f"{where} AND {scope[0]}", {**params, **scope[1]}
    return await _page(
        engine,
        paging,
        params,
        f"SELECT count(*) FROM work_sheets WHERE {where}",
        f"SELECT doc FROM work_sheets WHERE {where} ORDER BY week_start DESC, sheet_id",
        lambda r: r.doc,
    )


async def work_sheet(engine: AsyncEngine, resource_id: uuid.UUID, sheet_id: uuid.UUID) -> dict[str, Any]:
    async with engine.connect() as conn:
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


async def project_costs(
    engine: AsyncEngine, project_id: uuid.UUID, *, from_week: str | None, to_week: str | None
) -> dict[str, Any]:
    """Approved cost of a project in total, per milestone and per resource (the approved version in force of each
    sheet), optionally between two ISO weeks."""
    params = {"p": project_id, "first": week_param(from_week, "from_week"), "last": week_param(to_week, "to_week")}
    where = (
        "c.project_id = :p AND (CAST(:first AS date) IS NULL OR c.week_start >= :first) "
        "AND (CAST(:last AS date) IS NULL OR c.week_start <= :last)"
    )
    sums = "c.currency, sum(c.hours) AS hours, sum(c.cost) AS cost"
    async with engine.connect() as conn:
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


async def rates_of_role(conn: AsyncConnection, role: str) -> domain.RoleRateCard:
    """A role's default rates by effective date, as the ``role_rates`` table holds them."""
    rows = await conn.execute(
        text("SELECT effective_from, amount, currency FROM role_rates WHERE role = :r ORDER BY effective_from"),
        {"r": role},
    )
    rates = tuple(domain.Rate(r.effective_from, Money(amount=r.amount, currency=r.currency)) for r in rows)
    return domain.RoleRateCard(role, rates)


async def role_rates(engine: AsyncEngine, role: str) -> dict[str, Any]:
    """A role's default hourly rates by effective date (none if none is set)."""
    async with engine.connect() as conn:
        card = await rates_of_role(conn, role)
    return role_rates_view(card, role)


async def department_policy(engine: AsyncEngine, department: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        policy = (
            await conn.execute(text("SELECT policy FROM department_policies WHERE department = :d"), {"d": department})
        ).scalar()
    return {"department": department, "policy": policy or OverAllocationPolicy.WARN.value}


OBJECT_OWNERS = {
    "sheet_id": ObjectOwner("SELECT project_id FROM work_sheets WHERE sheet_id = :id"),
    "allocation_id": ObjectOwner("SELECT project_id FROM allocations WHERE allocation_id = :id"),
}
"""How :mod:`shared.authz` finds the project of a work sheet or an allocation addressed by its id."""
