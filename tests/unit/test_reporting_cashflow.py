"""The time-phased forecast and cash flow per month (:mod:`reporting.domain.cashflow`), hand-computed over four
months: the baseline's phasing, a commitment's expected invoices, accrual and cash actuals, the forecast with and
without an estimate to complete; the window's bounds; the answer's rounding by the currency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from reporting import views
from reporting.domain import cashflow
from reporting.domain.amounts import shown
from reporting.domain.books import Books
from reporting.domain.cashflow import Estimate, Inputs, MonthRow
from reporting.domain.ledger import ProjectBook
from shared.contracts import budget as b
from shared.errors import InvalidCommandError
from shared.money import Money
from tests.support.reporting import PID, baseline, fact, milestone, progress, reached, registered, started, work

AS_OF = date(2027, 3, 15)
SPAN = ("2027-01", "2027-04")


def steps(amounts: dict[date, str]) -> Callable[[date], Decimal]:
    """A cumulative amount: the sum of the amounts dated on or before the day."""
    return lambda day: sum((Decimal(a) for d, a in amounts.items() if d <= day), Decimal(0))


def four_months(estimate: Estimate | None = None) -> Inputs:
    """BAC 1,000 planned 100 / 200 / 300 / 400 at the ends of January to April 2027; expected invoices of 150 on
    15 February and 250 on 10 April; cost accrued 80 (10 Jan), 220 (20 Feb), 50 (5 Mar) and 999 on 20 March (after
    the report's date: never shown); paid 80 (1 Feb) and 100 (10 Mar); EV 250 on 15 March."""
    return Inputs(
        pv=steps(
            {date(2027, 1, 31): "100", date(2027, 2, 28): "200", date(2027, 3, 31): "300", date(2027, 4, 30): "400"}
        ),
        ac=steps({date(2027, 1, 10): "80", date(2027, 2, 20): "220", date(2027, 3, 5): "50", date(2027, 3, 20): "999"}),
        cash=steps({date(2027, 2, 1): "80", date(2027, 3, 10): "100"}),
        expected=[(date(2027, 2, 15), Decimal(150)), (date(2027, 4, 10), Decimal(250))],
        bac=Decimal(1000),
        ev=Decimal(250),
        estimate=estimate,
    )


def column(rows: list[MonthRow], name: str) -> list[Decimal | None]:
    return [getattr(r, name) for r in rows]


def test_the_baseline_commitments_and_actuals_per_month() -> None:
    flow = cashflow.report(four_months(), SPAN, AS_OF)
    rows = flow.months
    assert [r.month for r in rows] == ["2027-01", "2027-02", "2027-03", "2027-04"]
    assert column(rows, "baseline") == [100, 200, 300, 400]
    assert column(rows, "baseline_cumulative") == [100, 300, 600, 1000]
    assert column(rows, "committed") == [0, 150, 0, 250]
    assert column(rows, "committed_cumulative") == [0, 150, 150, 400]
    # March counts to the report's date (15 March): the 999 of 20 March is not yet a fact of that date
    assert column(rows, "actual") == [80, 220, 50, None]
    assert column(rows, "actual_cumulative") == [80, 300, 350, None]
    assert column(rows, "cash") == [0, 80, 100, None]
    assert column(rows, "cash_cumulative") == [0, 80, 180, None]
    assert not flow.truncated and flow.span == SPAN


def test_without_an_estimate_what_remains_of_the_budget_follows_the_baselines_phasing() -> None:
    flow = cashflow.report(four_months(), SPAN, AS_OF)
    # BAC - EV = 750; planned value still to come after 15 March: March 600 - 300 = 300, April 400 (of 700):
    # March 750 x 300 / 700 = 321.428571..., April 750 x 400 / 700 = 428.571428...
    assert flow.plan.basis == "baseline-phasing" and flow.plan.remaining == 750 and flow.plan.cut_off == AS_OF
    forecast = column(flow.months, "forecast")
    assert forecast[:2] == [80, 220]
    assert [shown(x, "EUR") for x in forecast if x is not None] == ["80.00", "220.00", "371.43", "428.57"]
    cumulative = [shown(x, "EUR") for x in column(flow.months, "forecast_cumulative") if x is not None]
    assert cumulative == ["80.00", "300.00", "671.43", "1100.00"]  # AC 350 + 750


def test_with_an_estimate_the_forecast_is_the_actual_cost_to_its_date_then_its_months() -> None:
    estimate = Estimate(date(2027, 2, 28), {"2027-03": Decimal(400), "2027-04": Decimal(350)}, Decimal(750), "pm")
    flow = cashflow.report(four_months(estimate), SPAN, AS_OF)
    assert flow.plan.basis == "estimate" and flow.plan.cut_off == date(2027, 2, 28)
    # the 50 accrued on 5 March is after the estimate's date: the estimate's 400 stands for March
    assert column(flow.months, "forecast") == [80, 220, 400, 350]
    assert column(flow.months, "forecast_cumulative") == [80, 300, 700, 1050]  # AC on 28 Feb 300 + 750
    assert column(flow.months, "actual") == [80, 220, 50, None]  # the actuals stay what they are


def test_the_estimates_own_month_gets_its_actual_to_that_date_and_its_estimate() -> None:
    estimate = Estimate(date(2027, 3, 10), {"2027-03": Decimal(100), "2027-04": Decimal(300)}, Decimal(400))
    flow = cashflow.report(four_months(estimate), SPAN, AS_OF)
    assert column(flow.months, "forecast") == [80, 220, 150, 300]  # March: 50 accrued to the 10th + 100


def test_with_no_planned_value_left_the_remainder_falls_in_the_next_month_and_the_span_grows() -> None:
    flow = cashflow.report(four_months(), SPAN, date(2027, 5, 10))
    assert flow.span == ("2027-01", "2027-06")
    assert [r.month for r in flow.months][-1] == "2027-06"
    assert column(flow.months, "forecast")[-1] == 750
    assert column(flow.months, "actual")[4:] == [0, None]  # May counts to the 10th; June not yet


def test_nothing_is_forecast_without_a_budget_or_once_the_work_is_earned() -> None:
    inputs = four_months()
    for changed in (
        Inputs(inputs.pv, inputs.ac, inputs.cash, inputs.expected, None, Decimal(250)),
        Inputs(inputs.pv, inputs.ac, inputs.cash, inputs.expected, Decimal(1000), Decimal(1000)),
    ):
        flow = cashflow.report(changed, SPAN, AS_OF)
        assert flow.plan.basis == "actual-only"
        assert column(flow.months, "forecast") == [80, 220, 50, 0]


def test_a_window_inside_the_span_keeps_the_cumulative_figures_from_the_start() -> None:
    flow = cashflow.report(four_months(), SPAN, AS_OF, "2027-03", "2027-04")
    assert [r.month for r in flow.months] == ["2027-03", "2027-04"]
    assert column(flow.months, "baseline") == [300, 400]
    assert column(flow.months, "baseline_cumulative") == [600, 1000]
    assert column(flow.months, "committed_cumulative") == [150, 400]
    assert column(flow.months, "actual") == [50, None]
    assert shown(flow.months[1].forecast_cumulative, "EUR") == "1100.00"


def test_a_range_longer_than_120_months_or_backwards_is_refused_naming_to() -> None:
    with pytest.raises(InvalidCommandError) as longer:
        cashflow.check_range("2027-01", "2037-01")  # 121 months
    assert longer.value.field == "to"
    with pytest.raises(InvalidCommandError) as backwards:
        cashflow.check_range("2027-05", "2027-04")
    assert backwards.value.field == "to"
    cashflow.check_range("2027-01", "2036-12")  # 120 months


def test_a_default_window_longer_than_120_months_is_cut_and_says_so() -> None:
    months, cut = cashflow.window(("2020-01", "2031-12"), None, None)
    assert (months[0], months[-1], len(months), cut) == ("2020-01", "2029-12", 120, True)
    months, cut = cashflow.window(("2020-01", "2031-12"), None, "2031-12")
    assert (months[0], months[-1], len(months), cut) == ("2022-01", "2031-12", 120, True)
    months, cut = cashflow.window(("2020-01", "2020-06"), "2020-03", None)
    assert (months, cut) == (["2020-03", "2020-04", "2020-05", "2020-06"], False)


def test_months_cross_years() -> None:
    assert cashflow.months_from("2027-11", 3) == ["2027-11", "2027-12", "2028-01"]
    assert cashflow.months_between("2027-11", "2028-02") == 4
    assert cashflow.last_day("2028-02") == date(2028, 2, 29)
    assert cashflow.last_day("2027-12") == date(2027, 12, 31)


def test_the_answer_rounds_every_amount_by_the_currency_and_leaves_future_actuals_empty() -> None:
    flow = cashflow.report(four_months(), SPAN, AS_OF)
    books = ProjectBook(PID, code="X", currency="JPY")
    answer = views.cash_flow(PID, books, flow, AS_OF, None)
    assert answer["months"][2]["forecast"] == "371"  # 371.43 in yen
    assert answer["months"][3]["forecast"] == "429"
    assert answer["months"][3]["actual"] is None and answer["months"][3]["cash"] is None
    assert answer["forecast"]["remaining"] == "750" and answer["forecast"]["basis"] == "baseline-phasing"
    assert answer["totals"] == {
        "baseline": "1000",
        "committed": "400",
        "actual": "350",
        "cash": "180",
        "forecast": "1100",
    }
    assert (answer["from"], answer["to"], answer["truncated"]) == ("2027-01", "2027-04", False)


def test_from_a_projects_books_the_same_four_months() -> None:
    """The books of a project registered for 2027 with BAC 1,000 on four milestones (100, 200, 300, 400 due at the
    ends of January to April), a subcontract expecting invoices of 150 (15 Feb) and 250 (10 Apr), work sheets of 80
    (10 Jan), 220 (20 Feb) and 50 (5 Mar), M1 reached and M2 75 % done (EV 250 on 15 March)."""
    commitment = fact(
        b.BudgetCommitted(
            project_id=PID,
            commitment_id=PID,
            kind=b.CommitmentKind.SUBCONTRACT,
            vendor="Acme",
            reference="PO-7",
            category=b.CostCategory.SUBCONTRACTING,
            milestone_id=None,
            amount=Money.of("400.00", "EUR"),
            expected_invoices=[
                b.InvoiceExpectation(on=date(2027, 2, 15), amount=Money.of("150.00", "EUR")),
                b.InvoiceExpectation(on=date(2027, 4, 10), amount=Money.of("250.00", "EUR")),
            ],
            overrun=None,
            policy=b.OverrunPolicy.WARN,
            requested_by="pm",
            approved_by=None,
        ),
        date(2026, 12, 1),
    )
    facts = [
        registered(),
        started(),
        baseline("1000.00"),
        *(milestone(i, pv, due) for i, pv, due in ((1, "100.00", date(2027, 1, 31)), (2, "200.00", date(2027, 2, 28)))),
        *(milestone(i, pv, due) for i, pv, due in ((3, "300.00", date(2027, 3, 31)), (4, "400.00", date(2027, 4, 30)))),
        commitment,
        work("80.00", date(2027, 1, 10)),
        work("220.00", date(2027, 2, 20)),
        work("50.00", date(2027, 3, 5)),
        reached(1, "100.00", date(2027, 1, 30)),
        progress(2, "75", date(2027, 3, 1)),
    ]
    facts = sorted(facts, key=lambda f: f.recorded_at)
    assert facts[0].recorded_at < datetime(2027, 1, 1, tzinfo=UTC)
    books = Books.of(PID, facts)
    inputs, span = cashflow.inputs_of(books.at, AS_OF)
    assert span == ("2027-01", "2027-12")  # planned 2027-01-04 to 2027-12-17
    assert (inputs.bac, inputs.ev, inputs.estimate) == (Decimal(1000), Decimal(250), None)
    flow = cashflow.report(inputs, span, AS_OF, "2027-01", "2027-05")
    rows = flow.months
    assert column(rows, "baseline") == [100, 200, 300, 400, 0]
    assert column(rows, "committed") == [0, 150, 0, 250, 0]
    assert column(rows, "actual") == [80, 220, 50, None, None]
    assert column(rows, "cash") == [80, 220, 50, None, None]  # people's work is paid as it is done
    assert [shown(x, "EUR") for x in column(rows, "forecast") if x is not None] == [
        "80.00",
        "220.00",
        "371.43",
        "428.57",
        "0.00",
    ]
