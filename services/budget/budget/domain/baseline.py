"""The baseline and its change requests: BAC = baseline + approved changes.

The baseline's category split and its phasing each add up to the total, in the project's currency; a second
baseline only comes through change requests, and a change request is decided by someone other than its requester.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import assert_never
from uuid import UUID

from budget.domain.state import Budget, ChangeRequest, ChangeStatus, in_currency
from shared.contracts.budget import (
    BudgetBaselined,
    BudgetChangeApproved,
    BudgetChangeRejected,
    BudgetChangeRequested,
    CategoryAmount,
    CostCategory,
    PhaseAmount,
)
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person
from shared.immutable import frozen
from shared.money import Money

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineBudget:
    project_id: UUID
    project_currency: str
    known_milestones: frozenset[UUID]
    total: Money
    categories: tuple[CategoryAmount, ...]
    phasing: tuple[PhaseAmount, ...]
    baselined_by: str


@dataclass(frozen=True)
class RequestChange:
    change_id: UUID
    category: CostCategory
    amount: Money
    reason: str
    requested_by: str


@dataclass(frozen=True)
class ApproveChange:
    change_id: UUID
    approved_by: str


@dataclass(frozen=True)
class RejectChange:
    change_id: UUID
    rejected_by: str
    reason: str


ChangeCommand = RequestChange | ApproveChange | RejectChange
BaselineEvent = BudgetBaselined | BudgetChangeRequested | BudgetChangeApproved | BudgetChangeRejected


# --- errors -------------------------------------------------------------------------------------------------


class NoBaselineError(NotFoundError):
    """Every command but the baseline needs a baselined budget."""


class AlreadyBaselinedError(RuleViolationError):
    """A budget is baselined once; it changes through change requests."""


class UnknownChangeRequestError(NotFoundError):
    """No change request has this id on the project's budget."""


class ChangeDecidedError(RuleViolationError):
    """The change request was already approved or rejected."""


# --- decide -------------------------------------------------------------------------------------------------


def baseline(state: Budget, command: BaselineBudget) -> BudgetBaselined:
    """The baseline, if its splits add up to its total in the project's currency and nothing was baselined before."""
    if state.project_id is not None:
        raise AlreadyBaselinedError("the budget is already baselined; change it through change requests")
    currency = command.project_currency
    if command.total.currency != currency:
        raise InvalidCommandError(f"the budget is in the project's currency {currency}", field="total.currency")
    if command.total.amount < 0:
        raise InvalidCommandError("total must not be negative", field="total.amount")
    seen: set[CostCategory] = set()
    for i, part in enumerate(command.categories):
        if part.amount.currency != currency:
            raise InvalidCommandError(f"amounts are in {currency}", field=f"categories.{i}.amount.currency")
        if part.amount.amount < 0:
            raise InvalidCommandError("amounts must not be negative", field=f"categories.{i}.amount.amount")
        if part.category in seen:
            raise InvalidCommandError(f"category {part.category.value} appears twice", field=f"categories.{i}")
        seen.add(part.category)
    split = sum((p.amount.amount for p in command.categories), Decimal(0))
    if split != command.total.amount:
        raise InvalidCommandError(
            f"the categories add up to {split}, not to the total {command.total.amount}", field="categories"
        )
    for i, phase in enumerate(command.phasing):
        if (phase.milestone_id is None) == (phase.month is None):
            raise InvalidCommandError("each phase names either a milestone or a month", field=f"phasing.{i}")
        if phase.milestone_id is not None and phase.milestone_id not in command.known_milestones:
            raise InvalidCommandError(
                f"milestone {phase.milestone_id} is not planned on this project", field=f"phasing.{i}.milestone_id"
            )
        if phase.amount.currency != currency:
            raise InvalidCommandError(f"amounts are in {currency}", field=f"phasing.{i}.amount.currency")
    if command.phasing:
        phased = sum((p.amount.amount for p in command.phasing), Decimal(0))
        if phased != command.total.amount:
            raise InvalidCommandError(
                f"the phasing adds up to {phased}, not to the total {command.total.amount}", field="phasing"
            )
    return BudgetBaselined(
        project_id=command.project_id,
        total=command.total,
        categories=list(command.categories),
        phasing=list(command.phasing),
        baselined_by=command.baselined_by,
    )


def decide(state: Budget, project_id: UUID, command: ChangeCommand) -> list[DomainEvent]:
    """The events a change request command causes on the baselined budget of ``project_id``."""
    match command:
        case RequestChange():
            in_currency(state, command.amount, "amount")
            if command.amount.amount == 0:
                raise InvalidCommandError("a change request moves the budget: amount must not be zero", field="amount")
            if command.change_id in state.changes:
                raise RuleViolationError(f"change request {command.change_id} already exists")
            return [
                BudgetChangeRequested(
                    project_id=project_id,
                    change_id=command.change_id,
                    category=command.category,
                    amount=command.amount,
                    reason=command.reason,
                    requested_by=command.requested_by,
                )
            ]
        case ApproveChange():
            change = _open_change(state, command.change_id)
            if same_person(command.approved_by, change.requested_by):
                raise SeparationOfDutiesError("a change request is approved by someone other than its requester")
            category_after = state.category_budget(change.category) + change.amount
            if category_after.amount < 0:
                raise RuleViolationError(
                    f"approving would take the {change.category.value} budget below zero ({category_after})"
                )
            return [
                BudgetChangeApproved(
                    project_id=project_id,
                    change_id=change.change_id,
                    category=change.category,
                    amount=change.amount,
                    approved_by=command.approved_by,
                    bac_after=state.bac + change.amount,
                    category_budget_after=category_after,
                )
            ]
        case RejectChange():
            change = _open_change(state, command.change_id)
            if same_person(command.rejected_by, change.requested_by):
                raise SeparationOfDutiesError("a change request is decided by someone other than its requester")
            return [
                BudgetChangeRejected(
                    project_id=project_id,
                    change_id=change.change_id,
                    rejected_by=command.rejected_by,
                    reason=command.reason,
                )
            ]
        case _:
            assert_never(command)


def _open_change(state: Budget, change_id: UUID) -> ChangeRequest:
    change = state.changes.get(change_id)
    if change is None:
        raise UnknownChangeRequestError(f"change request {change_id} does not exist")
    if change.status is not ChangeStatus.REQUESTED:
        raise ChangeDecidedError(f"change request {change_id} is already {change.status.value}")
    return change


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Budget, event: BaselineEvent) -> Budget:
    match event:
        case BudgetBaselined():
            return replace(
                state,
                project_id=event.project_id,
                currency=event.total.currency,
                baseline_total=event.total,
                baseline=frozen({c.category: c.amount for c in event.categories}),
                phasing=tuple(event.phasing),
            )
        case BudgetChangeRequested():
            change = ChangeRequest(event.change_id, event.category, event.amount, event.reason, event.requested_by)
            return _with_change(state, change)
        case BudgetChangeApproved():
            change = replace(state.changes[event.change_id], status=ChangeStatus.APPROVED, decided_by=event.approved_by)
            return _with_change(state, change)
        case BudgetChangeRejected():
            change = replace(
                state.changes[event.change_id],
                status=ChangeStatus.REJECTED,
                decided_by=event.rejected_by,
                rejection_reason=event.reason,
            )
            return _with_change(state, change)
        case _:
            assert_never(event)


def _with_change(state: Budget, change: ChangeRequest) -> Budget:
    return replace(state, changes=frozen({**state.changes, change.change_id: change}))
