"""Commitments: purchase orders and subcontracts against a budget category (and optionally a milestone).

A commitment that takes its category past its budget follows the project's overrun policy
(:mod:`budget.domain.overrun_policy`): ``warn`` commits and records the overrun in the event, ``block`` refuses it,
``require_approval`` waits for someone other than the requester. A commitment may be in any currency: its expected
invoices are in the same one and add up to at most the commitment; when it is not the budget's currency, it is
booked at the rate in force on the day it is committed (or adjusted: the adjusted amount is booked on the day of the
adjustment; a commitment that waited for approval, on the day it is approved) and every check (category budget,
overrun, remaining) reads the booked amount. A vendor's reference is committed once per project.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import assert_never
from uuid import UUID

from budget.domain.conversion import Converted, RateInForce, book
from budget.domain.state import Budget, Commitment, CommitmentStatus, positive
from shared.contracts.budget import (
    BudgetCommitted,
    CommitmentAdjusted,
    CommitmentApprovalRefused,
    CommitmentAwaitingApproval,
    CommitmentCancelled,
    CommitmentKind,
    CostCategory,
    InvoiceExpectation,
    Overrun,
    OverrunPolicy,
)
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person
from shared.immutable import frozen
from shared.money import Money

# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Commit:
    commitment_id: UUID
    kind: CommitmentKind
    vendor: str
    reference: str
    category: CostCategory
    milestone_id: UUID | None
    known_milestones: frozenset[UUID]
    amount: Money
    expected_invoices: tuple[InvoiceExpectation, ...]
    requested_by: str
    booked_on: date | None = None
    """The day the commitment is recorded: an amount in another currency is booked at the rate in force then."""
    rate: RateInForce | None = None
    """The rate converting ``amount``'s currency into the budget's on ``booked_on`` (None: the same currency, or
    none is in force)."""


@dataclass(frozen=True)
class ApproveCommitment:
    commitment_id: UUID
    approved_by: str
    booked_on: date | None = None
    rate: RateInForce | None = None


@dataclass(frozen=True)
class RefuseCommitment:
    commitment_id: UUID
    refused_by: str
    reason: str


@dataclass(frozen=True)
class AdjustCommitment:
    commitment_id: UUID
    amount: Money
    expected_invoices: tuple[InvoiceExpectation, ...]
    reason: str
    booked_on: date | None = None
    rate: RateInForce | None = None


@dataclass(frozen=True)
class CancelCommitment:
    commitment_id: UUID
    reason: str


CommitmentCommand = Commit | ApproveCommitment | RefuseCommitment | AdjustCommitment | CancelCommitment
CommitmentEvent = (
    CommitmentAwaitingApproval | BudgetCommitted | CommitmentApprovalRefused | CommitmentAdjusted | CommitmentCancelled
)


# --- errors -------------------------------------------------------------------------------------------------


class UnknownCommitmentError(NotFoundError):
    """No commitment has this id on the project's budget."""


class CommitmentStatusError(RuleViolationError):
    """The commitment is not in the status the command needs (e.g. cancelling one already cancelled)."""


class OverrunRefusedError(RuleViolationError):
    """The commitment would take its category past its budget and the project's policy does not let it."""


# --- decide -------------------------------------------------------------------------------------------------


