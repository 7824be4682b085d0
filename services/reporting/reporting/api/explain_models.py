"""The answers of the explanations besides an EVM figure's (:mod:`reporting.explanations`), described for OpenAPI;
answers are never re-validated. Amounts are exact decimal text in the project's ``currency``, ratios with 4 decimals;
every explanation lists the events behind its numbers (:class:`~reporting.api.report_models.EvidenceEvent`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from reporting.api.report_models import Amount, EvidenceEvent, Ratio, UtilisationRow


class Explanation(BaseModel):
    """What every explanation of a project's number starts with: the project, its currency, what is explained, and
    the two time axes."""

    project_id: uuid.UUID
    currency: str
    explains: str = Field(description="what is explained, in words")
    as_of: date
    known_at: datetime | None


class RiskComputedFrom(BaseModel):
    needed: Amount
    available: Amount
    actual_cost: Amount
    commitments_due: Amount
    remaining_planned_value: Amount
    cpi_used: str
    spread: Amount
    forecast: Amount
    to_come: Amount
    cv: Ratio
    funding_needed_p95: Amount
    shortfall: Amount
    planned_funding: Amount


class MilestoneRiskExplained(Explanation):
    """An open milestone's underfunding risk: the cost needed by its date (actual cost, commitments' expected
    invoices, remaining planned value at the cost performance seen), the funding available by then, the spread."""

    probability: Ratio
    alert_above: Ratio = Field(description="the portfolio's underfunding-risk threshold")
    computed_from: RiskComputedFrom
    driver: str
    events: list[EvidenceEvent]


class CategoryComputedFrom(BaseModel):
    budget: Amount
    committed: Amount
    actual: Amount
    remaining: Amount
    rule: str


class CategoryExplained(Explanation):
    """A row of the category table: budget (baseline and approved changes), committed, actual, remaining."""

    computed_from: CategoryComputedFrom
    events: list[EvidenceEvent]


class BackingComputedFrom(BaseModel):
    invoiced: Amount
    backed: Amount
    backing_ratio: Ratio | None = Field(description="backed / invoiced (null: nothing invoiced)")
    target: Ratio = Field(description="the portfolio's invoice-backing threshold")


class BackedInvoice(BaseModel):
    """A matched invoice (net, before tax) and the part of it backed by approved work, with its events."""

    invoice_id: uuid.UUID
    vendor: str
    number: str
    net: Amount
    backed: Amount
    status: str
    events: list[EvidenceEvent]


class InvoiceBackingExplained(Explanation):
    """The invoiced amount backed by approved work, invoice by invoice, against the target."""

    computed_from: BackingComputedFrom
    invoices: list[BackedInvoice]


class KpiComputedFrom(BaseModel):
    target: str = Field(description="exact decimal text")
    direction: str
    unit: str
    review_date: date
    latest: str | None = Field(description="the latest measurement up to the date (null: none)")
    target_met: bool | None


class KpiExplained(Explanation):
    """A KPI's attainment: its target and direction, and every measurement up to the date with its event."""

    computed_from: KpiComputedFrom
    events: list[EvidenceEvent]


class ResourceEvent(BaseModel):
    """An event about the person that bears on the week: registration, capacity change, allocation, work sheet."""

    event_id: uuid.UUID
    type: str
    recorded_at: datetime
    hours: str | None = Field(description="its hours (weekly capacity, hours per week, hours worked); null: none")


class UtilisationExplained(BaseModel):
    """One person's week of utilisation: capacity, allocated and approved hours, and the events behind them."""

    resource_id: uuid.UUID
    explains: str
    known_at: datetime | None
    computed_from: UtilisationRow
    events: list[ResourceEvent]


class PmbVersionRef(BaseModel):
    version: int
    effective_on: date


class PlannedValueFromBaseline(BaseModel):
    pv: Amount
    bac: Amount
    version: int = Field(description="the performance baseline version in force on the date")
    effective_on: date
    versions: list[PmbVersionRef] = Field(description="every approved version")
    rule: str


class PlannedItem(BaseModel):
    """A work package of the version in force: its earned-value technique, budget, span, planned and earned value."""

    milestone_id: uuid.UUID
    name: str
    technique: str
    budget: Amount
    start: date
    due: date
    planned: Amount
    earned: Amount


class NotInBaseline(BaseModel):
    """A milestone no version includes: it plans and earns nothing until re-baselined."""

    milestone_id: uuid.UUID
    name: str
    planned_value: Amount


class PlannedValueByItem(Explanation):
    """PV from the performance baseline version in force, item by item."""

    computed_from: PlannedValueFromBaseline
    items: list[PlannedItem]
    not_in_baseline: list[NotInBaseline]
    events: list[EvidenceEvent]


class PlannedValueByMilestoneComputedFrom(BaseModel):
    pv: Amount
    rule: str


class PlannedValueByMilestone(Explanation):
    """PV without an approved performance baseline: the planned value of the milestones due by the date (no
    ``items``)."""

    computed_from: PlannedValueByMilestoneComputedFrom
    events: list[EvidenceEvent]


PlannedValueExplained = PlannedValueByItem | PlannedValueByMilestone
"""PV item by item once a performance baseline is approved (``items`` present), else by milestone."""


class ActualCostComputedFrom(BaseModel):
    ac: Amount
    work_sheets: Amount
    expenses: Amount
    goods_received: Amount
    invoices_beyond_backing: Amount
    cash_cost: Amount
    rule: str


class ActualCostEvidence(BaseModel):
    """The events behind each kind of cost."""

    work_sheets: list[EvidenceEvent]
    expenses: list[EvidenceEvent]
    goods_received: list[EvidenceEvent]
    invoices_beyond_backing: list[EvidenceEvent]


class UnconvertedAmount(EvidenceEvent):
    """An amount in another currency than the project's without a booking: neither added nor dropped (``amount``
    in the currency ``what`` names)."""

    amount: str
    on: date


class ActualCostExplained(Explanation):
    """AC by kind of cost (accrual basis), the cash view beside it, and the amounts left unconverted."""

    computed_from: ActualCostComputedFrom
    by_kind: ActualCostEvidence
    unconverted: list[UnconvertedAmount]
