"""EVM formulas with hand-computed cases: positive and negative variances, zero and undefined cases, exact
decimals, and figures as of a past date; every kind of cost on the accrual basis and the cash view beside it,
amounts in another currency (booked, or listed as unconverted), planned funding, and the bottom-up forecast from the
estimate to complete."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import cast

from reporting.domain.books import Books
from reporting.domain.evm import evm
from reporting.domain.ledger import Fact, book
from reporting.explanations import explain_actual_cost
from reporting.handlers import ReportingFacts
from shared.contracts import resources as r
from tests.support.money import eur, usd
from tests.support.reporting import (
    PID,
    baseline,
    booking,
    change,
    committed,
    estimate,
    expense_approved,
    expense_claimed,
    expense_reimbursed,
    funding_planned,
    funding_secured,
    goods_received,
    goods_reversed,
    invoice_approved,
    invoice_matched,
    invoice_paid,
    invoice_received,
    milestone,
    progress,
    reached,
    registered,
    work,
)

MARCH = date(2027, 3, 15)


def figures(facts: list, as_of: date = MARCH) -> dict[str, str | None]:  # type: ignore[type-arg]
    result = evm(book(PID, facts, as_of), as_of)
    return {name: fig.shown("EUR") for name, fig in result.figures.items()}


def portfolio(ac: str) -> list:  # type: ignore[type-arg]
    return [
        registered(),
        baseline("95000.00"),
        change("5000.00", "100000.00", date(2027, 2, 1)),
        milestone(1, "40000.00", date(2027, 2, 28)),
        milestone(2, "60000.00", date(2027, 5, 31)),
        reached(1, "40000.00", date(2027, 3, 1)),
        progress(2, "25", date(2027, 3, 10)),
        work(ac, date(2027, 3, 12)),
    ]


def test_ahead_and_under_budget() -> None:
    f = figures(portfolio("50000.00"))
    assert (f["bac"], f["pv"], f["ev"], f["ac"]) == ("100000.00", "40000.00", "55000.00", "50000.00")
    assert (f["cv"], f["sv"]) == ("5000.00", "15000.00")
    assert (f["cpi"], f["spi"]) == ("1.1000", "1.3750")
    assert f["eac_cpi"] == "90909.09"  # 100000 / 1.1
    assert f["etc"] == "40909.09" and f["vac"] == "9090.91"
    assert f["eac_cpi_spi"] == "79752.07"  # 50000 + 45000 / 1.5125
    assert f["tcpi_bac"] == "0.9000"  # 45000 / 50000
    assert f["tcpi_eac"] == "1.1000"  # 45000 / 40909.0909...
    assert (f["cv_percent"], f["sv_percent"]) == ("9.0909", "37.5000")


def test_over_budget_gives_negative_variances() -> None:
    f = figures(portfolio("70000.00"))
    assert f["cv"] == "-15000.00" and f["cpi"] == "0.7857"
    assert f["eac_cpi"] == "127272.73" and f["vac"] == "-27272.73"
    assert f["tcpi_bac"] == "1.5000"  # 45000 / 30000


def test_no_actual_cost_leaves_cpi_and_eac_undefined_with_a_reason() -> None:
    facts = [f for f in portfolio("1.00") if f.name != "work-sheet-approved"]
    result = evm(book(PID, facts, MARCH), MARCH)
    assert result["ac"].value == Decimal(0)
    assert result["cpi"].value is None and result["cpi"].reason == "no actual cost yet"
    assert result["eac_cpi"].value is None and result["vac"].value is None
    assert result["tcpi_bac"].shown("EUR") == "0.4500"  # 45000 / 100000


def test_tcpi_is_undefined_once_actual_cost_exceeds_the_budget() -> None:
    result = evm(book(PID, portfolio("100000.01"), MARCH), MARCH)
    assert result["tcpi_bac"].value is None
    assert result["tcpi_bac"].reason == "actual cost already reaches or exceeds the budget"


def test_no_baseline_leaves_bac_based_figures_undefined() -> None:
    facts = [f for f in portfolio("50000.00") if f.service != "budget"]
    result = evm(book(PID, facts, MARCH), MARCH)
    assert result["bac"].value is None and result["bac"].reason == "no budget baseline yet"
    assert result["eac_cpi"].value is None and result["tcpi_bac"].value is None
    assert result["cpi"].shown("EUR") == "1.1000"  # what does not need BAC is still there


def test_figures_as_of_a_past_date_ignore_later_facts() -> None:
    facts = portfolio("50000.00")
    feb = figures(facts, date(2027, 2, 27))
    assert feb["pv"] == "0.00" and feb["ev"] == "0.00" and feb["ac"] == "0.00"
    assert feb["bac"] == "100000.00"  # the change was approved on 1 February
    assert feb["spi"] is None and feb["cpi"] is None
    jan = figures(facts, date(2027, 1, 20))
    assert jan["bac"] == "95000.00"
    end_feb = figures(facts, date(2027, 2, 28))
    assert end_feb["pv"] == "40000.00" and end_feb["ev"] == "0.00" and end_feb["spi"] == "0.0000"


def test_explanations_name_the_events_behind_each_figure() -> None:
    facts = portfolio("50000.00")
    result = evm(book(PID, facts, MARCH), MARCH)
    ev_sources = {e.event_id for e in result["ev"].evidence}
    assert ev_sources == {facts[5].event_id, facts[6].event_id}  # the reached milestone and the progress report
    assert [e.amount for e in result["ev"].evidence] == [Decimal("40000.00"), Decimal("15000.00")]
    assert {e.event_id for e in result["bac"].evidence} == {facts[1].event_id, facts[2].event_id}
    assert [e.event_id for e in result["ac"].evidence] == [facts[7].event_id]
    assert result["cpi"].inputs == ("ev", "ac")


def test_money_stays_exact_before_rounding_at_the_edge() -> None:
    facts = [
        registered(),
        baseline("100.00"),
        milestone(1, "0.05", date(2027, 3, 1)),
        progress(1, "50", date(2027, 3, 2)),
        work("0.01", date(2027, 3, 2)),
    ]
    result = evm(book(PID, facts, MARCH), MARCH)
    assert result["ev"].value == Decimal("0.025")
    assert result["ev"].shown("EUR") == "0.02"  # half-even
    assert result["cpi"].shown("EUR") == "2.5000"


# --- every kind of cost, bookings, the cash view, estimates to complete -------------------------------------------


def costs() -> list[Fact]:
    """A person's week (1000.00), a subcontractor's (2000.00), an expense (120.00) approved 5 March and reimbursed
    20 March, licences received 6 March (2000.00) and returned 25 March, and a supplier invoice of 1000.00 + 200.00
    tax, approved and half paid (600.00 on 18 March)."""
    return [
        registered(),
        baseline("100000.00"),
        work("1000.00", date(2027, 3, 1)),
        work("2000.00", date(2027, 3, 2), kind=r.ResourceKind.SUBCONTRACTOR),
        expense_claimed(EXPENSE, eur("120.00"), date(2027, 3, 3)),
        expense_approved(EXPENSE, date(2027, 3, 5)),
        expense_reimbursed(EXPENSE, date(2027, 3, 20)),
        goods_received(RECEIPT, eur("2000.00"), date(2027, 3, 6)),
        goods_reversed(RECEIPT, date(2027, 3, 25)),
        invoice_received(INVOICE, "1000.00", date(2027, 4, 10), date(2027, 3, 8), tax="200.00"),
        invoice_approved(INVOICE, "1200.00", date(2027, 3, 9)),
        invoice_paid(INVOICE, "600.00", "600.00", date(2027, 3, 18)),
    ]


EXPENSE, RECEIPT, INVOICE = uuid.UUID(int=501), uuid.UUID(int=502), uuid.UUID(int=503)


def test_actual_cost_adds_every_kind_on_the_accrual_basis() -> None:
    """15 March: sheets 3000 + expense 120 + goods 2000 + the invoice's unbacked net 1000 = 6120; 4 March: sheets
    only (the expense is approved on the 5th); 26 March: the goods are returned: 4120."""
    assert book(PID, costs(), date(2027, 3, 4)).actual_by_kind()["expenses"] == 0
    assert figures(costs(), date(2027, 3, 4))["ac"] == "3000.00"
    on = book(PID, costs(), MARCH)
    assert on.actual_by_kind() == {
        "work_sheets": Decimal("3000.00"),
        "expenses": Decimal("120.00"),
        "goods_received": Decimal("2000.00"),
        "invoices_beyond_backing": Decimal("1000.00"),
    }
    assert figures(costs())["ac"] == "6120.00"
    assert on.actual_by_category() == {
        "labour": Decimal("1000.00"),
        "subcontracting": Decimal("3000.00"),  # the subcontractor's sheet and the invoice (no commitment known)
        "travel": Decimal("120.00"),
        "materials": Decimal("2000.00"),
    }
    assert figures(costs(), date(2027, 3, 26))["ac"] == "4120.00"


def test_goods_and_work_backing_an_invoice_are_not_counted_twice() -> None:
    """The invoice is matched: 700.00 of its 1000.00 backed by the receipt and the sheets: AC adds only 300.00."""
    facts = [*costs(), invoice_matched(INVOICE, "1000.00", "700.00", date(2027, 3, 9), matched=False)]
    assert figures(facts)["ac"] == "5420.00"  # 3000 + 120 + 2000 + 300


def test_the_cash_view_counts_what_was_paid() -> None:
    """25 March: payroll 1000 (the person's sheet; the subcontractor is paid through invoices) + the reimbursed
    expense 120 + the net share of the invoice's payment 600 x 1000 / 1200 = 500 -> 1620. 19 March: 1000 + 500."""
    assert book(PID, costs(), date(2027, 3, 25)).cash_cost == Decimal("1620.00")
    assert book(PID, costs(), date(2027, 3, 19)).cash_cost == Decimal("1500.00")
    assert book(PID, costs(), date(2027, 3, 17)).cash_cost == Decimal("1000.00")


def test_amounts_in_another_currency_count_at_their_booking() -> None:
    """A USD 1000.00 work sheet booked at 0.9234 -> 923.40 EUR; a USD 1087.50 invoice booked at 0.92 -> 1000.50 EUR,
    its payment of USD 500 converted at the same rate (460.00)."""
    invoice = uuid.UUID(int=601)
    facts = [
        registered(),
        work("1000.00", date(2027, 3, 1), currency="USD", booked=booking(usd("1000.00"), "0.9234")),
        invoice_received(
            invoice,
            "1087.50",
            date(2027, 4, 1),
            date(2027, 3, 2),
            currency="USD",
            booked=booking(usd("1087.50"), "0.92"),
        ),
        invoice_approved(invoice, "1087.50", date(2027, 3, 3)),
        invoice_paid(invoice, "500.00", "587.50", date(2027, 3, 4), currency="USD"),
    ]
    books = book(PID, facts, MARCH)
    assert books.work_cost == {"labour": Decimal("923.40")}
    assert books.invoices[invoice].net == Decimal("1000.50") and books.invoices[invoice].paid == Decimal("460.0000")
    assert figures(facts)["ac"] == "1923.90"
    assert books.unconverted == []
    assert Books.of(PID, facts).at(MARCH).invoices == books.invoices


def test_an_amount_in_another_currency_without_a_booking_is_listed_never_added() -> None:
    facts = [registered(), work("1000.00", date(2027, 3, 1)), work("500.00", date(2027, 3, 2), currency="USD")]
    books = book(PID, facts, MARCH)
    assert books.actual_cost == Decimal("1000.00")
    (listed,) = books.unconverted
    assert listed.value == Decimal("500.00") and listed.event_id == facts[2].event_id
    assert "500.00 USD without a booking in EUR" in listed.label and listed.label.startswith("work sheet")
    assert Books.of(PID, facts).at(MARCH).unconverted == books.unconverted


def test_a_booked_commitment_expects_its_invoices_pro_rata() -> None:
    """USD 1000 booked at 0.90 -> 900.00 EUR; its expected invoice of USD 400 -> 400 x 900 / 1000 = 360."""
    cid = uuid.UUID(int=701)
    facts = [
        registered(),
        committed(cid, usd("1000.00"), [(date(2027, 5, 1), "400.00")], booked=booking(usd("1000.00"), "0.90")),
    ]
    c = book(PID, facts, MARCH).commitments[cid]
    assert (c.amount, c.expected) == (Decimal("900.00"), [(date(2027, 5, 1), Decimal("360"))])


def test_a_planned_tranche_is_secured_later_under_the_same_id() -> None:
    tranche = uuid.UUID(int=801)
    planned = [registered(), funding_planned(tranche, "30000.00", date(2027, 6, 1))]
    t = book(PID, planned, MARCH).tranches[tranche]
    assert (t.planned, t.amount, t.available_on) == (True, Decimal("30000.00"), date(2027, 6, 1))
    secured = [*planned, funding_secured(tranche, eur("25000.00"), date(2027, 5, 15))]
    t = book(PID, secured, MARCH).tranches[tranche]
    assert (t.planned, t.amount, t.available_on) == (False, Decimal("25000.00"), date(2027, 5, 15))


def test_bottom_up_forecast_from_the_estimate_to_complete() -> None:
    """The portfolio at AC 50000, BAC 100000, EV 55000, with an estimate of 40000 + 5000 as of 10 March:
    ETC 45000, EAC 95000, VAC 5000, TCPI (100000 - 55000) / (95000 - 50000) = 1.0000. A later estimate (as of
    20 March, 30000) is not yet in force on 15 March."""
    facts = [*portfolio("50000.00"), estimate("40000.00", "5000.00", date(2027, 3, 10))]
    facts.append(estimate("25000.00", "5000.00", date(2027, 3, 20)))
    f = figures(facts)
    assert (f["etc_bottom_up"], f["eac_bottom_up"], f["vac_bottom_up"]) == ("45000.00", "95000.00", "5000.00")
    assert f["tcpi_bottom_up"] == "1.0000"
    later = figures(facts, date(2027, 3, 21))
    assert later["eac_bottom_up"] == "80000.00" and later["tcpi_bottom_up"] == "1.5000"  # 45000 / 30000
    estimate_book = book(PID, facts, MARCH).estimate
    assert estimate_book is not None
    assert estimate_book.categories == {"labour": Decimal("40000.00"), "travel": Decimal("5000.00")}
    assert estimate_book.months == {"2027-05": Decimal("40000.00"), "2027-06": Decimal("5000.00")}


def test_without_an_estimate_the_bottom_up_figures_say_why() -> None:
    result = evm(book(PID, portfolio("50000.00"), MARCH), MARCH)
    assert result["eac_bottom_up"].value is None
    assert result["tcpi_bottom_up"].reason == "no estimate to complete submitted yet"


class LedgerOf:
    """The facts an explanation reads (the rest of :class:`reporting.handlers.ReportingFacts` is not needed)."""

    def __init__(self, facts: list[Fact]) -> None:
        self.known = facts

    async def facts(self, project_id: uuid.UUID, known_at: datetime | None = None) -> list[Fact]:
        return self.known


async def test_actual_cost_is_explained_by_kind_with_the_cash_view_and_what_was_not_converted() -> None:
    facts = [*costs(), work("300.00", date(2027, 3, 10), currency="USD")]
    now = lambda: datetime(2027, 4, 1, tzinfo=UTC)  # noqa: E731
    explained = await explain_actual_cost(cast(ReportingFacts, LedgerOf(facts)), now, PID, MARCH, None)
    assert explained["computed_from"] == {
        "ac": "6120.00",
        "work_sheets": "3000.00",
        "expenses": "120.00",
        "goods_received": "2000.00",
        "invoices_beyond_backing": "1000.00",
        "cash_cost": "1000.00",
        "rule": explained["computed_from"]["rule"],
    }
    assert [e["type"] for e in explained["by_kind"]["expenses"]] == ["expense-approved"]
    assert [e["type"] for e in explained["by_kind"]["goods_received"]] == ["goods-received"]
    assert [e["type"] for e in explained["by_kind"]["invoices_beyond_backing"]] == ["invoice-approved"]
    assert [(u["type"], u["amount"]) for u in explained["unconverted"]] == [("work-sheet-approved", "300.00")]