def decide(state: Budget, project_id: UUID, command: CommitmentCommand) -> list[DomainEvent]:
    """The events a commitment command causes on the baselined budget of ``project_id``."""
    match command:
        case Commit():
            return [_commit(state, project_id, command)]
        case ApproveCommitment():
            pending = _awaiting(state, command.commitment_id)
            if same_person(command.approved_by, pending.requested_by):
                raise SeparationOfDutiesError("a commitment is approved by someone other than its requester")
            converted = book(pending.amount, state.currency, command.rate, command.booked_on, "amount")
            over = overrun(state, pending.category, converted.booked)
            return [_committed_event(state, project_id, pending, converted, over, approved_by=command.approved_by)]
        case RefuseCommitment():
            pending = _awaiting(state, command.commitment_id)
            if same_person(command.refused_by, pending.requested_by):
                raise SeparationOfDutiesError("a commitment is decided by someone other than its requester")
            return [
                CommitmentApprovalRefused(
                    project_id=project_id,
                    commitment_id=pending.commitment_id,
                    refused_by=command.refused_by,
                    reason=command.reason,
                )
            ]
        case AdjustCommitment():
            commitment = _committed(state, command.commitment_id)
            if command.amount.currency != commitment.amount.currency:
                raise InvalidCommandError(
                    f"the commitment is in {commitment.amount.currency}; it is adjusted in that currency",
                    field="amount.currency",
                )
            positive(command.amount, "amount")
            _expectations(command.expected_invoices, command.amount)
            converted = book(command.amount, state.currency, command.rate, command.booked_on, "amount")
            over = overrun(state, commitment.category, converted.booked, leaving_out=commitment.commitment_id)
            increase = converted.booked.amount > commitment.booked.amount
            if over is not None and increase and state.policy is not OverrunPolicy.WARN:
                raise OverrunRefusedError(
                    f"the {commitment.category.value} budget would be exceeded by {over.over_by} "
                    f"(policy {state.policy.value}); request a budget change first"
                )
            return [
                CommitmentAdjusted(
                    project_id=project_id,
                    commitment_id=commitment.commitment_id,
                    previous_amount=commitment.amount,
                    amount=command.amount,
                    expected_invoices=list(command.expected_invoices),
                    reason=command.reason,
                    overrun=over,
                    booked=converted.booking,
                )
            ]
        case CancelCommitment():
            commitment = _committed(state, command.commitment_id)
            return [
                CommitmentCancelled(
                    project_id=project_id,
                    commitment_id=commitment.commitment_id,
                    amount_released=commitment.amount,
                    reason=command.reason,
                )
            ]
        case _:
            assert_never(command)


def _commit(state: Budget, project_id: UUID, command: Commit) -> DomainEvent:
    if command.commitment_id in state.commitments:
        raise RuleViolationError(f"commitment {command.commitment_id} already exists")
    positive(command.amount, "amount")
    _expectations(command.expected_invoices, command.amount)
    converted = book(command.amount, state.currency, command.rate, command.booked_on, "amount")
    if command.milestone_id is not None and command.milestone_id not in command.known_milestones:
        raise InvalidCommandError(
            f"milestone {command.milestone_id} is not planned on this project", field="milestone_id"
        )
    duplicate = any(
        c.vendor.casefold() == command.vendor.casefold()
        and c.reference == command.reference
        and c.status in (CommitmentStatus.COMMITTED, CommitmentStatus.AWAITING_APPROVAL)
        for c in state.commitments.values()
    )
    if duplicate:
        raise RuleViolationError(f"{command.vendor} {command.reference} is already committed on this project")
    over = overrun(state, command.category, converted.booked)
    if over is not None and state.policy is OverrunPolicy.BLOCK:
        raise OverrunRefusedError(
            f"the {command.category.value} budget ({over.category_budget}) would be exceeded by "
            f"{over.over_by}; the project's policy blocks overruns"
        )
    if over is not None and state.policy is OverrunPolicy.REQUIRE_APPROVAL:
        return CommitmentAwaitingApproval(
            project_id=project_id,
            commitment_id=command.commitment_id,
            kind=command.kind,
            vendor=command.vendor,
            reference=command.reference,
            category=command.category,
            milestone_id=command.milestone_id,
            amount=command.amount,
            expected_invoices=list(command.expected_invoices),
            overrun=over,
            requested_by=command.requested_by,
        )
    return _committed_event(state, project_id, command, converted, over, approved_by=None)


def _committed_event(
    state: Budget,
    project_id: UUID,
    terms: Commit | Commitment,
    converted: Converted,
    over: Overrun | None,
    *,
    approved_by: str | None,
) -> BudgetCommitted:
    """``budget-committed`` for the terms of a new commitment or of one that waited for approval."""
    return BudgetCommitted(
        project_id=project_id,
        commitment_id=terms.commitment_id,
        kind=terms.kind,
        vendor=terms.vendor,
        reference=terms.reference,
        category=terms.category,
        milestone_id=terms.milestone_id,
        amount=terms.amount,
        expected_invoices=list(terms.expected_invoices),
        overrun=over,
        policy=state.policy,
        requested_by=terms.requested_by,
        approved_by=approved_by,
        booked=converted.booking,
    )


