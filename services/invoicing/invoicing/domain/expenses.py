"""The expense claim aggregate (one stream per claim): a person's out-of-pocket cost on a project.

Claimed (``expense-claimed``) by the acting person for themselves, on a project (and optionally one of its
milestones) this service knows, in a cost category other than contingency, for more than zero in any ISO 4217
currency, incurred on a day not in the future; booked in the project's currency at the rate in force on
``incurred_on`` when it is in another one (:mod:`invoicing.domain.currency`). A receipt reference is required when
the amount in the project's currency is above the configured threshold (0 by default: always).

Then approved (a cost from ``approved_on``) or rejected with a reason, by someone other than the claimant; an
approved claim is reimbursed once (the cash view), by neither the claimant nor its approver. People are compared by
:func:`shared.identity.same_person`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import assert_never
from uuid import UUID

from invoicing.domain.currency import ExchangeRate, book
from invoicing.domain.goods import require_cost_category
from invoicing.domain.reference import ProjectFact, known_milestone, open_project
from shared.contracts.budget import CostCategory
from shared.contracts.common import Booking
from shared.contracts.invoicing import ExpenseApproved, ExpenseClaimed, ExpenseReimbursed, ExpenseRejected
from shared.decider import Decider
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person
from shared.money import Money


class ExpenseStatus(StrEnum):
    CLAIMED = "claimed"
    APPROVED = "approved"
    REJECTED = "rejected"
    REIMBURSED = "reimbursed"


@dataclass(frozen=True)
class Expense:
    expense_id: UUID
    project_id: UUID
    claimant: str
    category: CostCategory
    description: str
    amount: Money
    incurred_on: date
    receipt_reference: str | None
    milestone_id: UUID | None = None
    booked: Booking | None = None
    status: ExpenseStatus = ExpenseStatus.CLAIMED
    approved_by: str | None = None
    approved_on: date | None = None
    rejected_by: str | None = None
    rejection_reason: str | None = None
    paid_on: date | None = None
    payment_reference: str | None = None
    reimbursed_by: str | None = None

    @property
    def in_project_currency(self) -> Money:
        return self.booked.amount if self.booked is not None else self.amount


@dataclass(frozen=True)
class ClaimExpense:
    expense_id: UUID
    project_id: UUID
    claimant: str
    category: CostCategory
    description: str
    amount: Money
    incurred_on: date
    receipt_reference: str | None
    project: ProjectFact | None
    milestone_id: UUID | None = None
    rate: ExchangeRate | None = None
    receipt_threshold: Decimal = Decimal(0)
    """A receipt reference is required above this amount in the project's currency."""


@dataclass(frozen=True)
class ApproveExpense:
    approved_by: str


@dataclass(frozen=True)
class RejectExpense:
    rejected_by: str
    reason: str


@dataclass(frozen=True)
class ReimburseExpense:
    paid_on: date
    reference: str | None
    recorded_by: str


ExpenseCommand = ClaimExpense | ApproveExpense | RejectExpense | ReimburseExpense
ExpenseEvent = ExpenseClaimed | ExpenseApproved | ExpenseRejected | ExpenseReimbursed
"""Every event of an expense claim's stream."""


def _claim(command: ClaimExpense, today: date) -> ExpenseClaimed:
    project = open_project(command.project, command.project_id)
    known_milestone(project, command.milestone_id)
    require_cost_category(command.category)
    if command.amount.amount <= 0:
        raise InvalidCommandError("an expense is worth more than zero", field="amount.amount")
    if command.incurred_on > today:
        raise InvalidCommandError(
            f"an expense is claimed once incurred: {command.incurred_on} is after today ({today})", field="incurred_on"
        )
    booked = book(command.amount, project.currency, command.rate, command.incurred_on, "amount.currency")
    in_project = booked.amount if booked is not None else command.amount
    reference = (command.receipt_reference or "").strip() or None
    if reference is None and in_project.amount > command.receipt_threshold:
        raise InvalidCommandError(
            f"an expense of {in_project} needs its receipt's reference: above "
            f"{format(command.receipt_threshold, 'f')} {project.currency} every expense shows its receipt",
            field="receipt_reference",
        )
    return ExpenseClaimed(
        project_id=project.project_id,
        expense_id=command.expense_id,
        claimant=command.claimant,
        category=command.category,
        description=command.description,
        amount=command.amount,
        incurred_on=command.incurred_on,
        receipt_reference=reference,
        milestone_id=command.milestone_id,
        booked=booked,
    )


