"""The approved performance measurement baseline's versions and the estimate to complete in force, as the books
keep them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from shared.contracts import budget as b
from shared.contracts import projects as p

ZERO = Decimal(0)


@dataclass(frozen=True)
class PmbItem:
    """One milestone (work package) of a performance measurement baseline: its budget, its span and how it earns
    value (:class:`shared.contracts.projects.EvTechnique`); ``steps``: (date, weight %) of a weighted-milestones item;
    ``months``: (``YYYY-MM``, amount) when its budget is phased by month."""

    milestone_id: UUID
    name: str
    budget: Decimal
    start: date
    due: date
    technique: str
    steps: tuple[tuple[date, Decimal], ...] = ()
    months: tuple[tuple[str, Decimal], ...] = ()


@dataclass(frozen=True)
class PmbVersion:
    """An approved version of the PMB, in force from ``effective_on`` until a later version's."""

    version: int
    effective_on: date
    total: Decimal
    management_reserve: Decimal
    items: tuple[PmbItem, ...]
    event_id: UUID


@dataclass(frozen=True)
class EstimateBook:
    """The project manager's estimate to complete (the latest submitted with ``as_of`` on or before the date)."""

    as_of: date
    total: Decimal
    categories: dict[str, Decimal]
    months: dict[str, Decimal]
    submitted_by: str
    event_id: UUID


def with_version(versions: list[PmbVersion], version: PmbVersion) -> list[PmbVersion]:
    """The approved versions with ``version`` added (replacing an approval of the same number), by effective date."""
    kept = [v for v in versions if v.version != version.version]
    return sorted([*kept, version], key=lambda v: (v.effective_on, v.version))


def pmb_version(e: p.PerformanceBaselineApproved, event_id: UUID) -> PmbVersion:
    items = tuple(
        PmbItem(
            x.milestone_id,
            x.name,
            x.budget.amount,
            x.start,
            x.due,
            x.technique.value,
            tuple((s.on, s.weight) for s in x.steps),
            tuple((m.month, m.amount.amount) for m in x.months),
        )
        for x in e.items
    )
    return PmbVersion(e.version, e.effective_on, e.total.amount, e.management_reserve.amount, items, event_id)


def estimate_of(e: b.EstimateToCompleteSubmitted, event_id: UUID) -> EstimateBook:
    categories: dict[str, Decimal] = {}
    for c in e.categories:
        categories[c.category.value] = categories.get(c.category.value, ZERO) + c.amount.amount
    months: dict[str, Decimal] = {}
    for m in e.months:
        months[m.month] = months.get(m.month, ZERO) + m.amount.amount
    return EstimateBook(e.as_of, e.total.amount, categories, months, e.submitted_by, event_id)


def later_estimate(current: EstimateBook | None, candidate: EstimateBook) -> EstimateBook:
    """The estimate in force: the one with the latest ``as_of`` (of one date, the last recorded)."""
    return candidate if current is None or candidate.as_of >= current.as_of else current
