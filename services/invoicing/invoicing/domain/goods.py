"""The goods receipt aggregate (one stream per receipt): goods delivered, a licence granted or a service accepted
against a commitment, without a work sheet. The third leg of a 3-way match (commitment, receipt, invoice): invoice
lines cite receipts (``InvoiceLine.receipts``) and are backed by them (:mod:`invoicing.domain.matching`).

Recorded (``goods-received``) on a project this service knows, against an open commitment of that project, in the
commitment's currency, more than zero, received on a day not in the future; booked in the project's currency at the
rate in force on ``received_on`` when the commitment is in another one (:mod:`invoicing.domain.currency`).
Reversed once (``goods-receipt-reversed``) with a reason, on a day between its receipt and today.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import assert_never
from uuid import UUID

from invoicing.domain.currency import ExchangeRate, book
from invoicing.domain.reference import OpenCommitment, ProjectFact, open_project
from shared.contracts.budget import CostCategory
from shared.contracts.common import Booking
from shared.contracts.invoicing import GoodsReceiptReversed, GoodsReceived
from shared.decider import Decider
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.money import Money


@dataclass(frozen=True)
class GoodsReceipt:
    receipt_id: UUID
    project_id: UUID
    commitment_id: UUID
    category: CostCategory
    description: str
    amount: Money
    received_on: date
    received_by: str
    booked: Booking | None = None
    reversed_on: date | None = None
    reversal_reason: str | None = None
    reversed_by: str | None = None

    @property
    def in_force(self) -> bool:
        return self.reversed_on is None

    @property
    def status(self) -> str:
        return "received" if self.in_force else "reversed"


@dataclass(frozen=True)
class ReceiveGoods:
    receipt_id: UUID
    project_id: UUID
    commitment_id: UUID
    category: CostCategory
    description: str
    amount: Money
    received_on: date
    received_by: str
    project: ProjectFact | None
    commitment: OpenCommitment | None
    rate: ExchangeRate | None = None


@dataclass(frozen=True)
class ReverseGoodsReceipt:
    reason: str
    reversed_by: str
    reversed_on: date | None = None


GoodsCommand = ReceiveGoods | ReverseGoodsReceipt
GoodsEvent = GoodsReceived | GoodsReceiptReversed
"""Every event of a goods receipt's stream."""


def require_cost_category(category: CostCategory) -> None:
    """Contingency is a reserve, never a cost: refused on ``category``."""
    if category is CostCategory.CONTINGENCY:
        raise InvalidCommandError(
            "contingency is a reserve, not a cost: choose labour, subcontracting, materials, travel or other",
            field="category",
        )


def _receive(command: ReceiveGoods, today: date) -> GoodsReceived:
    project = open_project(command.project, command.project_id)
    commitment = command.commitment
    if commitment is None or commitment.commitment_id != command.commitment_id:
        raise InvalidCommandError(
            f"commitment {command.commitment_id} is not known to the invoicing service (it may not have arrived "
            "from pmo.budget.v1 yet)",
            field="commitment_id",
        )
    if commitment.project_id != project.project_id:
        raise InvalidCommandError(
            f"commitment {commitment.reference} is on project {commitment.project_id}, not on this one",
            field="commitment_id",
        )
    if commitment.status != "committed":
        raise InvalidCommandError(
            f"commitment {commitment.reference} is {commitment.status.replace('_', ' ')}: goods are received only "
            "against an open commitment",
            field="commitment_id",
        )
    require_cost_category(command.category)
    if command.amount.currency != commitment.amount.currency:
        raise InvalidCommandError(
            f"a receipt is in its commitment's currency, {commitment.amount.currency}, not {command.amount.currency}",
            field="amount.currency",
        )
    if command.amount.amount <= 0:
        raise InvalidCommandError("a receipt is worth more than zero", field="amount.amount")
    if command.received_on > today:
        raise InvalidCommandError(
            f"goods are recorded once received: {command.received_on} is after today ({today})", field="received_on"
        )
    booked = book(command.amount, project.currency, command.rate, command.received_on, "amount.currency")
    return GoodsReceived(
        project_id=project.project_id,
        receipt_id=command.receipt_id,
        commitment_id=commitment.commitment_id,
        category=command.category,
        description=command.description,
        amount=command.amount,
        received_on=command.received_on,
        received_by=command.received_by,
        booked=booked,
    )


def _reverse(receipt: GoodsReceipt, command: ReverseGoodsReceipt, today: date) -> GoodsReceiptReversed:
    if not receipt.in_force:
        raise RuleViolationError(f"goods receipt {receipt.receipt_id} was already reversed on {receipt.reversed_on}")
    on = command.reversed_on or today
    if on < receipt.received_on:
        raise InvalidCommandError(
            f"a receipt is reversed on or after the day it was received ({receipt.received_on})", field="reversed_on"
        )
    if on > today:
        raise InvalidCommandError(f"{on} is after today ({today})", field="reversed_on")
    return GoodsReceiptReversed(
        project_id=receipt.project_id,
        receipt_id=receipt.receipt_id,
        reversed_on=on,
        reason=command.reason,
        reversed_by=command.reversed_by,
    )


def decide_goods(state: GoodsReceipt | None, command: GoodsCommand, now: datetime) -> Sequence[DomainEvent]:
    today = now.date()
    if isinstance(command, ReceiveGoods):
        if state is not None:
            raise RuleViolationError(f"goods receipt {state.receipt_id} already exists")
        return [_receive(command, today)]
    if state is None:
        raise NotFoundError("this goods receipt does not exist")
    match command:
        case ReverseGoodsReceipt():
            return [_reverse(state, command, today)]
        case _:
            assert_never(command)


def evolve_goods(state: GoodsReceipt | None, event: DomainEvent) -> GoodsReceipt | None:
    """The receipt after ``event``; raises :class:`TypeError` for an event that is not a goods receipt's."""
    if not isinstance(event, GoodsEvent):
        raise TypeError(f"{event.event_name} is not an event of a goods receipt")
    match event:
        case GoodsReceived():
            return GoodsReceipt(
                receipt_id=event.receipt_id,
                project_id=event.project_id,
                commitment_id=event.commitment_id,
                category=event.category,
                description=event.description,
                amount=event.amount,
                received_on=event.received_on,
                received_by=event.received_by,
                booked=event.booked,
            )
        case GoodsReceiptReversed():
            if state is None:
                return state
            return replace(
                state, reversed_on=event.reversed_on, reversal_reason=event.reason, reversed_by=event.reversed_by
            )
        case _:
            assert_never(event)


GOODS_RECEIPT: Decider[GoodsReceipt | None, GoodsCommand] = Decider(
    "goods-receipt", lambda: None, evolve_goods, decide_goods
)
"""The goods receipt aggregate as the command executor sees it."""


def receipt_stream_id(receipt_id: UUID) -> str:
    return f"goods-receipt-{receipt_id}"