def overrun(state: Budget, category: CostCategory, amount: Money, *, leaving_out: UUID | None = None) -> Overrun | None:
    """How far committing ``amount`` (booked, in the budget's currency) more (besides ``leaving_out``'s current
    booked amount) takes ``category`` past its budget; None within budget."""
    budget = state.category_budget(category)
    after = state.committed(category, leaving_out=leaving_out) + amount
    if after.amount <= budget.amount:
        return None
    return Overrun(category=category, category_budget=budget, committed_after=after, over_by=after - budget)


def _expectations(expected: Sequence[InvoiceExpectation], amount: Money) -> None:
    """Expected invoices in the commitment's currency, each positive, adding up to at most the commitment."""
    for i, e in enumerate(expected):
        if e.amount.currency != amount.currency:
            raise InvalidCommandError(
                f"expected invoices are in the commitment's currency {amount.currency}",
                field=f"expected_invoices.{i}.amount.currency",
            )
        positive(e.amount, f"expected_invoices.{i}.amount")
    total = sum((e.amount.amount for e in expected), Decimal(0))
    if total > amount.amount:
        raise InvalidCommandError(
            f"the expected invoices add up to {total}, more than the commitment's {amount.amount}",
            field="expected_invoices",
        )


def _awaiting(state: Budget, commitment_id: UUID) -> Commitment:
    commitment = _known(state, commitment_id)
    if commitment.status is not CommitmentStatus.AWAITING_APPROVAL:
        raise CommitmentStatusError(f"commitment {commitment_id} is {commitment.status.value}, not awaiting approval")
    return commitment


def _committed(state: Budget, commitment_id: UUID) -> Commitment:
    commitment = _known(state, commitment_id)
    if commitment.status is not CommitmentStatus.COMMITTED:
        raise CommitmentStatusError(f"commitment {commitment_id} is {commitment.status.value}")
    return commitment


def _known(state: Budget, commitment_id: UUID) -> Commitment:
    commitment = state.commitments.get(commitment_id)
    if commitment is None:
        raise UnknownCommitmentError(f"commitment {commitment_id} does not exist")
    return commitment


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Budget, event: CommitmentEvent) -> Budget:
    match event:
        case CommitmentAwaitingApproval():
            return _with_commitment(state, _recorded(event, CommitmentStatus.AWAITING_APPROVAL))
        case BudgetCommitted():
            committed = replace(
                _recorded(event, CommitmentStatus.COMMITTED), approved_by=event.approved_by, booking=event.booked
            )
            return _with_commitment(state, committed)
        case CommitmentApprovalRefused():
            return _with_status(state, event.commitment_id, CommitmentStatus.REFUSED)
        case CommitmentAdjusted():
            adjusted = replace(
                state.commitments[event.commitment_id],
                amount=event.amount,
                expected_invoices=tuple(event.expected_invoices),
                overrun=event.overrun,
                booking=event.booked,
            )
            return _with_commitment(state, adjusted)
        case CommitmentCancelled():
            return _with_status(state, event.commitment_id, CommitmentStatus.CANCELLED)
        case _:
            assert_never(event)


def _recorded(event: CommitmentAwaitingApproval | BudgetCommitted, status: CommitmentStatus) -> Commitment:
    return Commitment(
        event.commitment_id,
        event.kind,
        event.vendor,
        event.reference,
        event.category,
        event.milestone_id,
        event.amount,
        tuple(event.expected_invoices),
        status,
        event.requested_by,
        event.overrun,
    )


def _with_status(state: Budget, commitment_id: UUID, status: CommitmentStatus) -> Budget:
    return _with_commitment(state, replace(state.commitments[commitment_id], status=status))


def _with_commitment(state: Budget, commitment: Commitment) -> Budget:
    return replace(state, commitments=frozen({**state.commitments, commitment.commitment_id: commitment}))
