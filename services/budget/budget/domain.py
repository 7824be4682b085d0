"""The budget aggregate (one per project): baseline, change requests, funding, commitments.

Pure ``decide`` / ``evolve`` over frozen dataclasses; the project's currency and milestones, which this service
learns from ``pmo.projects.v1``, come in with the commands. Rules:

* the baseline's category split and its phasing each add up to the total; a second baseline only comes through
  change requests; BAC = baseline + approved changes;
* an approver is never the requester (change requests, commitments awaiting approval, a looser overrun policy),
  people compared by :func:`shared.identity.same_person`;
* every amount is in the budget's currency: nothing is converted;
* a commitment that takes its category past its budget follows the project's policy: ``warn`` (commit and record
  the overrun in the event; the default), ``block`` (refused), or ``require_approval`` (waits for someone else);
  a stricter policy applies at once, a looser one (block > require_approval > warn) only once another person
  approves it;
* funding available on a date = tranches available by then and not withdrawn by then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import assert_never
from uuid import UUID

from shared.contracts.budget import (
    BudgetBaselined,
    BudgetChangeApproved,
    BudgetChangeRejected,
    BudgetChangeRequested,
    BudgetCommitted,
    CategoryAmount,
    CommitmentAdjusted,
    CommitmentApprovalRefused,
    CommitmentAwaitingApproval,
    CommitmentCancelled,
    CommitmentKind,
    CostCategory,
    FundingKind,
    FundingRescheduled,
    FundingSecured,
    FundingSourceAdded,
    FundingWithdrawn,
    InvoiceExpectation,
    Overrun,
    OverrunPolicy,
    OverrunPolicyChangeRequested,
    OverrunPolicySet,
    PhaseAmount,
)
from shared.decider import Decider
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person
from shared.immutable import frozen
from shared.money import Money


class ChangeStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


STRICTNESS = {OverrunPolicy.WARN: 0, OverrunPolicy.REQUIRE_APPROVAL: 1, OverrunPolicy.BLOCK: 2}
"""How strict each overrun policy is: moving down this order loosens the control and needs a second person."""


class CommitmentStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    COMMITTED = "committed"
    REFUSED = "refused"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ChangeRequest:
    change_id: UUID
    category: CostCategory
    amount: Money
    reason: str
    requested_by: str
    status: ChangeStatus = ChangeStatus.REQUESTED
    decided_by: str | None = None
    rejection_reason: str | None = None


@dataclass(frozen=True)
class FundingSource:
    source_id: UUID
    name: str
    kind: FundingKind


@dataclass(frozen=True)
class Tranche:
    tranche_id: UUID
    source_id: UUID
    amount: Money
    available_on: date
    withdrawn_on: date | None = None
    withdrawal_reason: str | None = None


@dataclass(frozen=True)
class Commitment:
    commitment_id: UUID
    kind: CommitmentKind
    vendor: str
    reference: str
    category: CostCategory
    milestone_id: UUID | None
    amount: Money
    expected_invoices: tuple[InvoiceExpectation, ...]
    status: CommitmentStatus
    requested_by: str
    overrun: Overrun | None = None
    approved_by: str | None = None


@dataclass(frozen=True)
class Budget:
    project_id: UUID | None = None
    currency: str = ""
    baseline_total: Money | None = None
    baseline: Mapping[CostCategory, Money] = field(default_factory=lambda: frozen({}))
    phasing: tuple[PhaseAmount, ...] = ()
    changes: Mapping[UUID, ChangeRequest] = field(default_factory=lambda: frozen({}))
    sources: Mapping[UUID, FundingSource] = field(default_factory=lambda: frozen({}))
    tranches: Mapping[UUID, Tranche] = field(default_factory=lambda: frozen({}))
    commitments: Mapping[UUID, Commitment] = field(default_factory=lambda: frozen({}))
    policy: OverrunPolicy = OverrunPolicy.WARN
    policy_requested: tuple[OverrunPolicy, str] | None = None
    """A looser policy asked for and by whom, waiting for another person's approval."""

    def _sum(self, amounts: Iterable[Money]) -> Money:
        total = Money.zero(self.currency)
        for amount in amounts:
            total = total + amount
        return total

    @property
    def bac(self) -> Money:
        """Budget at completion: baseline plus approved changes."""
        approved = (c.amount for c in self.changes.values() if c.status is ChangeStatus.APPROVED)
        return self._sum([self.baseline_total or Money.zero(self.currency), *approved])

    def category_budget(self, category: CostCategory) -> Money:
        approved = [
            c.amount for c in self.changes.values() if c.status is ChangeStatus.APPROVED and c.category is category
        ]
        return self._sum([self.baseline.get(category, Money.zero(self.currency)), *approved])

    def committed(self, category: CostCategory, *, leaving_out: UUID | None = None) -> Money:
        return self._sum(
            c.amount
            for c in self.commitments.values()
            if c.category is category and c.status is CommitmentStatus.COMMITTED and c.commitment_id != leaving_out
        )

    @property
    def committed_total(self) -> Money:
        return self._sum(c.amount for c in self.commitments.values() if c.status is CommitmentStatus.COMMITTED)

    def funding_available(self, on: date) -> Money:
        """Tranches available on ``on`` and not withdrawn by then."""
        return self._sum(
            t.amount
            for t in self.tranches.values()
            if t.available_on <= on and (t.withdrawn_on is None or t.withdrawn_on > on)
        )


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


