"""Events published by the budget service on ``pmo.budget.v1`` (key: the project id).

BAC (budget at completion) = baseline + approved changes. Every amount is exact ``Money`` in the budget's
currency.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.events import DomainEvent, EventRegistry
from shared.money import Money

TOPIC = "pmo.budget.v1"


class CostCategory(StrEnum):
    LABOUR = "labour"
    SUBCONTRACTING = "subcontracting"
    MATERIALS = "materials"
    TRAVEL = "travel"
    OTHER = "other"
    CONTINGENCY = "contingency"


class FundingKind(StrEnum):
    INTERNAL = "internal"
    GRANT = "grant"
    CLIENT = "client"
    LOAN = "loan"


class CommitmentKind(StrEnum):
    PURCHASE_ORDER = "purchase_order"
    SUBCONTRACT = "subcontract"


class OverrunPolicy(StrEnum):
    WARN = "warn"
    BLOCK = "block"
    REQUIRE_APPROVAL = "require_approval"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CategoryAmount(_Part):
    category: CostCategory
    amount: Money


class PhaseAmount(_Part):
    """A slice of the baseline: for a milestone, or for a calendar month (``YYYY-MM``)."""

    milestone_id: UUID | None = None
    month: str | None = None
    amount: Money


class InvoiceExpectation(_Part):
    on: date
    amount: Money


class Overrun(_Part):
    """A category whose commitments exceed its budget: the figures when the commitment was made."""

    category: CostCategory
    category_budget: Money
    committed_after: Money
    over_by: Money


class BudgetBaselined(DomainEvent):
    event_name = "budget-baselined"
    project_id: UUID
    total: Money
    categories: list[CategoryAmount]
    phasing: list[PhaseAmount]
    baselined_by: str


class BudgetChangeRequested(DomainEvent):
    event_name = "budget-change-requested"
    project_id: UUID
    change_id: UUID
    category: CostCategory
    amount: Money
    reason: str
    requested_by: str


class BudgetChangeApproved(DomainEvent):
    event_name = "budget-change-approved"
    project_id: UUID
    change_id: UUID
    category: CostCategory
    amount: Money
    approved_by: str
    bac_after: Money
    category_budget_after: Money


class BudgetChangeRejected(DomainEvent):
    event_name = "budget-change-rejected"
    project_id: UUID
    change_id: UUID
    rejected_by: str
    reason: str


class FundingSourceAdded(DomainEvent):
    event_name = "funding-source-added"
    project_id: UUID
    source_id: UUID
    name: str
    kind: FundingKind


class FundingSecured(DomainEvent):
    event_name = "funding-secured"
    project_id: UUID
    source_id: UUID
    tranche_id: UUID
    amount: Money
    available_on: date


class FundingWithdrawn(DomainEvent):
    """A tranche is withdrawn whole. ``was_available`` says it had already been counted as available."""

    event_name = "funding-withdrawn"
    project_id: UUID
    tranche_id: UUID
    amount: Money
    withdrawn_on: date
    was_available: bool
    reason: str


class FundingRescheduled(DomainEvent):
    event_name = "funding-rescheduled"
    project_id: UUID
    tranche_id: UUID
    previous_available_on: date
    available_on: date
    reason: str


class CommitmentAwaitingApproval(DomainEvent):
    """Under the ``require_approval`` policy, a commitment that overruns its category waits for approval."""

    event_name = "commitment-awaiting-approval"
    project_id: UUID
    commitment_id: UUID
    kind: CommitmentKind
    vendor: str
    reference: str
    category: CostCategory
    milestone_id: UUID | None
    amount: Money
    expected_invoices: list[InvoiceExpectation]
    overrun: Overrun
    requested_by: str


class CommitmentApprovalRefused(DomainEvent):
    event_name = "commitment-approval-refused"
    project_id: UUID
    commitment_id: UUID
    refused_by: str
    reason: str


class BudgetCommitted(DomainEvent):
    """A purchase order or subcontract commits money against a budget category (and optionally a milestone)."""

    event_name = "budget-committed"
    project_id: UUID
    commitment_id: UUID
    kind: CommitmentKind
    vendor: str
    reference: str
    category: CostCategory
    milestone_id: UUID | None
    amount: Money
    expected_invoices: list[InvoiceExpectation]
    overrun: Overrun | None
    policy: OverrunPolicy
    requested_by: str
    approved_by: str | None


class CommitmentAdjusted(DomainEvent):
    event_name = "commitment-adjusted"
    project_id: UUID
    commitment_id: UUID
    previous_amount: Money
    amount: Money
    expected_invoices: list[InvoiceExpectation]
    reason: str
    overrun: Overrun | None


class CommitmentCancelled(DomainEvent):
    event_name = "commitment-cancelled"
    project_id: UUID
    commitment_id: UUID
    amount_released: Money
    reason: str


class OverrunPolicySet(DomainEvent):
    """The policy in force from now on. A looser one than before was requested by ``set_by`` and approved by
    ``approved_by``, another person (absent: a stricter or equal policy, applied at once)."""

    event_name = "overrun-policy-set"
    project_id: UUID
    policy: OverrunPolicy
    set_by: str
    approved_by: str | None = None


class OverrunPolicyChangeRequested(DomainEvent):
    """A looser overrun policy than the one in force (block, then require_approval, then warn) was asked for; the
    policy in force stays until another person approves it (``overrun-policy-set``)."""

    event_name = "overrun-policy-change-requested"
    project_id: UUID
    policy: OverrunPolicy
    previous_policy: OverrunPolicy
    requested_by: str


REGISTRY = EventRegistry(
    [
        BudgetBaselined,
        BudgetChangeRequested,
        BudgetChangeApproved,
        BudgetChangeRejected,
        FundingSourceAdded,
        FundingSecured,
        FundingWithdrawn,
        FundingRescheduled,
        CommitmentAwaitingApproval,
        CommitmentApprovalRefused,
        BudgetCommitted,
        CommitmentAdjusted,
        CommitmentCancelled,
        OverrunPolicySet,
        OverrunPolicyChangeRequested,
    ]
)
