"""The budget as it is read: response shaping (state -> JSON document) and the read-side queries over the query
tables ``budgets``, ``commitments``, ``estimates`` and ``exchange_rates``.

Amounts keep their currency: a tranche or commitment shows its ``amount`` as given, what it counts for in the
budget's currency (``booked``) and, when it was converted, its ``booking`` (rate, date and source)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from budget import domain
from shared.contracts.budget import CommitmentKind, CostCategory, EstimateToCompleteSubmitted, ExchangeRateRecorded
from shared.errors import NotFoundError
from shared.events import RecordedEvent
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
        "tranches": [tranche_json(t) for t in sorted(state.tranches.values(), key=lambda t: t.available_on)],
        "commitments": [commitment_json(state, c) for c in state.commitments.values()],
        "estimate_to_complete": estimate_json(state.estimate) if state.estimate is not None else None,
    }


def tranche_json(tranche: domain.Tranche) -> dict[str, Any]:
    """A tranche: ``status`` planned or secured; a planned one has ``expected_on``, a secured one ``available_on``;
    ``booked`` is what it counts for in the budget's currency."""
    doc: dict[str, Any] = jsonable(tranche)
    planned = doc.pop("planned")
    doc["status"] = "planned" if planned else "secured"
    doc["booked"] = jsonable(tranche.booked)
    if planned:
        doc["expected_on"] = doc.pop("available_on")
    return doc


def commitment_json(state: domain.Budget, commitment: domain.Commitment) -> dict[str, Any]:
    """A commitment with ``booked``: what it counts for in the budget's currency (null while one in another currency
    awaits approval: it is booked at the rate in force on the day it is approved)."""
    booked = commitment.booking is not None or commitment.amount.currency == state.currency
    doc: dict[str, Any] = jsonable(commitment)
    return doc | {"booked": jsonable(commitment.booked) if booked else None}


def estimate_json(estimate: EstimateToCompleteSubmitted) -> dict[str, Any]:
    doc: dict[str, Any] = estimate.model_dump(mode="json")
    return doc


def estimate_document(estimate: EstimateToCompleteSubmitted, recorded_at: datetime) -> dict[str, Any]:
    """An estimate as ``GET /budgets/{project_id}/estimates`` lists it: the event's data and when it was
    submitted."""
    return estimate_json(estimate) | {"submitted_at": recorded_at.isoformat()}


def _item(shown: Callable[[domain.Budget], Any]) -> View:
    """A command's answer: one item of the budget as :func:`budget_view` lists it (built alone, not by building the
    whole budget's document once more), with the budget's version."""

    def view(state: domain.Budget, version: int) -> dict[str, Any]:
        item: dict[str, Any] = shown(state)
        return item | {"version": version}

    return view


def change_request_view(change_id: UUID) -> View:
    """The change request ``change_id`` as :func:`budget_view` lists it, with the budget's version."""
    return _item(lambda state: jsonable(state.changes[change_id]))


def funding_source_view(source_id: UUID) -> View:
    """The funding source ``source_id`` as :func:`budget_view` lists it, with the budget's version."""
    return _item(lambda state: jsonable(state.sources[source_id]))


def tranche_view(tranche_id: UUID) -> View:
    """The tranche ``tranche_id`` as :func:`budget_view` lists it, with the budget's version."""
    return _item(lambda state: tranche_json(state.tranches[tranche_id]))


def commitment_view(commitment_id: UUID) -> View:
    """The commitment ``commitment_id`` as :func:`budget_view` lists it, with the budget's version."""
    return _item(lambda state: commitment_json(state, state.commitments[commitment_id]))


def estimate_view(state: domain.Budget, version: int) -> dict[str, Any]:
    """The estimate just submitted (the budget's latest), with the budget's version."""
    assert state.estimate is not None  # answered after estimate-to-complete-submitted only
    return estimate_json(state.estimate) | {"version": version}