@dataclass(frozen=True)
class AddFundingSource:
    source_id: UUID
    name: str
    kind: FundingKind


@dataclass(frozen=True)
class SecureFunding:
    source_id: UUID
    tranche_id: UUID
    amount: Money
    available_on: date


@dataclass(frozen=True)
class WithdrawFunding:
    tranche_id: UUID
    withdrawn_on: date
    reason: str


@dataclass(frozen=True)
class RescheduleFunding:
    tranche_id: UUID
    available_on: date
    reason: str


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


@dataclass(frozen=True)
class ApproveCommitment:
    commitment_id: UUID
    approved_by: str


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


@dataclass(frozen=True)
class CancelCommitment:
    commitment_id: UUID
    reason: str


@dataclass(frozen=True)
class SetOverrunPolicy:
    policy: OverrunPolicy
    set_by: str


@dataclass(frozen=True)
class ApproveOverrunPolicy:
    approved_by: str


Command = (
    BaselineBudget
    | RequestChange
    | ApproveChange
    | RejectChange
    | AddFundingSource
    | SecureFunding
    | WithdrawFunding
    | RescheduleFunding
    | Commit
    | ApproveCommitment
    | RefuseCommitment
    | AdjustCommitment
    | CancelCommitment
    | SetOverrunPolicy
    | ApproveOverrunPolicy
)


# --- decide -------------------------------------------------------------------------------------------------


