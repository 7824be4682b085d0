"""The resources service's own tables, written in the command's transaction.

Query tables (projections: folding the event table again gives the same rows, ``CommandExecutor.rebuild``):

* ``resources``: filterable columns and the resource view as a document (no personal data);
* ``resource_capacities``: weekly capacity from each week on; ``allocation_weeks``: hours allocated per resource
  and ISO week (weeks with some allocation), with the capacity in force that week;
* ``allocations``: who is allocated where;
* ``work_sheets``: each sheet with its versions; ``approved_costs``: the cost in force of each approved sheet per
  milestone, what the approved cost per project and milestone sums;
* ``role_rates`` and ``department_policies``.

Reference tables, consumed from other services' topics (a consumer each, registered in ``bootstrap.py``):

* :class:`ProjectsReference`: ``known_projects`` (currency, status) and ``known_milestones`` from
  ``pmo.projects.v1``: what a work sheet or an allocation may name;
* :class:`RatesReference`: ``known_rates`` from ``pmo.budget.v1`` (``exchange-rate-recorded``; re-recording a pair
  and date replaces its rate): what an approval books a cost in another currency at.

``people`` is not a projection: it holds the names and contact details that events never carry. It is written by
the registration command (through :data:`PERSONAL_DATA`, in the same transaction as ``resource-registered``) and
by ``PUT /resources/{id}/personal-data``, and emptied for a resource by ``personal-data-erased``. A rebuild leaves
it alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from resources import domain
from resources.views import allocation_view, resource_view, sheet_view
from shared.authz import record_project_move, record_project_scope
from shared.contracts import projects
from shared.contracts.project_edits import ProjectMoved
from shared.contracts.resources import (
    AllocationChanged,
    AllocationEnded,
    CapacityChanged,
    PersonalDataErased,
    ResourceAllocated,
    ResourceRegistered,
)
from shared.events import RecordedEvent
from shared.kafka import ConsumedEvent


@dataclass(frozen=True)
class PersonalData:
    """A person's (or a subcontractor's) name and contact details: kept out of every event."""

    resource_id: UUID
    name: str
    email: str | None
    phone: str | None


PERSONAL_DATA: ContextVar[PersonalData | None] = ContextVar("resources_personal_data", default=None)
"""Set by the registration route around the command: the projector stores it next to ``resource-registered``, in
the same transaction, so a registered resource never lacks its name and a refused one leaves none behind."""

_ALLOCATION_EVENTS = (ResourceRegistered, CapacityChanged, ResourceAllocated, AllocationChanged, AllocationEnded)


# --- the projector ------------------------------------------------------------------------------------------


async def project(conn: AsyncConnection, state: Any, version: int, events: Sequence[RecordedEvent]) -> None:
    """Apply a command's outcome to the tables (inside the command's transaction)."""
    match state:
        case domain.Resource():
            await _project_resource(conn, state, version, events)
        case domain.RoleRateCard():
            await _project_role_rates(conn, state)
        case domain.DepartmentPolicy():
            await _project_policy(conn, state, events[-1].recorded_at)


async def _project_resource(
    conn: AsyncConnection, state: domain.Resource, version: int, events: Sequence[RecordedEvent]
) -> None:
    rid = state.resource_id
    assert rid is not None
    await conn.execute(
        text(
            "INSERT INTO resources (resource_id, kind, vendor_id, role, department, currency, erased, version, "
            "registered_at, updated_at, doc) VALUES (:id, :kind, :vendor, :role, :dept, :cur, :erased, :v, :first, "
            ":t, :doc) ON CONFLICT (resource_id) DO UPDATE SET role = excluded.role, department = excluded.department, "
            "erased = excluded.erased, version = excluded.version, updated_at = excluded.updated_at, doc = excluded.doc"
        ),
        {
            "id": rid,
            "kind": state.kind.value,
            "vendor": state.vendor_id,
            "role": state.role,
            "dept": state.department,
            "cur": state.currency,
            "erased": state.personal_data_erased_on is not None,
            "v": version,
            "first": events[0].recorded_at,
            "t": events[-1].recorded_at,
            "doc": json.dumps(resource_view(state, version)),
        },
    )
    sheets_touched: dict[UUID, datetime] = {}
    for recorded in events:
        event = recorded.event
        match event:
            case ResourceRegistered():
                pending = PERSONAL_DATA.get()
                if pending is not None and pending.resource_id == event.resource_id:
                    await conn.execute(
                        text(
                            "INSERT INTO people (resource_id, name, email, phone, updated_at) "
                            "VALUES (:id, :name, :email, :phone, :t)"
                        ),
                        {
                            "id": rid,
                            "name": pending.name,
                            "email": pending.email,
                            "phone": pending.phone,
                            "t": recorded.recorded_at,
                        },
                    )
            case PersonalDataErased():
                await conn.execute(text("DELETE FROM people WHERE resource_id = :id"), {"id": rid})
        sheet_id = getattr(event, "sheet_id", None)
        if isinstance(sheet_id, UUID):
            sheets_touched[sheet_id] = recorded.recorded_at
    if any(isinstance(r.event, _ALLOCATION_EVENTS) for r in events):
        await _project_allocations(conn, state)
    for sheet_id, updated_at in sheets_touched.items():
        await _project_sheet(conn, state, state.sheets[sheet_id], updated_at)


async def _project_allocations(conn: AsyncConnection, state: domain.Resource) -> None:
    rid = state.resource_id
    for table in ("resource_capacities", "allocations", "allocation_weeks"):
        await conn.execute(text(f"DELETE FROM {table} WHERE resource_id = :id"), {"id": rid})
    await conn.execute(
        text("INSERT INTO resource_capacities (resource_id, effective_from, hours) VALUES (:id, :f, :h)"),
        [{"id": rid, "f": c.effective_from, "h": c.hours} for c in state.capacities],
    )
    if not state.allocations:
        return
    await conn.execute(
        text(
            "INSERT INTO allocations (allocation_id, resource_id, project_id, milestone_id, hours_per_week, starts_on, "
            "ends_on, ended, over_allocated, doc) VALUES (:a, :id, :p, :m, :h, :s, :e, :ended, :over, :doc)"
        ),
        [
            {
                "a": a.allocation_id,
                "id": rid,
                "p": a.project_id,
                "m": a.milestone_id,
                "h": a.hours_per_week,
                "s": a.starts_on,
                "e": a.ends_on,
                "ended": a.ended,
                "over": bool(a.over_allocation),
                "doc": json.dumps(allocation_view(state, a)),
            }
            for a in state.allocations.values()
        ],
    )
    first = min(a.starts_on for a in state.allocations.values())
    last = max(a.ends_on for a in state.allocations.values())
    rows = []
    for monday in domain.weeks(first, last):
        allocated = state.allocated_in_week(monday)
        if allocated > 0:
            rows.append(
                {
                    "id": rid,
                    "w": monday,
                    "label": domain.iso_week(monday),
                    "c": state.capacity_in_week(monday),
                    "a": allocated,
                }
            )
    if rows:
        await conn.execute(
            text(
                "INSERT INTO allocation_weeks (resource_id, week_start, week, capacity, allocated) "
                "VALUES (:id, :w, :label, :c, :a)"
            ),
            rows,
        )


async def _project_sheet(
    conn: AsyncConnection, state: domain.Resource, sheet: domain.WorkSheet, updated_at: datetime
) -> None:
    latest = sheet.latest
    await conn.execute(
        text(
            "INSERT INTO work_sheets (sheet_id, resource_id, project_id, week_start, week, version, status, "
            "approved_version, submitted_by, hours, updated_at, doc) VALUES (:s, :r, :p, :w, :label, :v, :status, "
            ":av, :by, :h, :t, :doc) ON CONFLICT (sheet_id) DO UPDATE SET version = excluded.version, "
            "status = excluded.status, approved_version = excluded.approved_version, "
            "submitted_by = excluded.submitted_by, hours = excluded.hours, updated_at = excluded.updated_at, "
            "doc = excluded.doc"
        ),
        {
            "s": sheet.sheet_id,
            "r": state.resource_id,
            "p": sheet.project_id,
            "w": sheet.week_start,
            "label": domain.iso_week(sheet.week_start),
            "v": latest.version,
            "status": latest.status.value,
            "av": sheet.approved_version,
            "by": latest.submitted_by,
            "h": latest.hours,
            "t": updated_at,
            "doc": json.dumps(sheet_view(state, sheet)),
        },
    )
    await conn.execute(text("DELETE FROM approved_costs WHERE sheet_id = :s"), {"s": sheet.sheet_id})
    in_force = sheet.in_force
    if in_force is None:
        return
    await conn.execute(
        text(
            "INSERT INTO approved_costs (sheet_id, version, resource_id, project_id, milestone_id, week_start, "
            "currency, hours, cost) VALUES (:s, :v, :r, :p, :m, :w, :cur, :h, :c)"
        ),
        [
            {
                "s": sheet.sheet_id,
                "v": in_force.version,
                "r": state.resource_id,
                "p": sheet.project_id,
                "m": line.milestone_id,
                "w": sheet.week_start,
                "cur": line.cost.currency,
                "h": line.hours,
                "c": line.cost.amount,
            }
            for line in in_force.cost_by_milestone
        ],
    )


async def _project_role_rates(conn: AsyncConnection, state: domain.RoleRateCard) -> None:
    await conn.execute(text("DELETE FROM role_rates WHERE role = :role"), {"role": state.role})
    await conn.execute(
        text("INSERT INTO role_rates (role, effective_from, amount, currency) VALUES (:role, :f, :a, :c)"),
        [
            {"role": state.role, "f": r.effective_from, "a": r.hourly_rate.amount, "c": r.hourly_rate.currency}
            for r in state.rates
        ],
    )


async def _project_policy(conn: AsyncConnection, state: domain.DepartmentPolicy, at: datetime) -> None:
    await conn.execute(
        text(
            "INSERT INTO department_policies (department, policy, updated_at) VALUES (:d, :p, :t) "
            "ON CONFLICT (department) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at"
        ),
        {"d": state.department, "p": state.policy.value, "t": at},
    )


# --- reference data from other services' topics --------------------------------------------------------------


class ProjectsReference:
    """Consumes ``pmo.projects.v1`` into ``known_projects`` (with the status the projects service gives it) and
    ``known_milestones``."""

    name = "resources.projects"
    topics = (projects.TOPIC,)
    tables = ("known_projects", "known_milestones")

    async def apply(self, conn: AsyncConnection, event: ConsumedEvent) -> None:
        if (event.name, event.version) not in projects.REGISTRY:
            return
        decoded = event.contract(projects.REGISTRY)
        match decoded:
            case projects.ProjectRegistered():
                await conn.execute(
                    text(
                        "INSERT INTO known_projects (project_id, currency, status) VALUES (:p, :c, 'proposed') "
                        "ON CONFLICT (project_id) DO NOTHING"
                    ),
                    {"p": decoded.project_id, "c": decoded.currency},
                )
                await record_project_scope(conn, decoded)
            case ProjectMoved():
                await record_project_move(conn, decoded)
            case projects.MilestonePlanned():
                await conn.execute(
                    text(
                        "INSERT INTO known_milestones (milestone_id, project_id) VALUES (:m, :p) "
                        "ON CONFLICT (milestone_id) DO NOTHING"
                    ),
                    {"m": decoded.milestone_id, "p": decoded.project_id},
                )
            case projects.ProjectApproved():
                await _project_status(conn, decoded.project_id, "approved")
            case projects.ProjectStarted() | projects.ProjectResumed():
                await _project_status(conn, decoded.project_id, "active")
            case projects.ProjectPutOnHold():
                await _project_status(conn, decoded.project_id, "on_hold")
            case projects.ProjectCompleted():
                await _project_status(conn, decoded.project_id, "completed")
            case projects.ProjectTerminated():
                await _project_status(conn, decoded.project_id, "terminated")


async def _project_status(conn: AsyncConnection, project_id: UUID, status: str) -> None:
    await conn.execute(
        text("UPDATE known_projects SET status = :s WHERE project_id = :p"), {"s": status, "p": project_id}
    )
