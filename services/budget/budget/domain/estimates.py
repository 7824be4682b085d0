"""The estimate to complete: the project manager's estimate of the cost still to come, per category and phased by
month, as of a date (``estimate-to-complete-submitted``; each replaces the previous one, all are kept).

Rules: ``as_of`` is neither in the future nor before the day the budget was baselined; each category at most once
and each month at most once; every amount zero or more, in the project's currency (an estimate is never
converted); months not before ``as_of``'s month; ``total`` is the sum of the categories (computed, never given)
and the months add up to it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import assert_never
from uuid import UUID

from budget.domain.state import Budget, in_currency
from shared.contracts.budget import CategoryEstimate, CostCategory, EstimateToCompleteSubmitted
from shared.contracts.common import MonthAmount
from shared.errors import InvalidCommandError
from shared.events import DomainEvent
from shared.money import Money, quantize


@dataclass(frozen=True)
class SubmitEstimate:
    estimate_id: UUID
    as_of: date
    categories: tuple[CategoryEstimate, ...]
    months: tuple[MonthAmount, ...]
    note: str
    submitted_by: str
    baselined_on: date
    """The day the budget was baselined (recorded): no estimate is as of an earlier day."""


EstimateCommand = SubmitEstimate
EstimateEvent = EstimateToCompleteSubmitted


def decide(state: Budget, project_id: UUID, command: EstimateCommand, now: datetime) -> list[DomainEvent]:
    """The estimate to complete, if it follows the rules of the module docstring."""
    match command:
        case SubmitEstimate():
            _as_of(command, now.date())
            total = _categories(state, command.categories)
            _months(state, command.months, command.as_of, total)
            return [
                EstimateToCompleteSubmitted(
                    project_id=project_id,
                    estimate_id=command.estimate_id,
                    as_of=command.as_of,
                    categories=list(command.categories),
                    months=sorted(command.months, key=lambda m: m.month),
                    total=total,
                    note=command.note,
                    submitted_by=command.submitted_by,
                )
            ]
        case _:
            assert_never(command)


def _as_of(command: SubmitEstimate, today: date) -> None:
    if command.as_of > today:
        raise InvalidCommandError(f"as_of {command.as_of} is in the future (today is {today})", field="as_of")
    if command.as_of < command.baselined_on:
        raise InvalidCommandError(
            f"as_of {command.as_of} is before the budget was baselined ({command.baselined_on})", field="as_of"
        )


def _categories(state: Budget, categories: tuple[CategoryEstimate, ...]) -> Money:
    """The estimate's total: the sum of its categories, each checked."""
    seen: set[CostCategory] = set()
    for i, part in enumerate(categories):
        in_currency(state, part.amount, f"categories.{i}.amount")
        if part.amount.amount < 0:
            raise InvalidCommandError("an estimate is zero or more", field=f"categories.{i}.amount.amount")
        if part.category in seen:
            raise InvalidCommandError(f"category {part.category.value} appears twice", field=f"categories.{i}")
        seen.add(part.category)
    return Money(
        amount=quantize(sum((p.amount.amount for p in categories), Decimal(0)), state.currency), currency=state.currency
    )


def _months(state: Budget, months: tuple[MonthAmount, ...], as_of: date, total: Money) -> None:
    first = f"{as_of.year:04d}-{as_of.month:02d}"
    seen: set[str] = set()
    for i, part in enumerate(months):
        in_currency(state, part.amount, f"months.{i}.amount")
        if part.amount.amount < 0:
            raise InvalidCommandError("an estimate is zero or more", field=f"months.{i}.amount.amount")
        if part.month < first:
            raise InvalidCommandError(f"{part.month} is before as_of's month {first}", field=f"months.{i}.month")
        if part.month in seen:
            raise InvalidCommandError(f"month {part.month} appears twice", field=f"months.{i}")
        seen.add(part.month)
    phased = sum((m.amount.amount for m in months), Decimal(0))
    if phased != total.amount:
        raise InvalidCommandError(
            f"the months add up to {phased}, not to the categories' total {total.amount}", field="months"
        )


def evolve(state: Budget, event: EstimateEvent) -> Budget:
    match event:
        case EstimateToCompleteSubmitted():
            return replace(state, estimate=event)
        case _:
            assert_never(event)