def decide(state: Budget, command: Command, now: datetime) -> Sequence[DomainEvent]:
    """The events ``command`` causes on ``state``, or an error saying why it is refused."""
    if isinstance(command, BaselineBudget):
        return [_baseline(state, command)]
    if state.project_id is None:
        raise NotFoundError("the project has no budget baseline yet")
    pid = state.project_id
    match command:
        case RequestChange():
            _in_currency(state, command.amount, "amount")
            if command.amount.amount == 0:
                raise InvalidCommandError("a change request moves the budget: amount must not be zero", field="amount")
            if command.change_id in state.changes:
                raise RuleViolationError(f"change request {command.change_id} already exists")
            return [
                BudgetChangeRequested(
                    project_id=pid,
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
                    project_id=pid,
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
                    project_id=pid, change_id=change.change_id, rejected_by=command.rejected_by, reason=command.reason
                )
            ]
        case AddFundingSource():
            if command.source_id in state.sources:
                raise RuleViolationError(f"funding source {command.source_id} already exists")
            if any(s.name.casefold() == command.name.casefold() for s in state.sources.values()):
                raise RuleViolationError(f"a funding source named {command.name} already exists")
            return [
                FundingSourceAdded(project_id=pid, source_id=command.source_id, name=command.name, kind=command.kind)
            ]
        case SecureFunding():
            if command.source_id not in state.sources:
                raise NotFoundError(f"funding source {command.source_id} does not exist", field="source_id")
            _in_currency(state, command.amount, "amount")
            _positive(command.amount, "amount")
            return [
                FundingSecured(
                    project_id=pid,
                    source_id=command.source_id,
                    tranche_id=command.tranche_id,
                    amount=command.amount,
                    available_on=command.available_on,
                )
            ]
        case WithdrawFunding():
            tranche = _live_tranche(state, command.tranche_id)
            return [
                FundingWithdrawn(
                    project_id=pid,
                    tranche_id=tranche.tranche_id,
                    amount=tranche.amount,
                    withdrawn_on=command.withdrawn_on,
                    was_available=tranche.available_on <= command.withdrawn_on,
                    reason=command.reason,
                )
            ]
        case RescheduleFunding():
            tranche = _live_tranche(state, command.tranche_id)
            if command.available_on == tranche.available_on:
                raise InvalidCommandError("available_on is the tranche's current date", field="available_on")
            return [
                FundingRescheduled(
                    project_id=pid,
                    tranche_id=tranche.tranche_id,
                    previous_available_on=tranche.available_on,
                    available_on=command.available_on,
                    reason=command.reason,
                )
            ]
        case Commit():
            return [_commit(state, pid, command)]
        case ApproveCommitment():
            pending = _awaiting(state, command.commitment_id)
            if same_person(command.approved_by, pending.requested_by):
                raise SeparationOfDutiesError("a commitment is approved by someone other than its requester")
            return [
                BudgetCommitted(
                    project_id=pid,
                    commitment_id=pending.commitment_id,
                    kind=pending.kind,
                    vendor=pending.vendor,
                    reference=pending.reference,
                    category=pending.category,
                    milestone_id=pending.milestone_id,
                    amount=pending.amount,
                    expected_invoices=list(pending.expected_invoices),
                    overrun=_overrun(state, pending.category, pending.amount),
                    policy=state.policy,
                    requested_by=pending.requested_by,
                    approved_by=command.approved_by,
                )
            ]
        case RefuseCommitment():
            pending = _awaiting(state, command.commitment_id)
            if same_person(command.refused_by, pending.requested_by):
                raise SeparationOfDutiesError("a commitment is decided by someone other than its requester")
            return [
                CommitmentApprovalRefused(
                    project_id=pid,
                    commitment_id=pending.commitment_id,
                    refused_by=command.refused_by,
                    reason=command.reason,
                )
            ]
        case AdjustCommitment():
            commitment = _committed(state, command.commitment_id)
            _in_currency(state, command.amount, "amount")
            _positive(command.amount, "amount")
            _expectations(state, command.expected_invoices, command.amount)
            overrun = _overrun(state, commitment.category, command.amount, leaving_out=commitment.commitment_id)
            increase = command.amount.amount > commitment.amount.amount
            if overrun is not None and increase and state.policy is not OverrunPolicy.WARN:
                raise RuleViolationError(
                    f"the {commitment.category.value} budget would be exceeded by {overrun.over_by} "
                    f"(policy {state.policy.value}); request a budget change first"
                )
            return [
                CommitmentAdjusted(
                    project_id=pid,
                    commitment_id=commitment.commitment_id,
                    previous_amount=commitment.amount,
                    amount=command.amount,
                    expected_invoices=list(command.expected_invoices),
                    reason=command.reason,
                    overrun=overrun,
                )
            ]
        case CancelCommitment():
            commitment = _committed(state, command.commitment_id)
            return [
                CommitmentCancelled(
                    project_id=pid,
                    commitment_id=commitment.commitment_id,
                    amount_released=commitment.amount,
                    reason=command.reason,
                )
            ]
        case SetOverrunPolicy():
            if command.policy is state.policy and state.policy_requested is None:
                return []
            if STRICTNESS[command.policy] >= STRICTNESS[state.policy]:
                return [OverrunPolicySet(project_id=pid, policy=command.policy, set_by=command.set_by)]
            return [
                OverrunPolicyChangeRequested(
                    project_id=pid, policy=command.policy, previous_policy=state.policy, requested_by=command.set_by
                )
            ]
        case ApproveOverrunPolicy():
            if state.policy_requested is None:
                raise RuleViolationError("no looser overrun policy is waiting for approval")
            policy, requested_by = state.policy_requested
            if same_person(command.approved_by, requested_by):
                raise SeparationOfDutiesError(
                    f"{requested_by} asked for the {policy.value} overrun policy; someone else approves it"
                )
            return [
                OverrunPolicySet(project_id=pid, policy=policy, set_by=requested_by, approved_by=command.approved_by)
            ]
        case _:
            assert_never(command)


