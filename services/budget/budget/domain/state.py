"""The budget's state (one per project), folded from its events, and the guards every concern applies to amounts.

The state is flat because the concerns read each other's parts: a commitment's overrun is measured against the
category budget (baseline plus approved changes) under the overrun policy in force. Tranches and commitments may be
in another currency than the budget's: each keeps its amount as given and the amount it counts for (``booked``, in
the budget's currency; :mod:`budget.domain.conversion`), and every sum and check reads the latter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from uuid import UUID

from shared.contracts.budget import (
    CommitmentKind,
    CostCategory,
    EstimateToCompleteSubmitted,
    FundingKind,
    InvoiceExpectation,
    Overrun,
    OverrunPolicy,
    PhaseAmount,
)
from shared.contracts.common import Booking
from shared.errors import InvalidCommandError
from shared.immutable import frozen
from shared.money import Money


class ChangeStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


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
    """A tranche from a source: secured, available from ``available_on``; or planned (not secured yet), expected on
    ``available_on``, never available until ``funding-secured`` secures it."""

    tranche_id: UUID
    source_id: UUID
    amount: Money
    available_on: date
    withdrawn_on: date | None = None
    withdrawal_reason: str | None = None
    booking: Booking | None = None
    """``amount`` booked in the budget's currency when it is in another one."""
    planned: bool = False

    @property
    def booked(self) -> Money:
        """What the tranche counts for, in the budget's currency."""
        return self.booking.amount if self.booking is not None else self.amount

    def live(self, on: date) -> bool:
        """Not withdrawn by ``on``."""
        return self.withdrawn_on is None or self.withdrawn_on > on

    def available(self, on: date) -> bool:
        """Available on ``on``: secured, available by then and not withdrawn by then."""
        return not self.planned and self.available_on <= on and self.live(on)


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
    booking: Booking | None = None
    """``amount`` booked in the budget's currency when it is in another one (set once committed)."""

    @property
    def booked(self) -> Money:
        """What the commitment counts for, in the budget's currency (its booking, once committed)."""
        return self.booking.amount if self.booking is not None else self.amount


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
    estimate: EstimateToCompleteSubmitted | None = None
    """The latest estimate to complete submitted."""

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
        """What the commitments of ``category`` (besides ``leaving_out``) count for, booked."""
        return self._sum(
            c.booked
            for c in self.commitments.values()
            if c.category is category and c.status is CommitmentStatus.COMMITTED and c.commitment_id != leaving_out
        )

    @property
    def committed_total(self) -> Money:
        return self._sum(c.booked for c in self.commitments.values() if c.status is CommitmentStatus.COMMITTED)

    def tranches_available(self, on: date) -> list[Tranche]:
        """The tranches counted on ``on`` (:meth:`Tranche.available`), earliest available first."""
        return sorted((t for t in self.tranches.values() if t.available(on)), key=lambda t: t.available_on)

    def funding_available(self, on: date) -> Money:
        """Tranches available on ``on`` and not withdrawn by then, booked."""
        return self._sum(t.booked for t in self.tranches_available(on))

    def tranches_secured_later(self, on: date) -> list[Tranche]:
        """Secured tranches available only after ``on`` (and not withdrawn by then), earliest first."""
        return sorted(
            (t for t in self.tranches.values() if not t.planned and t.available_on > on and t.live(on)),
            key=lambda t: t.available_on,
        )

    def tranches_planned(self, on: date) -> list[Tranche]:
        """Planned tranches not secured and not withdrawn by ``on``, earliest expected first."""
        return sorted((t for t in self.tranches.values() if t.planned and t.live(on)), key=lambda t: t.available_on)

    def total(self, tranches: Iterable[Tranche]) -> Money:
        """What ``tranches`` count for, booked."""
        return self._sum(t.booked for t in tranches)


def in_currency(state: Budget, amount: Money, name: str) -> None:
    """Refuse ``amount`` (the command's field ``name``) unless it is in the budget's currency: change requests,
    baselines and estimates are never converted."""
    if amount.currency != state.currency:
        raise InvalidCommandError(
            f"{name} is in {amount.currency} but the budget is in {state.currency}; nothing is converted",
            field=f"{name}.currency",
        )


def positive(amount: Money, name: str) -> None:
    """Refuse ``amount`` (the command's field ``name``) unless it is greater than zero."""
    if amount.amount <= 0:
        raise InvalidCommandError(f"{name} must be greater than zero", field=f"{name}.amount")
