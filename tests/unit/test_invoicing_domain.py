"""The invoice aggregate besides matching: receiving (what adds up), approval rules, disputes and rejections,
payments, credit notes, and the project's tolerance. Given commands, when a command, then events or an error."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from invoicing import domain
from shared.contracts import invoicing as ev
from shared.contracts.invoicing import CreditLine, MatchCheck
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.money import Money
from tests.support.invoicing import NOW, PID, S1, Scenario, commitment, facts, line, receive, sheet
from tests.support.money import eur

RECEIVER = "rita.receiver"
FINANCE = "paul.finance"


def matched() -> Scenario:
    """An invoice of 4000.00 + 800.00 tax, fully backed."""
    return Scenario().given(receive(line("4000.00", S1), facts=facts(sheet(S1, "4000.00"))))


def mismatched() -> Scenario:
    """An invoice of 4000.00 + 800.00 tax whose work sheet is not approved yet."""
    return Scenario().given(receive(line("4000.00", S1), facts=facts()))


def approved() -> Scenario:
    return matched().given(domain.ApproveInvoice(FINANCE))


def pay(amount: str, currency: str = "EUR", on: date = date(2027, 3, 20)) -> domain.RecordPayment:
    return domain.RecordPayment(uuid.uuid4(), Money.of(amount, currency), on, "BANK-1", "erp")


def credit(*lines: tuple[int, str, str], number: str = "CN-1", given: domain.MatchFacts | None = None):  # type: ignore[no-untyped-def]
    return domain.RecordCreditNote(
        credit_note_id=uuid.uuid4(),
        number=number,
        issued_on=date(2027, 3, 2),
        lines=tuple(CreditLine(line=n, amount=eur(a), tax=eur(t)) for n, a, t in lines),
        reason="hours billed twice by mistake",
        recorded_by=RECEIVER,
        facts=given if given is not None else facts(sheet(S1, "4000.00")),
    )


def refused(command: domain.Command, scenario: Scenario | None = None) -> InvalidCommandError:
    with pytest.raises(InvalidCommandError) as error:
        (scenario or Scenario()).when(command)
    return error.value


# --- receiving: what must add up ------------------------------------------------------------------------------


def test_a_received_invoice_records_its_lines_and_totals() -> None:
    events = Scenario().when(
        receive(line("4000.00", S1), line("1000.00", S1, tax_rate="0"), facts=facts(), received_on=date(2027, 2, 27))
    )
    received = events[0]
    assert isinstance(received, ev.InvoiceReceived)
    assert [li.line for li in received.lines] == [1, 2]
    assert (received.net, received.tax, received.total) == (eur("5000.00"), eur("800.00"), eur("5800.00"))
    assert received.received_by == RECEIVER and received.received_on == date(2027, 2, 27)
    defaulted = Scenario().when(receive(line("4000.00", S1), facts=facts()))[0]
    assert isinstance(defaulted, ev.InvoiceReceived) and defaulted.received_on == NOW.date()


def test_a_line_amount_must_be_quantity_times_unit_price_half_even() -> None:
    base = line("4000.00", S1)
    # 7.5 x 533.33 = 3999.975 -> 3999.98 (half-even)
    exact = replace(base, quantity=Decimal("7.5"), unit_price=eur("533.33"), amount=eur("3999.98"), tax=eur("800.00"))
    assert len(Scenario().when(receive(exact, facts=facts()))) == 2
    wrong = replace(exact, amount=eur("3999.97"), tax=eur("799.99"))
    error = refused(receive(wrong, facts=facts()))
    assert error.field == "lines.0.amount" and "3999.98" in error.detail


@pytest.mark.parametrize("rate", ["0.51", "-0.01", "1"])
def test_a_tax_rate_out_of_range_is_refused(rate: str) -> None:
    bad = replace(line("100.00", S1), tax_rate=Decimal(rate), tax=eur("0.00"))
    assert refused(receive(bad, facts=facts())).field == "lines.0.tax_rate"


def test_a_tax_that_is_not_amount_times_rate_is_refused() -> None:
    bad = replace(line("100.00", S1), tax=eur("21.00"))
    assert refused(receive(bad, facts=facts())).field == "lines.0.tax"


def test_lines_that_do_not_add_up_to_the_total_are_refused() -> None:
    error = refused(receive(line("100.00", S1), facts=facts(), total=eur("119.99")))
    assert error.field == "total" and "120.00" in error.detail


def test_amounts_in_another_currency_than_the_invoice_are_refused() -> None:
    usd = line("100.00", S1, currency="USD")
    assert refused(receive(usd, facts=facts(), total=eur("120.00"))).field == "lines.0.unit_price.currency"


def test_an_invoice_in_another_currency_than_its_commitment_is_refused() -> None:
    usd = line("100.00", S1, currency="USD")
    error = refused(receive(usd, facts=facts(), currency="USD"))
    assert error.field == "currency" and "EUR" in error.detail
    # unknown commitment: accepted, the mismatch says so
    events = Scenario().when(receive(usd, facts=facts(commitment=None), currency="USD"))
    mismatch = events[1]
    assert isinstance(mismatch, ev.InvoiceMismatched)
    assert MatchCheck.UNKNOWN_COMMITMENT in {d.check for d in mismatch.discrepancies}


def test_dates_and_citations_are_checked() -> None:
    late = receive(line("100.00", S1), facts=facts(), issued_on=date(2027, 3, 1), due_on=date(2027, 2, 28))
    assert refused(late).field == "due_on"
    early = receive(line("100.00", S1), facts=facts(), received_on=date(2027, 2, 1))
    assert refused(early).field == "received_on"
    assert refused(receive(line("100.00"), facts=facts())).field == "lines.0.bills"
    assert refused(receive(line("100.00", S1, S1), facts=facts())).field == "lines.0.bills.1"
    assert refused(receive(replace(line("100.00", S1), quantity=Decimal(0)), facts=facts())).field == "lines.0.quantity"


def test_an_unknown_invoice_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        Scenario().when(domain.ApproveInvoice(FINANCE))


# --- approval -------------------------------------------------------------------------------------------------


def test_a_matched_invoice_is_approved_without_override_and_the_approver_is_recorded() -> None:
    s = matched()
    (event,) = s.when(domain.ApproveInvoice(FINANCE, override_reason="not needed"))
    assert isinstance(event, ev.InvoiceApproved)
    assert (event.approved_by, event.override, event.override_reason, event.overridden) == (FINANCE, False, None, [])
    assert event.amount_due == eur("4800.00")
    assert s.invoice.status is domain.InvoiceStatus.APPROVED


def test_a_mismatched_invoice_needs_an_override_with_a_reason() -> None:
    for reason in (None, "   "):
        with pytest.raises(RuleViolationError, match="override and needs a reason") as error:
            mismatched().when(domain.ApproveInvoice(FINANCE, reason))
        assert error.value.field == "override_reason"
        assert "work-not-approved" in error.value.detail


def test_an_override_is_by_someone_other_than_whoever_received_the_invoice() -> None:
    with pytest.raises(RuleViolationError, match="other than whoever received it"):
        mismatched().when(domain.ApproveInvoice(" Rita.Receiver ", "sheet approved on paper"))
    s = mismatched()
    (event,) = s.when(domain.ApproveInvoice(FINANCE, "sheet approved on paper"))
    assert isinstance(event, ev.InvoiceApproved)
    assert event.override and event.override_reason == "sheet approved on paper"
    assert {d.check for d in event.overridden} == {MatchCheck.WORK_NOT_APPROVED, MatchCheck.UNDER_BACKED}
    assert s.invoice.approved_by == FINANCE


def test_an_invoice_is_approved_once_and_never_once_rejected() -> None:
    with pytest.raises(RuleViolationError, match="is approved"):
        approved().when(domain.ApproveInvoice("fiona.finance"))
    rejected = matched().given(domain.RejectInvoice(FINANCE, "not ours"))
    with pytest.raises(RuleViolationError, match="is rejected"):
        rejected.when(domain.ApproveInvoice(FINANCE))
    with pytest.raises(RuleViolationError):
        approved().when(domain.RejectInvoice(FINANCE, "too late"))


def test_a_disputed_invoice_can_be_approved_or_rejected_afterwards() -> None:
    s = approved()
    (event,) = s.when(domain.DisputeInvoice("fiona.finance", "rate above contract"))
    assert isinstance(event, ev.InvoiceDisputed) and s.invoice.status is domain.InvoiceStatus.DISPUTED
    with pytest.raises(RuleViolationError, match="is disputed"):
        s.when(pay("100.00"))
    (event,) = s.when(domain.ApproveInvoice("fiona.finance"))
    assert isinstance(event, ev.InvoiceApproved) and s.invoice.status is domain.InvoiceStatus.APPROVED
    s = mismatched().given(domain.DisputeInvoice(FINANCE, "where is the sheet?"))
    (event,) = s.when(domain.RejectInvoice(FINANCE, "no approved work"))
    assert isinstance(event, ev.InvoiceRejected) and s.invoice.status is domain.InvoiceStatus.REJECTED


# --- payments -------------------------------------------------------------------------------------------------


def test_partial_then_full_payment() -> None:
    s = approved()
    (first,) = s.when(pay("1800.00"))
    assert isinstance(first, ev.InvoicePaid)
    assert (first.amount, first.total_paid, first.remaining, first.fully_paid) == (
        eur("1800.00"),
        eur("1800.00"),
        eur("3000.00"),
        False,
    )
    assert s.invoice.status is domain.InvoiceStatus.PARTIALLY_PAID
    (last,) = s.when(pay("3000.00"))
    assert isinstance(last, ev.InvoicePaid)
    assert (last.total_paid, last.remaining, last.fully_paid) == (eur("4800.00"), eur("0.00"), True)
    assert s.invoice.status is domain.InvoiceStatus.PAID and s.invoice.amount_due == eur("0.00")
    with pytest.raises(RuleViolationError, match="is paid"):
        s.when(pay("0.01"))


def test_a_payment_above_the_amount_still_due_is_refused_naming_the_field() -> None:
    s = approved().given(pay("4000.00"))
    error = refused(pay("800.01"), s)
    assert error.field == "amount" and "800.00" in error.detail
    assert refused(pay("0.00"), s).field == "amount.amount"
    assert refused(pay("10.00", "USD"), s).field == "amount.currency"
    assert refused(pay("10.00", on=date(2027, 1, 1)), s).field == "paid_on"


def test_only_an_approved_invoice_is_paid() -> None:
    with pytest.raises(RuleViolationError, match="only a"):
        matched().when(pay("100.00"))


# --- credit notes ---------------------------------------------------------------------------------------------


def test_a_credit_note_takes_back_part_of_a_line_and_the_invoice_is_matched_again() -> None:
    # 4000.00 billed, the work is worth 3500.00: mismatched; the vendor credits 500.00 + 100.00 tax.
    s = Scenario().given(receive(line("4000.00", S1), facts=facts(sheet(S1, "3500.00"))))
    assert s.invoice.status is domain.InvoiceStatus.MISMATCHED
    events = s.when(credit((1, "500.00", "100.00"), given=facts(sheet(S1, "3500.00"))))
    assert [type(e) for e in events] == [ev.CreditNoteReceived, ev.InvoiceMatched]
    note = events[0]
    assert isinstance(note, ev.CreditNoteReceived)
    assert (note.total, note.credited_total, note.amount_due, note.fully_credited) == (
        eur("600.00"),
        eur("600.00"),
        eur("4200.00"),
        False,
    )
    rematched = events[1]
    assert isinstance(rematched, ev.InvoiceMatched) and rematched.invoiced == eur("3500.00")
    assert s.invoice.status is domain.InvoiceStatus.MATCHED


def test_a_credit_note_for_the_whole_invoice_credits_it() -> None:
    s = matched()
    (event,) = s.when(credit((1, "4000.00", "800.00")))
    assert isinstance(event, ev.CreditNoteReceived) and event.fully_credited
    assert s.invoice.status is domain.InvoiceStatus.CREDITED and s.invoice.amount_due == eur("0.00")
    with pytest.raises(RuleViolationError):
        s.when(credit((1, "1.00", "0.00"), number="CN-2"))


def test_a_credit_note_never_takes_back_more_than_a_line_or_than_is_still_due() -> None:
    assert refused(credit((1, "4000.01", "0.00")), matched()).field == "lines.0.amount"
    assert refused(credit((1, "0.00", "800.01")), matched()).field == "lines.0.tax"
    assert refused(credit((2, "1.00", "0.00")), matched()).field == "lines.0.line"
    paid = approved().given(pay("4000.00"))
    error = refused(credit((1, "1000.00", "0.00")), paid)
    assert error.field == "lines" and "800.00" in error.detail
    (event,) = paid.when(credit((1, "500.00", "100.00")))
    assert isinstance(event, ev.CreditNoteReceived) and event.amount_due == eur("200.00")


def test_a_credit_note_number_is_recorded_once_per_invoice() -> None:
    s = matched().given(credit((1, "100.00", "20.00")))
    with pytest.raises(RuleViolationError, match="already recorded") as error:
        s.when(credit((1, "100.00", "20.00"), number="cn-1"))
    assert error.value.field == "number"


def test_a_credit_note_for_a_rejected_invoice_is_refused() -> None:
    with pytest.raises(RuleViolationError, match="is rejected"):
        matched().given(domain.RejectInvoice(FINANCE, "no")).when(credit((1, "100.00", "20.00")))


# --- the project's tolerance ----------------------------------------------------------------------------------


def test_the_tolerance_is_set_within_range_and_setting_it_again_changes_nothing() -> None:
    state = domain.MatchingPolicy()
    (event,) = domain.decide_policy(state, domain.SetMatchingTolerance(PID, Decimal("0.05"), FINANCE), NOW)
    assert isinstance(event, ev.MatchingToleranceSet)
    assert (event.tolerance, event.previous_tolerance) == (Decimal("0.05"), Decimal("0.02"))
    assert event.model_dump(mode="json")["tolerance"] == "0.05"
    state = domain.evolve_policy(state, event)
    assert domain.decide_policy(state, domain.SetMatchingTolerance(PID, Decimal("0.050"), FINANCE), NOW) == []
    for bad in ("0.11", "-0.01"):
        with pytest.raises(InvalidCommandError) as error:
            domain.decide_policy(state, domain.SetMatchingTolerance(PID, Decimal(bad), FINANCE), NOW)
        assert error.value.field == "tolerance"


def test_invoice_events_are_keyed_by_the_project() -> None:
    events = matched().when(domain.ApproveInvoice(FINANCE))
    assert events[0].partition_key == str(PID)
    assert commitment().commitment_id != PID