def _baseline(state: Budget, command: BaselineBudget) -> BudgetBaselined:
    if state.project_id is not None:
        raise RuleViolationError("the budget is already baselined; change it through change requests")
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


def _commit(state: Budget, pid: UUID, command: Commit) -> DomainEvent:
    if command.commitment_id in state.commitments:
        raise RuleViolationError(f"commitment {command.commitment_id} already exists")
    _in_currency(state, command.amount, "amount")
    _positive(command.amount, "amount")
    _expectations(state, command.expected_invoices, command.amount)
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
    overrun = _overrun(state, command.category, command.amount)
    if overrun is not None and state.policy is OverrunPolicy.BLOCK:
        raise RuleViolationError(
            f"the {command.category.value} budget ({overrun.category_budget}) would be exceeded by "
            f"{overrun.over_by}; the project's policy blocks overruns"
        )
    if overrun is not None and state.policy is OverrunPolicy.REQUIRE_APPROVAL:
        return CommitmentAwaitingApproval(
            project_id=pid,
            commitment_id=command.commitment_id,
            kind=command.kind,
            vendor=command.vendor,
            reference=command.reference,
            category=command.category,
            milestone_id=command.milestone_id,
            amount=command.amount,
            expected_invoices=list(command.expected_invoices),
            overrun=overrun,
            requested_by=command.requested_by,
        )
    return BudgetCommitted(
        project_id=pid,
        commitment_id=command.commitment_id,
        kind=command.kind,
        vendor=command.vendor,
        reference=command.reference,
        category=command.category,
        milestone_id=command.milestone_id,
        amount=command.amount,
        expected_invoices=list(command.expected_invoices),
        overrun=overrun,
        policy=state.policy,
        requested_by=command.requested_by,
        approved_by=None,
    )


def _overrun(
    state: Budget, category: CostCategory, amount: Money, *, leaving_out: UUID | None = None
) -> Overrun | None:
    budget = state.category_budget(category)
    after = state.committed(category, leaving_out=leaving_out) + amount
    if after.amount <= budget.amount:
        return None
    return Overrun(category=category, category_budget=budget, committed_after=after, over_by=after - budget)


def _in_currency(state: Budget, amount: Money, name: str) -> None:
    if amount.currency != state.currency:
        raise InvalidCommandError(
            f"{name} is in {amount.currency} but the budget is in {state.currency}; nothing is converted",
            field=f"{name}.currency",
        )


def _positive(amount: Money, name: str) -> None:
    if amount.amount <= 0:
        raise InvalidCommandError(f"{name} must be greater than zero", field=f"{name}.amount")


def _expectations(state: Budget, expected: Sequence[InvoiceExpectation], amount: Money) -> None:
    for i, e in enumerate(expected):
        _in_currency(state, e.amount, f"expected_invoices.{i}.amount")
        _positive(e.amount, f"expected_invoices.{i}.amount")
    total = sum((e.amount.amount for e in expected), Decimal(0))
    if total > amount.amount:
        raise InvalidCommandError(
            f"the expected invoices add up to {total}, more than the commitment's {amount.amount}",
            field="expected_invoices",
        )


def _open_change(state: Budget, change_id: UUID) -> ChangeRequest:
    change = state.changes.get(change_id)
    if change is None:
        raise NotFoundError(f"change request {change_id} does not exist")
    if change.status is not ChangeStatus.REQUESTED:
        raise RuleViolationError(f"change request {change_id} is already {change.status.value}")
    return change


def _live_tranche(state: Budget, tranche_id: UUID) -> Tranche:
    tranche = state.tranches.get(tranche_id)
    if tranche is None:
        raise NotFoundError(f"tranche {tranche_id} does not exist")
    if tranche.withdrawn_on is not None:
        raise RuleViolationError(f"tranche {tranche_id} was already withdrawn on {tranche.withdrawn_on}")
    return tranche


