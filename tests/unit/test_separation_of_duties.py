"""Separation of duties, service by service: nobody takes two steps that must be kept apart, and people are the
same person however their subject is spelt (:func:`shared.identity.same_person`). Given events or commands, when
a command, then events or a :class:`SeparationOfDutiesError` (a rule violation, 409 at the edge)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from types import MappingProxyType

import pytest

from invoicing import domain as invoicing
from shared.contracts import invoicing as inv
from shared.errors import RuleViolationError, SeparationOfDutiesError
from shared.identity import same_person
from shared.money import Money
from tests.invoicing_support import S1, Scenario, commitment, facts, line, receive, sheet

# Spellings of one person that must never count as two (zero-width space, fullwidth letters, Cyrillic look-alikes).
RITA_SPELLINGS = [
    "rita.receiver",
    " Rita.Receiver ",
    "rita\u200b.receiver",
    "\uff52\uff49\uff54\uff41.receiver",
    "r\u0456ta.r\u0435ceiver",
]


@pytest.mark.parametrize("spelling", RITA_SPELLINGS)
def test_every_spelling_of_one_subject_is_the_same_person(spelling: str) -> None:
    assert same_person(spelling, "rita.receiver")
    assert not same_person(spelling, "paul.finance") and not same_person(spelling, None)


# --- invoicing: receipt, approval and payment ---------------------------------------------------------------------

RECEIVER, APPROVER, PAYER = "rita.receiver", "paul.finance", "erp"


def invoice_of(total_net: str = "55440.00", by: str = RECEIVER) -> Scenario:
    """A matched invoice (net + 20 % tax) received by ``by``; the default is 66,528.00 EUR, as in the finding."""
    known = facts(sheet(S1, total_net), commitment=commitment("100000.00"))
    return Scenario().given(receive(line(total_net, S1), facts=known, by=by))


def pay(by: str, amount: str = "100.00", dual: invoicing.DualControl | None = None) -> invoicing.RecordPayment:
    return invoicing.RecordPayment(
        uuid.uuid4(), Money.of(amount, "EUR"), date(2027, 3, 20), None, by, dual or invoicing.DualControl()
    )


EUR_10K = invoicing.DualControl(MappingProxyType({"EUR": Decimal("10000")}))


@pytest.mark.parametrize("spelling", RITA_SPELLINGS)
def test_whoever_received_an_invoice_does_not_approve_it(spelling: str) -> None:
    with pytest.raises(SeparationOfDutiesError, match="someone else approves it"):
        invoice_of().when(invoicing.ApproveInvoice(spelling))


def test_one_finance_user_cannot_receive_approve_and_pay_an_invoice_alone() -> None:
    s = invoice_of(by="fiona.finance")
    with pytest.raises(SeparationOfDutiesError):
        s.when(invoicing.ApproveInvoice("fiona.finance"))
    s.when(invoicing.ApproveInvoice(APPROVER))
    with pytest.raises(SeparationOfDutiesError, match="received invoice"):
        s.when(pay("fiona.finance"))


def test_whoever_approved_an_invoice_does_not_pay_it_whatever_its_amount() -> None:
    s = invoice_of("10.00").given(invoicing.ApproveInvoice(APPROVER, dual_control=EUR_10K))
    with pytest.raises(SeparationOfDutiesError, match="approved invoice"):
        s.when(pay("PAUL.finance", "1.00", EUR_10K))
    (paid,) = s.when(pay(RECEIVER, "1.00", EUR_10K))  # below the threshold the receiver may pay
    assert isinstance(paid, inv.InvoicePaid) and paid.recorded_by == RECEIVER


def test_below_the_dual_control_threshold_the_receiver_may_approve() -> None:
    s = invoice_of("8000.00")  # 9,600.00 EUR with tax: below 10,000
    (approved,) = s.when(invoicing.ApproveInvoice(RECEIVER, dual_control=EUR_10K))
    assert isinstance(approved, inv.InvoiceApproved)


def test_at_the_threshold_receipt_approval_and_payment_are_three_people() -> None:
    s = invoice_of("8333.34")  # 10,000.01 EUR with tax (8333.34 + 1666.67)
    with pytest.raises(SeparationOfDutiesError):
        s.when(invoicing.ApproveInvoice(RECEIVER, dual_control=EUR_10K))
    s.when(invoicing.ApproveInvoice(APPROVER, dual_control=EUR_10K))
    with pytest.raises(SeparationOfDutiesError):
        s.when(pay(RECEIVER, dual=EUR_10K))
    (paid,) = s.when(pay(PAYER, dual=EUR_10K))
    assert isinstance(paid, inv.InvoicePaid)


def test_a_separation_of_duties_error_is_a_rule_violation() -> None:
    assert issubclass(SeparationOfDutiesError, RuleViolationError)
