"""A project's performance measurement baseline (PMB): versions proposed, approved by a director or rejected;
commands, errors, ``decide`` and ``evolve``.

A version is the time-phased plan of the project's milestones: each item's budget (in the project's currency),
start and due dates, earned-value technique (:class:`~shared.contracts.projects.EvTechnique`), the weighted steps or
the monthly phasing where the technique has them. Its ``total`` (the BAC) is the items' budgets added up, never
given; the management reserve is held beside it. Version N + 1 is proposed while no other proposal is open; it is
approved by someone other than its proposer and is then in force from its ``effective_on`` (a re-baseline takes
effect no earlier than the version before it). Approved and rejected versions are kept for ever.

A reschedule (``milestone-rescheduled``) moves a milestone's forecast due date and never the baseline: only an
approved re-baseline changes planned value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import assert_never
from uuid import UUID

from projects.domain.state import Baseline, BaselineStatus, Project
from shared.contracts.common import MonthAmount
from shared.contracts.projects import (
    BaselineItem,
    EvTechnique,
    PerformanceBaselineApproved,
    PerformanceBaselineProposed,
    PerformanceBaselineRejected,
    WeightedStep,
)
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person
from shared.limits import MAX_BASELINE_ITEMS
from shared.money import Money, quantize

HUNDRED = Decimal(100)
PHASED_BY_MONTH = frozenset({EvTechnique.PERCENT_COMPLETE, EvTechnique.LEVEL_OF_EFFORT})
"""The techniques whose planned value may be phased by month (the others are planned at their dates)."""

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedItem:
    """One milestone of a proposed baseline as the proposer gives it (its name is the milestone's)."""

    milestone_id: UUID
    budget: Money
    start: date
    due: date
    technique: EvTechnique
    steps: tuple[WeightedStep, ...] = ()
    months: tuple[MonthAmount, ...] = ()


@dataclass(frozen=True)
class ProposeBaseline:
    baseline_id: UUID
    effective_on: date
    items: tuple[PlannedItem, ...]
    management_reserve: Money
    reason: str
    proposed_by: str


@dataclass(frozen=True)
class ApproveBaseline:
    version: int
    approved_by: str


@dataclass(frozen=True)
class RejectBaseline:
    version: int
    rejected_by: str
    reason: str


BaselineCommand = ProposeBaseline | ApproveBaseline | RejectBaseline
BaselineEvent = PerformanceBaselineProposed | PerformanceBaselineApproved | PerformanceBaselineRejected

# --- errors -------------------------------------------------------------------------------------------------


class UnknownBaselineError(NotFoundError):
    """The command names a baseline version the project does not have."""


class BaselineDecidedError(RuleViolationError):
    """The baseline version is already approved or rejected; or another proposal is still open."""


# --- decide -------------------------------------------------------------------------------------------------


def decide(state: Project, project_id: UUID, command: BaselineCommand) -> list[DomainEvent]:
    """The events a baseline command causes on the open project ``state``, or an error saying why not."""
    match command:
        case ProposeBaseline():
            return [_propose(state, project_id, command)]
        case ApproveBaseline():
            b = _open(state, command.version, "approved")
            if same_person(command.approved_by, b.proposed_by):
                raise SeparationOfDutiesError(
                    f"{command.approved_by} proposed baseline version {b.version}; someone else approves it"
                )
            return [
                PerformanceBaselineApproved(
                    project_id=project_id,
                    baseline_id=b.baseline_id,
                    version=b.version,
                    effective_on=b.effective_on,
                    items=list(b.items),
                    total=b.total,
                    management_reserve=b.management_reserve,
                    reason=b.reason,
                    proposed_by=b.proposed_by,
                    approved_by=command.approved_by,
                )
            ]
        case RejectBaseline():
            b = _open(state, command.version, "rejected")
            return [
                PerformanceBaselineRejected(
                    project_id=project_id,
                    baseline_id=b.baseline_id,
                    version=b.version,
                    rejected_by=command.rejected_by,
                    reason=command.reason,
                )
            ]
        case _:
            assert_never(command)


def in_force(state: Project) -> Baseline | None:
    """The latest approved version (the one a re-baseline must not take effect before), or None."""
    approved = [b for b in state.baselines if b.status is BaselineStatus.APPROVED]
    return approved[-1] if approved else None


def _open(state: Project, version: int, action: str) -> Baseline:
    if not 1 <= version <= len(state.baselines):
        raise UnknownBaselineError(f"baseline version {version} does not exist on this project")
    b = state.baselines[version - 1]
    if b.status is not BaselineStatus.PROPOSED:
        raise BaselineDecidedError(f"baseline version {version} is already {b.status.value}; it cannot be {action}")
    return b


def _propose(state: Project, project_id: UUID, command: ProposeBaseline) -> PerformanceBaselineProposed:
    pending = next((b for b in state.baselines if b.status is BaselineStatus.PROPOSED), None)
    if pending is not None:
        raise BaselineDecidedError(
            f"baseline version {pending.version} is still proposed; approve or reject it before proposing another"
        )
    previous = in_force(state)
    if previous is not None and command.effective_on < previous.effective_on:
        raise InvalidCommandError(
            f"effective_on must not be before {previous.effective_on}, when version {previous.version} took effect",
            field="effective_on",
        )
    _amount(state, command.management_reserve, "management_reserve", positive=False)
    if not command.items:
        raise InvalidCommandError("a baseline has at least one item", field="items")
    if len(command.items) > MAX_BASELINE_ITEMS:
        raise InvalidCommandError(f"a baseline has at most {MAX_BASELINE_ITEMS} items", field="items")
    items = [_item(state, i, item, command.items[:i]) for i, item in enumerate(command.items)]
    total = sum((item.budget.amount for item in items), Decimal(0))
    return PerformanceBaselineProposed(
        project_id=project_id,
        baseline_id=command.baseline_id,
        version=len(state.baselines) + 1,
        effective_on=command.effective_on,
        items=items,
        total=Money(amount=quantize(total, state.currency), currency=state.currency),
        management_reserve=command.management_reserve,
        reason=command.reason,
        proposed_by=command.proposed_by,
    )


def _item(state: Project, i: int, item: PlannedItem, before: Sequence[PlannedItem]) -> BaselineItem:
    """The baseline item of ``item`` (the ``i``-th), or InvalidCommandError naming its field (``items.i.due``)."""
    at = f"items.{i}"
    milestone = state.milestones.get(item.milestone_id)
    if milestone is None:
        raise InvalidCommandError(
            f"milestone {item.milestone_id} is not planned on this project", field=f"{at}.milestone_id"
        )
    if any(other.milestone_id == item.milestone_id for other in before):
        raise InvalidCommandError(
            f"milestone {milestone.name} is in the baseline twice; each milestone once", field=f"{at}.milestone_id"
        )
    _amount(state, item.budget, f"{at}.budget", positive=True)
    if item.due < item.start:
        raise InvalidCommandError(f"due {item.due} is before start {item.start}", field=f"{at}.due")
    if item.technique is EvTechnique.WEIGHTED_MILESTONES:
        _steps(item, at)
    elif item.steps:
        raise InvalidCommandError(
            f"steps are for the weighted_milestones technique, not {item.technique.value}", field=f"{at}.steps"
        )
    if item.months:
        _months(state, item, at)
    return BaselineItem(
        milestone_id=item.milestone_id,
        name=milestone.name,
        budget=item.budget,
        start=item.start,
        due=item.due,
        technique=item.technique,
        steps=list(item.steps),
        months=list(item.months),
    )


def _steps(item: PlannedItem, at: str) -> None:
    if not item.steps:
        raise InvalidCommandError("a weighted_milestones item has at least one step", field=f"{at}.steps")
    previous = item.start
    for j, step in enumerate(item.steps):
        if step.weight <= 0:
            raise InvalidCommandError("a step's weight is above 0", field=f"{at}.steps.{j}.weight")
        if not item.start <= step.on <= item.due:
            raise InvalidCommandError(
                f"step {step.name} on {step.on} is outside the item's {item.start}..{item.due}",
                field=f"{at}.steps.{j}.on",
            )
        if step.on < previous:
            raise InvalidCommandError(
                f"steps are in date order: {step.name} on {step.on} comes before {previous}",
                field=f"{at}.steps.{j}.on",
            )
        previous = step.on
    weights = sum((step.weight for step in item.steps), Decimal(0))
    if weights != HUNDRED:
        raise InvalidCommandError(f"the steps' weights add up to {weights}, not 100", field=f"{at}.steps")


def _months(state: Project, item: PlannedItem, at: str) -> None:
    if item.technique not in PHASED_BY_MONTH:
        raise InvalidCommandError(
            f"months phase percent_complete and level_of_effort items, not {item.technique.value}",
            field=f"{at}.months",
        )
    first, last = f"{item.start:%Y-%m}", f"{item.due:%Y-%m}"
    seen: set[str] = set()
    for j, month in enumerate(item.months):
        if not first <= month.month <= last:
            raise InvalidCommandError(
                f"month {month.month} is outside the item's {first}..{last}", field=f"{at}.months.{j}.month"
            )
        if month.month in seen:
            raise InvalidCommandError(f"month {month.month} is given twice", field=f"{at}.months.{j}.month")
        seen.add(month.month)
        _amount(state, month.amount, f"{at}.months.{j}.amount", positive=False)
    phased = sum((month.amount.amount for month in item.months), Decimal(0))
    if phased != item.budget.amount:
        raise InvalidCommandError(
            f"the months add up to {phased}, not the item's budget {item.budget.amount}", field=f"{at}.months"
        )


def _amount(state: Project, amount: Money, name: str, *, positive: bool) -> None:
    """InvalidCommandError naming ``name`` unless ``amount`` is in the project's currency, exact to its minor unit,
    and above 0 (``positive``) or at least 0."""
    if amount.currency != state.currency:
        raise InvalidCommandError(
            f"{name} must be in the project's currency {state.currency}", field=f"{name}.currency"
        )
    if quantize(amount.amount, amount.currency) != amount.amount:
        raise InvalidCommandError(f"{name} has more decimals than {amount.currency} allows", field=f"{name}.amount")
    if positive and amount.amount <= 0:
        raise InvalidCommandError(f"{name} must be above 0", field=f"{name}.amount")
    if amount.amount < 0:
        raise InvalidCommandError(f"{name} must not be negative", field=f"{name}.amount")


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Project, event: BaselineEvent) -> Project:
    """The project after a baseline event."""
    match event:
        case PerformanceBaselineProposed():
            proposed = Baseline(
                baseline_id=event.baseline_id,
                version=event.version,
                effective_on=event.effective_on,
                items=tuple(event.items),
                total=event.total,
                management_reserve=event.management_reserve,
                reason=event.reason,
                proposed_by=event.proposed_by,
            )
            return replace(state, baselines=(*state.baselines, proposed))
        case PerformanceBaselineApproved():
            return _with(
                state,
                replace(_version(state, event.version), status=BaselineStatus.APPROVED, approved_by=event.approved_by),
            )
        case PerformanceBaselineRejected():
            b = _version(state, event.version)
            return _with(
                state,
                replace(
                    b, status=BaselineStatus.REJECTED, rejected_by=event.rejected_by, rejection_reason=event.reason
                ),
            )
        case _:
            assert_never(event)


def _version(state: Project, version: int) -> Baseline:
    return state.baselines[version - 1]


def _with(state: Project, baseline: Baseline) -> Project:
    baselines = list(state.baselines)
    baselines[baseline.version - 1] = baseline
    return replace(state, baselines=tuple(baselines))