def _awaiting(state: Budget, commitment_id: UUID) -> Commitment:
    commitment = state.commitments.get(commitment_id)
    if commitment is None:
        raise NotFoundError(f"commitment {commitment_id} does not exist")
    if commitment.status is not CommitmentStatus.AWAITING_APPROVAL:
        raise RuleViolationError(f"commitment {commitment_id} is {commitment.status.value}, not awaiting approval")
    return commitment


def _committed(state: Budget, commitment_id: UUID) -> Commitment:
    commitment = state.commitments.get(commitment_id)
    if commitment is None:
        raise NotFoundError(f"commitment {commitment_id} does not exist")
    if commitment.status is not CommitmentStatus.COMMITTED:
        raise RuleViolationError(f"commitment {commitment_id} is {commitment.status.value}")
    return commitment


# --- evolve -------------------------------------------------------------------------------------------------


def evolve(state: Budget, event: DomainEvent) -> Budget:
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
            return replace(state, changes=frozen({**state.changes, change.change_id: change}))
        case BudgetChangeApproved():
            change = replace(state.changes[event.change_id], status=ChangeStatus.APPROVED, decided_by=event.approved_by)
            return replace(state, changes=frozen({**state.changes, change.change_id: change}))
        case BudgetChangeRejected():
            change = replace(
                state.changes[event.change_id],
                status=ChangeStatus.REJECTED,
                decided_by=event.rejected_by,
                rejection_reason=event.reason,
            )
            return replace(state, changes=frozen({**state.changes, change.change_id: change}))
        case FundingSourceAdded():
            source = FundingSource(event.source_id, event.name, event.kind)
            return replace(state, sources=frozen({**state.sources, source.source_id: source}))
        case FundingSecured():
            tranche = Tranche(event.tranche_id, event.source_id, event.amount, event.available_on)
            return replace(state, tranches=frozen({**state.tranches, tranche.tranche_id: tranche}))
        case FundingWithdrawn():
            tranche = replace(
                state.tranches[event.tranche_id], withdrawn_on=event.withdrawn_on, withdrawal_reason=event.reason
            )
            return replace(state, tranches=frozen({**state.tranches, tranche.tranche_id: tranche}))
        case FundingRescheduled():
            tranche = replace(state.tranches[event.tranche_id], available_on=event.available_on)
            return replace(state, tranches=frozen({**state.tranches, tranche.tranche_id: tranche}))
        case CommitmentAwaitingApproval():
            c = Commitment(
                event.commitment_id,
                event.kind,
                event.vendor,
                event.reference,
                event.category,
                event.milestone_id,
                event.amount,
                tuple(event.expected_invoices),
                CommitmentStatus.AWAITING_APPROVAL,
                event.requested_by,
                event.overrun,
            )
            return _with_commitment(state, c)
        case BudgetCommitted():
            c = Commitment(
                event.commitment_id,
                event.kind,
                event.vendor,
                event.reference,
                event.category,
                event.milestone_id,
                event.amount,
                tuple(event.expected_invoices),
                CommitmentStatus.COMMITTED,
                event.requested_by,
                event.overrun,
                event.approved_by,
            )
            return _with_commitment(state, c)
        case CommitmentApprovalRefused():
            return _with_commitment(
                state, replace(state.commitments[event.commitment_id], status=CommitmentStatus.REFUSED)
            )
        case CommitmentAdjusted():
            return _with_commitment(
                state,
                replace(
                    state.commitments[event.commitment_id],
                    amount=event.amount,
                    expected_invoices=tuple(event.expected_invoices),
                    overrun=event.overrun,
                ),
            )
        case CommitmentCancelled():
            return _with_commitment(
                state, replace(state.commitments[event.commitment_id], status=CommitmentStatus.CANCELLED)
            )
        case OverrunPolicySet():
            return replace(state, policy=event.policy, policy_requested=None)
        case OverrunPolicyChangeRequested():
            return replace(state, policy_requested=(event.policy, event.requested_by))
    return state


def _with_commitment(state: Budget, commitment: Commitment) -> Budget:
    return replace(state, commitments=frozen({**state.commitments, commitment.commitment_id: commitment}))


BUDGET: Decider[Budget, Command] = Decider("budget", Budget, evolve, decide)
"""The budget aggregate as the command executor sees it."""


def stream_id(project_id: UUID) -> str:
    return f"budget-{project_id}"
