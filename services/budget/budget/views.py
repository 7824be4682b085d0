"""The budget as it is read: response shaping (state -> JSON document) and the read-side queries over the query
tables ``budgets`` and ``commitments``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from budget import domain
from shared.contracts.budget import CommitmentKind, CostCategory
from shared.errors import NotFoundError
from shared.jsonable import jsonable

View = Callable[[domain.Budget, int], dict[str, Any]]
"""A command's answer: the budget's new state and version -> the JSON body."""


def budget_view(state: domain.Budget, version: int) -> dict[str, Any]:
    """The budget as the API serves it: baseline vs changes vs committed vs remaining per category."""
    categories = []
    for category in CostCategory:
        budget = state.category_budget(category)
        committed = state.committed(category)
        categories.append(
            {
                "category": category.value,
                "baseline": jsonable(state.baseline.get(category)),
                "budget": jsonable(budget),
                "committed": jsonable(committed),
                "remaining": jsonable(budget - committed),
            }
        )
    return {
        "project_id": str(state.project_id),
        "currency": state.currency,
        "version": version,
        "policy": state.policy.value,
        "policy_change_requested": (
            {"policy": state.policy_requested[0].value, "requested_by": state.policy_requested[1]}
            if state.policy_requested
            else None
        ),
        "baseline_total": jsonable(state.baseline_total),
        "bac": jsonable(state.bac),
        "committed": jsonable(state.committed_total),
        "categories": categories,
        "phasing": jsonable(state.phasing),
        "change_requests": jsonable(list(state.changes.values())),
        "funding_sources": jsonable(list(state.sources.values())),
        "tranches": sorted(jsonable(list(state.tranches.values())), key=lambda t: t["available_on"]),
        "commitments": jsonable(list(state.commitments.values())),
    }


def _item(key: str, id_field: str, item_id: UUID) -> View:
    def view(state: domain.Budget, version: int) -> dict[str, Any]:
        item: dict[str, Any] = next(i for i in budget_view(state, version)[key] if i[id_field] == str(item_id))
        return item | {"version": version}

    return view


def change_request_view(change_id: UUID) -> View:
    """The change request ``change_id`` as :func:`budget_view` lists it, with the budget's version."""
    return _item("change_requests", "change_id", change_id)


def funding_source_view(source_id: UUID) -> View:
    """The funding source ``source_id`` as :func:`budget_view` lists it, with the budget's version."""
    return _item("funding_sources", "source_id", source_id)


def tranche_view(tranche_id: UUID) -> View:
    """The tranche ``tranche_id`` as :func:`budget_view` lists it, with the budget's version."""
    return _item("tranches", "tranche_id", tranche_id)


def commitment_view(commitment_id: UUID) -> View:
    """The commitment ``commitment_id`` as :func:`budget_view` lists it, with the budget's version."""
    return _item("commitments", "commitment_id", commitment_id)


def funding_view(project_id: UUID, state: domain.Budget, day: date) -> dict[str, Any]:
    """Funding available on ``day`` and the tranches it counts (:meth:`domain.Budget.tranches_available`)."""
    return {
        "project_id": str(project_id),
        "on": day.isoformat(),
        "available": jsonable(state.funding_available(day)),
        "tranches": jsonable(state.tranches_available(day)),
    }


async def budget_document(engine: AsyncEngine, project_id: UUID) -> dict[str, Any]:
    """The budget's document from the ``budgets`` query table (:func:`budget_view` at its last version)."""
    async with engine.connect() as conn:
        doc = (await conn.execute(text("SELECT doc FROM budgets WHERE project_id = :p"), {"p": project_id})).scalar()
    if doc is None:
        raise NotFoundError(f"project {project_id} has no budget baseline")
    found: dict[str, Any] = doc
    return found


async def commitments_page(
    engine: AsyncEngine,
    project_id: UUID,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    category: CostCategory | None = None,
    kind: CommitmentKind | None = None,
    vendor: str | None = None,
    milestone_id: UUID | None = None,
) -> dict[str, Any]:
    """A page of the project's commitments with the filters given, ordered by vendor and reference."""
    filters: dict[str, Any] = {
        "status": status,
        "category": category.value if category else None,
        "kind": kind.value if kind else None,
        "vendor": vendor,
        "milestone_id": milestone_id,
    }
    used = {k: v for k, v in filters.items() if v is not None}
    where = " AND ".join(["project_id = :project_id", *(f"{k} = :{k}" for k in used)])
    params = {**used, "project_id": project_id, "limit": limit, "offset": offset}
    async with engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM commitments WHERE {where}"), params)).scalar_one()
        rows = await conn.execute(
            text(f"SELECT doc FROM commitments WHERE {where} ORDER BY vendor, reference LIMIT :limit OFFSET :offset"),
            params,
        )
        return {"items": [r.doc for r in rows], "total": total, "limit": limit, "offset": offset}
