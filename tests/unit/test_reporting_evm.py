"""EVM formulas with hand-computed cases: positive and negative variances, zero and undefined cases, exact
decimals, and figures as of a past date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from reporting.domain.evm import evm
from reporting.domain.ledger import book
from tests.reporting_support import PID, baseline, change, milestone, progress, reached, registered, work

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
