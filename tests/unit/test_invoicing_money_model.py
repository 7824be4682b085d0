"""The invoicing service's money model: goods receipts matched three ways, and invoices in another currency booked
at the recorded rate. Given facts or events, when a command, then events or the error (nothing appended). Figures
are computed by hand in the comments."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from invoicing import domain
from shared.contracts import invoicing as ev
from shared.contracts.common import Booking
from shared.contracts.invoicing import MatchCheck
from shared.errors import InvalidCommandError
from shared.money import Money
from tests.support.invoicing import (
    R1,
    S1,
    USD_EUR,
    Scenario,
    commitment,
    facts,
    goods,
    goods_line,
    line,
    rate_on,
    receive,
    sheet,
)
from tests.support.money import eur, usd

R2 = uuid.UUID(int=52)

EARLIER = uuid.UUID(int=61)


EUR_USD = domain.RecordedRate("EUR", "USD", Decimal("1.085"), date(2027, 1, 1), "ECB reference rate")


def outcome(events: list[Any]) -> Any:
    return events[-1]


def discrepancies(event: Any) -> list[tuple[MatchCheck, int | None]]:
    assert isinstance(event, ev.InvoiceMismatched), event
    return [(d.check, d.line) for d in event.discrepancies]


# --- 3-way match: commitment, receipt, invoice -------------------------------------------------------------------


def test_a_line_billing_what_was_received_is_matched_and_the_receipt_backs_it() -> None:
    events = Scenario().when(receive(goods_line("1000.00", R1), facts=facts(receipts=[goods(R1, "1000.00")])))
    matched = outcome(events)
    assert isinstance(matched, ev.InvoiceMatched)
    assert matched.backed == eur("1000.00") and matched.invoiced == eur("1000.00")
    assert isinstance(events[0], ev.InvoiceReceived) and events[0].lines[0].receipts == [R1]


def test_a_line_above_its_receipt_within_the_tolerance_is_matched() -> None:
    # 1010.00 billed, 1000.00 received: 10.00 unbacked, within 2 % of 1010.00 = 20.20.
    matched = outcome(Scenario().when(receive(goods_line("1010.00", R1), facts=facts(receipts=[goods(R1, "1000.00")]))))
    assert isinstance(matched, ev.InvoiceMatched)
    assert matched.lines[0].shortfall == eur("10.00") and matched.backed == eur("1000.00")


def test_a_line_above_its_receipt_beyond_the_tolerance_is_above_receipt_with_its_figures() -> None:
    # 1100.00 billed, 1000.00 received: 100.00 unbacked, the tolerance allows 2 % of 1100.00 = 22.00.
    mismatched = outcome(
        Scenario().when(receive(goods_line("1100.00", R1), facts=facts(receipts=[goods(R1, "1000.00")])))
    )
    assert discrepancies(mismatched) == [(MatchCheck.ABOVE_RECEIPT, 1)]
    found = mismatched.discrepancies[0]
    assert (found.invoiced, found.backed, found.limit, found.over_by) == (
        eur("1100.00"),
        eur("1000.00"),
        eur("22.00"),
        eur("100.00"),
    )


def test_a_receipt_backs_only_what_earlier_invoices_left_of_it() -> None:
    # 1000.00 received, 600.00 already billed by an earlier invoice: 400.00 left; a line of 400.00 is backed.
    drawn = (domain.ReceiptDraw(R1, EARLIER, "INV-0", eur("600.00")),)
    known = facts(receipts=[goods(R1, "1000.00")], drawn_before=drawn)
    matched = outcome(Scenario().when(receive(goods_line("400.00", R1), facts=known)))
    assert isinstance(matched, ev.InvoiceMatched) and matched.backed == eur("400.00")
    # ... and a line of 500.00 is 100.00 above it (more than 2 % of 500.00 = 10.00).
    mismatched = outcome(Scenario().when(receive(goods_line("500.00", R1), facts=known)))
    assert discrepancies(mismatched) == [(MatchCheck.ABOVE_RECEIPT, 1)]
    assert mismatched.discrepancies[0].over_by == eur("100.00")


def test_a_receipt_billed_in_full_by_an_earlier_invoice_is_billed_twice() -> None:
    drawn = (domain.ReceiptDraw(R1, EARLIER, "INV-0", eur("1000.00")),)
    known = facts(receipts=[goods(R1, "1000.00")], drawn_before=drawn)
    mismatched = outcome(Scenario().when(receive(goods_line("1000.00", R1), facts=known)))
    assert (MatchCheck.BILLED_TWICE, 1) in discrepancies(mismatched)
    twice = next(d for d in mismatched.discrepancies if d.check is MatchCheck.BILLED_TWICE)
    assert twice.receipt_id == R1 and twice.other_invoice_id == EARLIER


def test_a_receipt_cited_on_two_lines_of_one_invoice_is_billed_twice() -> None:
    known = facts(receipts=[goods(R1, "1000.00")])
    mismatched = outcome(Scenario().when(receive(goods_line("500.00", R1), goods_line("500.00", R1), facts=known)))
    assert (MatchCheck.BILLED_TWICE, 2) in discrepancies(mismatched)


def test_a_receipt_not_recorded_reversed_or_against_another_commitment_backs_nothing() -> None:
    other = uuid.UUID(int=99)
    known = facts(receipts=[goods(R2, "100.00", in_force=False), goods(other, "100.00", commitment_id=uuid.uuid4())])
    mismatched = outcome(
        Scenario().when(
            receive(goods_line("100.00", R1), goods_line("100.00", R2), goods_line("100.00", other), facts=known)
        )
    )
    not_received = [d for d in mismatched.discrepancies if d.check is MatchCheck.NOT_RECEIVED]
    assert [(d.line, d.receipt_id) for d in not_received] == [(1, R1), (2, R2), (3, other)]
    assert mismatched.backed == eur("0.00")


def test_a_line_draws_on_its_receipts_in_the_order_it_cites_them() -> None:
    # A line of 700.00 citing R1 (500.00) then R2 (500.00) draws 500.00 on R1 and 200.00 on R2; a later line of
    # 400.00 citing R2 then draws the 300.00 left of it.
    worth = {R1: eur("500.00"), R2: eur("500.00")}
    later = uuid.uuid4()
    draws = domain.receipt_draws(
        [(EARLIER, "INV-0", eur("700.00"), [R1, R2]), (later, "INV-1", eur("400.00"), [R2])], worth
    )
    assert [(d.receipt_id, d.invoice_id, d.amount) for d in draws] == [
        (R1, EARLIER, eur("500.00")),
        (R2, EARLIER, eur("200.00")),
        (R2, later, eur("300.00")),
    ]


def test_a_line_cites_work_or_receipts_never_both_and_never_neither() -> None:
    both = replace(line("100.00", S1), receipts=(R1,))
    with pytest.raises(InvalidCommandError) as error:
        Scenario().when(receive(both, facts=facts(sheet(S1, "100.00"))))
    assert error.value.field == "lines.0.receipts"
    neither = replace(line("100.00"), bills=())
    with pytest.raises(InvalidCommandError) as error:
        Scenario().when(receive(neither, facts=facts()))
    assert error.value.field == "lines.0.bills"


# --- invoices in another currency --------------------------------------------------------------------------------


def test_a_usd_invoice_on_a_eur_project_is_booked_at_the_rate_in_force_on_its_issue_date() -> None:
    # 1234.56 USD x 0.9215 = 1137.647040 -> 1137.65 EUR (half-even to the cent).
    rate = rate_on(date(2027, 2, 26), USD_EUR)
    command = receive(
        line("1234.56", S1, currency="USD"),
        facts=facts(sheet(S1, "1137.65")),
        currency="USD",
        project_currency="EUR",
        rate=rate,
    )
    received = Scenario().when(command)[0]
    assert isinstance(received, ev.InvoiceReceived)
    assert received.booked == Booking(
        amount=eur("1137.65"),
        original=usd("1234.56"),
        rate=Decimal("0.9215"),
        rate_on=date(2027, 2, 1),
        source="ECB reference rate",
    )


def test_with_only_the_inverse_rate_recorded_the_invoice_is_booked_at_one_over_it() -> None:
    # Only EUR->USD 1.085 is recorded: 1234.56 / 1.085 = 1137.84331797... -> 1137.84 EUR.
    rate = rate_on(date(2027, 2, 26), EUR_USD)
    assert rate is not None and rate.rate_on == date(2027, 1, 1)
    command = receive(
        line("1234.56", S1, currency="USD"),
        facts=facts(sheet(S1, "1137.84")),
        currency="USD",
        project_currency="EUR",
        rate=rate,
    )
    received = Scenario().when(command)[0]
    assert isinstance(received, ev.InvoiceReceived) and received.booked is not None
    assert received.booked.amount == eur("1137.84")
    # The direct rate wins over the inverse of the other, whatever their dates.
    direct = rate_on(date(2027, 2, 26), USD_EUR, EUR_USD)
    assert direct is not None and direct.rate == Decimal("0.9215")


def test_no_rate_in_force_on_the_issue_date_refuses_the_invoice_naming_its_currency() -> None:
    # USD->EUR is recorded from 2027-02-01 only: nothing is in force on 2027-01-31.
    rate = rate_on(date(2027, 1, 31), USD_EUR)
    assert rate is None
    command = receive(
        line("100.00", S1, currency="USD"),
        facts=facts(sheet(S1, "92.15")),
        currency="USD",
        issued_on=date(2027, 1, 31),
        project_currency="EUR",
        rate=rate,
    )
    scenario = Scenario()
    with pytest.raises(InvalidCommandError) as error:
        scenario.when(command)
    assert error.value.field == "currency"
    assert "no USD->EUR rate in force on 2027-01-31" in error.value.detail
    assert scenario.state is None


def test_a_converted_invoice_is_matched_in_the_projects_currency_against_sheets_and_commitment() -> None:
    # 1000.00 USD x 0.9215 = 921.50 EUR, backed by a sheet costing 921.50 EUR; the EUR commitment of 10000.00 has
    # 9078.50 left after it.
    rate = rate_on(date(2027, 2, 26), USD_EUR)
    command = receive(
        line("1000.00", S1, currency="USD"),
        facts=facts(sheet(S1, "921.50")),
        currency="USD",
        project_currency="EUR",
        rate=rate,
    )
    scenario = Scenario()
    matched = outcome(scenario.when(command))
    assert isinstance(matched, ev.InvoiceMatched), matched
    assert (matched.invoiced, matched.backed) == (eur("921.50"), eur("921.50"))
    assert matched.commitment_remaining == eur("10000.00")
    # Above the commitment: compared in EUR too (a commitment of 900.00 EUR is 21.50 short).
    again = scenario.when(domain.MatchInvoice(facts(sheet(S1, "921.50"), commitment=commitment("900.00")), "m"))
    above = outcome(again)
    assert discrepancies(above) == [(MatchCheck.ABOVE_COMMITMENT, None)]
    assert above.discrepancies[0].over_by == eur("21.50")


def test_a_sheet_costed_in_another_currency_counts_at_its_booked_cost_and_without_a_booking_differs() -> None:
    booked = Booking.of(Money.of("1000.00", "USD"), "EUR", Decimal("0.9215"), date(2027, 2, 1), "ECB")
    usd_sheet = replace(sheet(S1, "1000.00", currency="USD"), booked=booked)
    matched = outcome(Scenario().when(receive(line("921.50", S1), facts=facts(usd_sheet))))
    assert isinstance(matched, ev.InvoiceMatched) and matched.backed == eur("921.50")
    unconverted = sheet(S1, "1000.00", currency="USD")
    mismatched = outcome(Scenario().when(receive(line("921.50", S1), facts=facts(unconverted))))
    assert (MatchCheck.CURRENCY_DIFFERS, 1) in discrepancies(mismatched)
