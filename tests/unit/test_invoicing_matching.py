"""Matching an invoice against the work done and its commitment: given facts, when received or matched again,
then matched or mismatched with each discrepancy spelled out."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar

from invoicing import domain
from shared.contracts import invoicing as ev
from shared.contracts.invoicing import MatchCheck, WorkReference
from shared.events import DomainEvent
from shared.money import Money
from tests.support.invoicing import C1, PID, S1, S2, Scenario, commitment, facts, line, receive, sheet
from tests.support.money import eur

E = TypeVar("E", bound=DomainEvent)


def only(events: Sequence[DomainEvent], kind: type[E]) -> E:
    """The one event of ``kind`` among ``events``."""
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, events
    return found[0]


def checks(event: ev.InvoiceMismatched) -> list[tuple[MatchCheck, int | None]]:
    return [(d.check, d.line) for d in event.discrepancies]


# --- fully backed ---------------------------------------------------------------------------------------------


def test_an_invoice_fully_backed_by_its_approved_work_sheet_and_within_its_commitment_is_matched() -> None:
    s = Scenario()
    events = s.when(receive(line("4000.00", S1), facts=facts(sheet(S1, "4000.00"))))
    assert [type(e) for e in events] == [ev.InvoiceReceived, ev.InvoiceMatched]
    matched = events[1]
    assert isinstance(matched, ev.InvoiceMatched)
    assert matched.invoiced == eur("4000.00") and matched.backed == eur("4000.00")
    assert matched.lines[0].shortfall == eur("0.00") and matched.lines[0].within_tolerance
    assert matched.commitment_id == C1 and matched.commitment_remaining == eur("10000.00")
    assert matched.matched_by == domain.MATCHER
    assert s.invoice.status is domain.InvoiceStatus.MATCHED


def test_backing_is_compared_before_tax() -> None:
    s = Scenario()
    events = s.when(receive(line("4000.00", S1, tax_rate="0.20"), facts=facts(sheet(S1, "4000.00"))))
    received = events[0]
    assert isinstance(received, ev.InvoiceReceived)
    assert received.total == eur("4800.00") and received.tax == eur("800.00")
    assert isinstance(events[1], ev.InvoiceMatched)


def test_a_line_may_bill_several_sheets_and_a_single_deliverable_of_a_sheet() -> None:
    s3 = uuid.UUID(int=43)
    work = sheet(S2, "9000.00", deliverables=("1500.00", "2500.00"))
    events = Scenario().when(
        receive(
            line("4000.00", S1, s3),
            line("2500.00", WorkReference(sheet_id=S2, deliverable=1)),
            facts=facts(sheet(S1, "1000.00"), sheet(s3, "3000.00"), work),
        )
    )
    matched = only(events, ev.InvoiceMatched)
    assert [(lm.line, lm.backed) for lm in matched.lines] == [(1, eur("4000.00")), (2, eur("2500.00"))]
    assert matched.backed == eur("6500.00")


def test_a_deliverable_that_is_not_on_the_approved_sheet_backs_nothing() -> None:
    events = Scenario().when(
        receive(
            line("1500.00", WorkReference(sheet_id=S2, deliverable=2)),
            facts=facts(sheet(S2, "4000.00", deliverables=("1500.00", "2500.00"))),
        )
    )
    mismatched = only(events, ev.InvoiceMismatched)
    assert checks(mismatched) == [(MatchCheck.UNKNOWN_DELIVERABLE, 1), (MatchCheck.UNDER_BACKED, 1)]


# --- partly backed --------------------------------------------------------------------------------------------


def test_a_line_partly_backed_within_the_tolerance_is_matched() -> None:
    # 75.00 of 4000.00 unbacked: 1.875 %, within the default 2 %; 80.00 is exactly 2 %.
    for cost in ("3925.00", "3920.00"):
        events = Scenario().when(receive(line("4000.00", S1), facts=facts(sheet(S1, cost))))
        matched = only(events, ev.InvoiceMatched)
        assert matched.lines[0].shortfall == eur("4000.00") - eur(cost)
        assert matched.backed == eur(cost)


def test_a_line_partly_backed_beyond_the_tolerance_is_mismatched_with_the_figures() -> None:
    events = Scenario().when(receive(line("4000.00", S1), facts=facts(sheet(S1, "3919.99"))))
    mismatched = only(events, ev.InvoiceMismatched)
    (d,) = mismatched.discrepancies
    assert (d.check, d.line) == (MatchCheck.UNDER_BACKED, 1)
    assert (d.invoiced, d.backed, d.limit, d.over_by) == (
        eur("4000.00"),
        eur("3919.99"),
        eur("80.00"),
        eur("80.01"),
    )
    assert "2 %" in d.detail
    assert mismatched.backed == eur("3919.99") and not mismatched.lines[0].within_tolerance


def test_the_tolerance_is_the_projects() -> None:
    events = Scenario().when(receive(line("4000.00", S1), facts=facts(sheet(S1, "3900.00"), tolerance="0.05")))
    matched = only(events, ev.InvoiceMatched)
    assert isinstance(matched, ev.InvoiceMatched) and matched.tolerance == Decimal("0.05")
    events = Scenario().when(receive(line("4000.00", S1), facts=facts(sheet(S1, "3999.99"), tolerance="0")))
    assert isinstance(events[1], ev.InvoiceMismatched)


def test_billing_less_than_the_work_is_worth_counts_only_what_is_billed_as_backed() -> None:
    events = Scenario().when(receive(line("3000.00", S1), facts=facts(sheet(S1, "4000.00"))))
    matched = only(events, ev.InvoiceMatched)
    assert matched.lines[0].backed == eur("4000.00") and matched.backed == eur("3000.00")


# --- billed twice ---------------------------------------------------------------------------------------------


def test_a_sheet_billed_by_an_earlier_live_invoice_is_billed_twice_naming_that_invoice() -> None:
    earlier = uuid.UUID(int=500)
    billed = (domain.EarlierBilling(S1, None, earlier, "INV-1"),)
    events = Scenario().when(receive(line("4000.00", S1), facts=facts(sheet(S1, "4000.00"), billed_before=billed)))
    mismatched = only(events, ev.InvoiceMismatched)
    assert checks(mismatched) == [(MatchCheck.BILLED_TWICE, 1), (MatchCheck.UNDER_BACKED, 1)]
    twice = mismatched.discrepancies[0]
    assert twice.other_invoice_id == earlier and twice.sheet_id == S1 and "INV-1" in twice.detail
    assert mismatched.lines[0].backed == eur("0.00")  # the work already backs the other invoice


def test_a_deliverable_billed_earlier_overlaps_its_whole_sheet_but_not_another_deliverable() -> None:
    earlier = uuid.UUID(int=500)
    work = sheet(S2, "4000.00", deliverables=("1500.00", "2500.00"))
    billed = (domain.EarlierBilling(S2, 0, earlier, "INV-1"),)
    other = Scenario().when(
        receive(line("2500.00", WorkReference(sheet_id=S2, deliverable=1)), facts=facts(work, billed_before=billed))
    )
    assert isinstance(other[1], ev.InvoiceMatched)
    whole = Scenario().when(receive(line("4000.00", S2), facts=facts(work, billed_before=billed)))
    mismatched = only(whole, ev.InvoiceMismatched)
    assert checks(mismatched)[0] == (MatchCheck.BILLED_TWICE, 1)


def test_a_sheet_billed_on_two_lines_of_one_invoice_is_billed_twice_on_the_second() -> None:
    s = Scenario()
    events = s.when(receive(line("2000.00", S1), line("2000.00", S1), facts=facts(sheet(S1, "2000.00"))))
    mismatched = only(events, ev.InvoiceMismatched)
    assert checks(mismatched) == [(MatchCheck.BILLED_TWICE, 2), (MatchCheck.UNDER_BACKED, 2)]
    assert mismatched.discrepancies[0].other_invoice_id == s.invoice.invoice_id
    assert "line 1" in mismatched.discrepancies[0].detail


# --- commitment -----------------------------------------------------------------------------------------------


def test_an_invoice_above_what_remains_of_its_commitment_is_mismatched() -> None:
    # 10000 committed, 7000 already invoiced before: 3000 remain for 4000 invoiced.
    events = Scenario().when(
        receive(line("4000.00", S1), facts=facts(sheet(S1, "4000.00"), commitment=commitment(before="7000.00")))
    )
    mismatched = only(events, ev.InvoiceMismatched)
    (d,) = mismatched.discrepancies
    assert (d.check, d.line, d.commitment_id) == (MatchCheck.ABOVE_COMMITMENT, None, C1)
    assert (d.invoiced, d.limit, d.over_by) == (eur("4000.00"), eur("3000.00"), eur("1000.00"))
    assert mismatched.commitment_remaining == eur("3000.00")
    exactly = Scenario().when(
        receive(line("4000.00", S1), facts=facts(sheet(S1, "4000.00"), commitment=commitment(before="6000.00")))
    )
    assert isinstance(exactly[1], ev.InvoiceMatched)


def test_an_unknown_or_closed_commitment_or_another_vendors_is_a_discrepancy() -> None:
    work = sheet(S1, "4000.00")
    cases = {
        MatchCheck.UNKNOWN_COMMITMENT: facts(work, commitment=None),
        MatchCheck.COMMITMENT_NOT_OPEN: facts(work, commitment=commitment(status="cancelled")),
        MatchCheck.OTHER_VENDOR: facts(work, commitment=commitment(vendor="Globex")),
    }
    for check, given in cases.items():
        mismatched = only(Scenario().when(receive(line("4000.00", S1), facts=given)), ev.InvoiceMismatched)
        assert checks(mismatched) == [(check, None)], check


def test_work_of_another_project_or_vendor_or_currency_backs_nothing() -> None:
    cases = {
        MatchCheck.OTHER_PROJECT: sheet(S1, "4000.00", project=uuid.UUID(int=77)),
        MatchCheck.OTHER_VENDOR: sheet(S1, "4000.00", vendor="globex"),
        MatchCheck.CURRENCY_DIFFERS: sheet(S1, "4000.00", currency="USD"),
        MatchCheck.WORK_NOT_APPROVED: sheet(S1, "4000.00", in_force=False),
    }
    for check, work in cases.items():
        mismatched = only(Scenario().when(receive(line("4000.00", S1), facts=facts(work))), ev.InvoiceMismatched)
        assert checks(mismatched) == [(check, 1), (MatchCheck.UNDER_BACKED, 1)], check
    # the vendor is compared without regard to case or spaces
    events = Scenario().when(receive(line("4000.00", S1), facts=facts(sheet(S1, "4000.00", vendor=" ACME "))))
    assert isinstance(events[1], ev.InvoiceMatched)


# --- arriving before its work sheet ---------------------------------------------------------------------------


def test_an_invoice_received_before_its_work_sheet_is_approved_is_matched_when_the_approval_arrives() -> None:
    s = Scenario()
    events = s.when(receive(line("4000.00", S1), facts=facts()))
    mismatched = only(events, ev.InvoiceMismatched)
    assert checks(mismatched) == [(MatchCheck.WORK_NOT_APPROVED, 1), (MatchCheck.UNDER_BACKED, 1)]
    assert "not approved (yet)" in mismatched.discrepancies[0].detail
    assert s.invoice.status is domain.InvoiceStatus.MISMATCHED

    # nothing new: matching again appends nothing
    assert s.when(domain.MatchInvoice(facts(), domain.MATCHER)) == []

    (matched,) = s.when(domain.MatchInvoice(facts(sheet(S1, "4000.00")), domain.MATCHER))
    assert isinstance(matched, ev.InvoiceMatched) and matched.backed == eur("4000.00")
    assert s.invoice.status is domain.InvoiceStatus.MATCHED
    assert s.when(domain.MatchInvoice(facts(sheet(S1, "4000.00")), "someone-else")) == []  # same result


def test_a_reversed_approval_turns_a_matched_invoice_back_to_mismatched() -> None:
    s = Scenario().given(receive(line("4000.00", S1), facts=facts(sheet(S1, "4000.00"))))
    (event,) = s.when(domain.MatchInvoice(facts(sheet(S1, "4000.00", in_force=False)), domain.MATCHER))
    assert isinstance(event, ev.InvoiceMismatched)
    assert checks(event) == [(MatchCheck.WORK_NOT_APPROVED, 1), (MatchCheck.UNDER_BACKED, 1)]
    (event,) = s.when(domain.MatchInvoice(facts(sheet(S1, "3990.00", version=2)), domain.MATCHER))
    assert isinstance(event, ev.InvoiceMatched) and event.backed == eur("3990.00")


def test_a_decided_invoice_is_not_matched_again() -> None:
    s = Scenario().given(
        receive(line("4000.00", S1), facts=facts(sheet(S1, "4000.00"))), domain.ApproveInvoice("paul.finance")
    )
    assert s.when(domain.MatchInvoice(facts(), domain.MATCHER)) == []
    assert s.invoice.status is domain.InvoiceStatus.APPROVED


def test_a_disputed_invoice_follows_the_facts_but_stays_disputed() -> None:
    s = Scenario().given(
        receive(line("4000.00", S1), facts=facts()), domain.DisputeInvoice("paul.finance", "no approved work")
    )
    (event,) = s.when(domain.MatchInvoice(facts(sheet(S1, "4000.00")), domain.MATCHER))
    assert isinstance(event, ev.InvoiceMatched)
    assert s.invoice.status is domain.InvoiceStatus.DISPUTED
    assert s.invoice.match is not None and s.invoice.match.matched


def test_match_events_carry_exact_decimals() -> None:
    events = Scenario().when(receive(line("4000.00", S1), facts=facts(sheet(S1, "3919.99"))))
    data = events[1].model_dump(mode="json")
    assert data["invoiced"] == {"amount": "4000.00", "currency": "EUR"}
    assert data["tolerance"] == "0.02"
    assert data["discrepancies"][0]["over_by"] == {"amount": "80.01", "currency": "EUR"}
    assert data["project_id"] == str(PID)
    received = events[0].model_dump(mode="json")
    assert received["lines"][0]["quantity"] == "1" and received["lines"][0]["tax_rate"] == "0.20"
    assert Money.model_validate(data["backed"]) == eur("3919.99")