def _require(expense: Expense, status: ExpenseStatus, action: str) -> None:
    if expense.status is not status:
        raise RuleViolationError(
            f"expense {expense.expense_id} is {expense.status.value}; only a {status.value} expense is {action}"
        )


def _not_the_claimant(expense: Expense, actor: str, action: str) -> None:
    if same_person(actor, expense.claimant):
        raise SeparationOfDutiesError(f"{actor} claimed expense {expense.expense_id}; someone else {action} it")


def decide_expense(state: Expense | None, command: ExpenseCommand, now: datetime) -> Sequence[DomainEvent]:
    today = now.date()
    if isinstance(command, ClaimExpense):
        if state is not None:
            raise RuleViolationError(f"expense {state.expense_id} already exists")
        return [_claim(command, today)]
    if state is None:
        raise NotFoundError("this expense does not exist")
    expense = state
    match command:
        case ApproveExpense():
            _require(expense, ExpenseStatus.CLAIMED, "approved")
            _not_the_claimant(expense, command.approved_by, "approves")
            return [
                ExpenseApproved(
                    project_id=expense.project_id,
                    expense_id=expense.expense_id,
                    approved_by=command.approved_by,
                    approved_on=today,
                )
            ]
        case RejectExpense():
            _require(expense, ExpenseStatus.CLAIMED, "rejected")
            _not_the_claimant(expense, command.rejected_by, "rejects")
            return [
                ExpenseRejected(
                    project_id=expense.project_id,
                    expense_id=expense.expense_id,
                    rejected_by=command.rejected_by,
                    reason=command.reason,
                )
            ]
        case ReimburseExpense():
            _require(expense, ExpenseStatus.APPROVED, "reimbursed")
            _not_the_claimant(expense, command.recorded_by, "records the reimbursement of")
            if same_person(command.recorded_by, expense.approved_by):
                raise SeparationOfDutiesError(
                    f"{command.recorded_by} approved expense {expense.expense_id}; someone else records its "
                    "reimbursement"
                )
            assert expense.approved_on is not None  # set with the approved status
            if command.paid_on < expense.approved_on:
                raise InvalidCommandError(
                    f"an expense is reimbursed on or after its approval ({expense.approved_on})", field="paid_on"
                )
            if command.paid_on > today:
                raise InvalidCommandError(f"{command.paid_on} is after today ({today})", field="paid_on")
            return [
                ExpenseReimbursed(
                    project_id=expense.project_id,
                    expense_id=expense.expense_id,
                    paid_on=command.paid_on,
                    reference=command.reference,
                    recorded_by=command.recorded_by,
                )
            ]
        case _:
            assert_never(command)


def evolve_expense(state: Expense | None, event: DomainEvent) -> Expense | None:
    """The claim after ``event``; raises :class:`TypeError` for an event that is not an expense claim's."""
    if not isinstance(event, ExpenseEvent):
        raise TypeError(f"{event.event_name} is not an event of an expense claim")
    if isinstance(event, ExpenseClaimed):
        return Expense(
            expense_id=event.expense_id,
            project_id=event.project_id,
            claimant=event.claimant,
            category=event.category,
            description=event.description,
            amount=event.amount,
            incurred_on=event.incurred_on,
            receipt_reference=event.receipt_reference,
            milestone_id=event.milestone_id,
            booked=event.booked,
        )
    if state is None:
        return state
    match event:
        case ExpenseApproved():
            return replace(
                state, status=ExpenseStatus.APPROVED, approved_by=event.approved_by, approved_on=event.approved_on
            )
        case ExpenseRejected():
            return replace(
                state, status=ExpenseStatus.REJECTED, rejected_by=event.rejected_by, rejection_reason=event.reason
            )
        case ExpenseReimbursed():
            return replace(
                state,
                status=ExpenseStatus.REIMBURSED,
                paid_on=event.paid_on,
                payment_reference=event.reference,
                reimbursed_by=event.recorded_by,
            )
        case _:
            assert_never(event)


EXPENSE: Decider[Expense | None, ExpenseCommand] = Decider("expense", lambda: None, evolve_expense, decide_expense)
"""The expense claim aggregate as the command executor sees it."""


def expense_stream_id(expense_id: UUID) -> str:
    return f"expense-{expense_id}"