def funding_view(project_id: UUID, state: domain.Budget, day: date) -> dict[str, Any]:
    """Funding on ``day``, planned and secured apart, every total booked in the budget's currency: ``available``
    (secured tranches available by then and not withdrawn by then, listed in ``tranches``), ``secured_later``
    (secured, available after ``day``) and ``planned`` (not secured yet, never available), each with its tranches."""
    later = state.tranches_secured_later(day)
    planned = state.tranches_planned(day)
    return {
        "project_id": str(project_id),
        "on": day.isoformat(),
        "available": jsonable(state.funding_available(day)),
        "tranches": [tranche_json(t) for t in state.tranches_available(day)],
        "secured_later": jsonable(state.total(later)),
        "secured_later_tranches": [tranche_json(t) for t in later],
        "planned": jsonable(state.total(planned)),
        "planned_tranches": [tranche_json(t) for t in planned],
    }


# --- exchange rates -------------------------------------------------------------------------------------------


def exchange_rate_answer(
    effective_on: date,
) -> Callable[[domain.ExchangeRatePair, Sequence[RecordedEvent], int], dict[str, Any]]:
    """The answer to recording a rate: the rate now in force from ``effective_on``, whether this request changed it
    (``recorded``) and the rate it replaced."""

    def respond(state: domain.ExchangeRatePair, events: Sequence[RecordedEvent], version: int) -> dict[str, Any]:
        rate = state.rates[effective_on]
        recorded = next((r.event for r in events if isinstance(r.event, ExchangeRateRecorded)), None)
        return {
            "base": rate.base,
            "quote": rate.quote,
            "effective_on": effective_on.isoformat(),
            "rate": jsonable(rate.rate),
            "source": rate.source,
            "recorded": recorded is not None,
            "replaces_rate": jsonable(recorded.replaces_rate) if recorded is not None else None,
            "version": version,
        }

    return respond


def rate_in_force_view(rate: domain.RateInForce, on: date) -> dict[str, Any]:
    """The rate converting ``rate.base`` into ``rate.quote`` on ``on``; ``inverse_of`` names the recorded rate it
    inverts (1 / rate, 80 significant digits) when only the opposite pair is recorded."""
    inverse = rate.inverse_of
    return {
        "base": rate.base,
        "quote": rate.quote,
        "on": on.isoformat(),
        "rate": jsonable(rate.rate),
        "effective_on": rate.effective_on.isoformat(),
        "source": rate.source,
        "inverse_of": (
            {"base": inverse.base, "quote": inverse.quote, "rate": jsonable(inverse.rate)} if inverse else None
        ),
    }


async def exchange_rates_page(engine: AsyncEngine, base: str, quote: str, *, limit: int, offset: int) -> dict[str, Any]:
    """A page of the ``base``->``quote`` rates as recorded, latest effective date first (each date's rate in force,
    the rate it last replaced, who recorded it and when)."""
    params = {"b": base, "q": quote, "limit": limit, "offset": offset}
    where = "base = :b AND quote = :q"
    async with engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM exchange_rates WHERE {where}"), params)).scalar_one()
        rows = await conn.execute(
            text(
                "SELECT effective_on, rate, source, recorded_by, recorded_at, replaces_rate FROM exchange_rates "
                f"WHERE {where} ORDER BY effective_on DESC LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        items = [
            {
                "base": base,
                "quote": quote,
                "effective_on": r.effective_on.isoformat(),
                "rate": jsonable(r.rate),
                "source": r.source,
                "recorded_by": r.recorded_by,
                "recorded_at": r.recorded_at.isoformat(),
                "replaces_rate": jsonable(r.replaces_rate),
            }
            for r in rows
        ]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


async def estimates_page(engine: AsyncEngine, project_id: UUID, *, limit: int, offset: int) -> dict[str, Any]:
    """A page of the project's estimates to complete, the latest submitted first."""
    params = {"p": project_id, "limit": limit, "offset": offset}
    async with engine.connect() as conn:
        total = (await conn.execute(text("SELECT count(*) FROM estimates WHERE project_id = :p"), params)).scalar_one()
        rows = await conn.execute(
            text(
                "SELECT doc FROM estimates WHERE project_id = :p ORDER BY recorded_at DESC, estimate_id DESC "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        )
        return {"items": [r.doc for r in rows], "total": total, "limit": limit, "offset": offset}


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
