"""Events published by the budget service on ``pmo.budget.v1`` (key: the project id).

BAC (budget at completion) = baseline + approved changes. Every amount is exact ``Money`` in the budget's
currency.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.contracts.common import Booking, MonthAmount
from shared.events import DomainEvent, EventRegistry
from shared.money import DecimalStr, Money

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
    booked: Booking | None = None
    """``amount`` in the project's currency when the tranche is in another one (see ``shared.contracts.common``)."""


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
    booked: Booking | None = None
    """``amount`` in the project's currency when the commitment is in another one (expected invoices too, pro rata)."""


class CommitmentAdjusted(DomainEvent):
    event_name = "commitment-adjusted"
    project_id: UUID
    commitment_id: UUID
    previous_amount: Money
    amount: Money
    expected_invoices: list[InvoiceExpectation]
    reason: str
    overrun: Overrun | None
    booked: Booking | None = None


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


# --- exchange rates, planned funding, estimates to complete ----------------------------------------------------


class ExchangeRateRecorded(DomainEvent):
    """From ``effective_on`` on (until a later one), 1 ``base`` = ``rate`` ``quote``. Key ``fx:<base>-<quote>``.
    The services that book amounts in another currency keep these and record the rate they used on their events."""

    event_name = "exchange-rate-recorded"
    base: str
    quote: str
    rate: DecimalStr
    effective_on: date
    source: str
    recorded_by: str
    replaces_rate: DecimalStr | None = None

    @property
    def partition_key(self) -> str:
        return f"fx:{self.base}-{self.quote}"


class FundingPlanned(DomainEvent):
    """A tranche expected but not yet secured (``funding-secured`` with the same ``tranche_id`` secures it;
    ``funding-withdrawn`` drops it). It never counts as available; reports show it beside what is."""

    event_name = "funding-planned"
    project_id: UUID
    source_id: UUID
    tranche_id: UUID
    amount: Money
    expected_on: date
    planned_by: str
    booked: Booking | None = None


class CategoryEstimate(_Part):
    category: CostCategory
    amount: Money


class EstimateToCompleteSubmitted(DomainEvent):
    """The project manager's estimate of the cost still to come, per category and phased by month, as of a date;
    replaces the previous one. EAC (bottom-up) = AC + ``total``."""

    event_name = "estimate-to-complete-submitted"
    project_id: UUID
    estimate_id: UUID
    as_of: date
    categories: list[CategoryEstimate]
    months: list[MonthAmount]
    total: Money
    note: str
    submitted_by: str


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
        ExchangeRateRecorded,
        FundingPlanned,
        EstimateToCompleteSubmitted,
    ]
)
