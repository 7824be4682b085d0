"""A completed or terminated project takes no new cost in the invoicing service (as it takes no new work sheet in
the resources service): a new expense claim or goods receipt is refused with 409, nothing decided."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from invoicing import domain
from invoicing.domain.expenses import decide_expense
from invoicing.domain.goods import decide_goods
from shared.contracts.budget import CostCategory
from shared.errors import RuleViolationError
from shared.money import Money

NOW = datetime(2027, 6, 15, 9, 0, tzinfo=UTC)
PID = uuid.UUID(int=1)
EUR = Money(amount=Decimal("120.00"), currency="EUR")


def project(status: str) -> domain.ProjectFact:
    return domain.ProjectFact(project_id=PID, currency="EUR", status=status, manager="max")


def claim(status: str) -> domain.ClaimExpense:
    return domain.ClaimExpense(
        expense_id=uuid.uuid4(),
        project_id=PID,
        claimant="sam",
        category=CostCategory.TRAVEL,
        description="train",
        amount=EUR,
        incurred_on=date(2027, 6, 1),
        receipt_reference="R-1",
        project=project(status),
    )


def receive(status: str) -> domain.ReceiveGoods:
    commitment = domain.OpenCommitment(
        commitment_id=uuid.UUID(int=7), project_id=PID, reference="PO-1", amount=EUR, status="committed"
    )
    return domain.ReceiveGoods(
        receipt_id=uuid.uuid4(),
        project_id=PID,
        commitment_id=commitment.commitment_id,
        category=CostCategory.MATERIALS,
        description="licences",
        amount=EUR,
        received_on=date(2027, 6, 1),
        received_by="pat",
        project=project(status),
        commitment=commitment,
    )


@pytest.mark.parametrize("status", ["completed", "terminated"])
def test_a_closed_project_takes_no_new_expense_claim_or_goods_receipt(status: str) -> None:
    with pytest.raises(RuleViolationError, match=f"is {status}: it takes no new cost"):
        decide_expense(None, claim(status), NOW)
    with pytest.raises(RuleViolationError, match=f"is {status}: it takes no new cost"):
        decide_goods(None, receive(status), NOW)


@pytest.mark.parametrize("status", ["approved", "active", "on_hold"])
def test_a_project_that_can_still_spend_takes_them(status: str) -> None:
    assert [e.event_name for e in decide_expense(None, claim(status), NOW)] == ["expense-claimed"]
    assert [e.event_name for e in decide_goods(None, receive(status), NOW)] == ["goods-received"]
