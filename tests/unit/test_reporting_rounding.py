"""Every amount a report shows is rounded half-even to its currency's minor unit, from one function: a JPY project
(no decimals) and a KWD project (three) through the project report, the portfolio lines and totals, the S-curve and
their CSV exports."""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from reporting import handlers, views
from reporting.domain.amounts import shown, shown_ratio
from reporting.domain.books import Books
from reporting.domain.ledger import Fact
from reporting.domain.rules import Thresholds
from shared.csvsafe import csv_text
from tests.support.reporting import PID, baseline, milestone, progress, registered, secured, started, work

DAY = date(2027, 3, 1)


def in_currency(fact: Fact, currency: str) -> Fact:
    """``fact`` with every currency it names (the registration's, each amount's) set to ``currency``."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (currency if k == "currency" else walk(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return replace(fact, data=walk(fact.data))


def project(currency: str, *, pv1: str, work_cost: str, bac: str, funding: str) -> Books:
    """BAC ``bac``; M1 (``pv1``, due 2027-02-01) half done on 2027-02-10; M2 (the rest of the BAC, due 2027-06-30);
    one work sheet of ``work_cost`` approved on 2027-02-15; ``funding`` available from 2027-01-10."""
    rest = str(Decimal(bac) - Decimal(pv1))
    facts = [
        registered(),
        started(),
        baseline(bac),
        milestone(1, pv1, date(2027, 2, 1)),
        milestone(2, rest, date(2027, 6, 30)),
        progress(1, "50", date(2027, 2, 10)),
        work(work_cost, date(2027, 2, 15)),
        secured(funding, date(2027, 1, 10)),
    ]
    return Books.of(PID, [in_currency(f, currency) for f in facts])


def report_of(books: Books) -> dict[str, Any]:
    result = handlers.report_on(books.at, DAY, Thresholds())
    return views.project_report(PID, books.at(DAY), result, DAY, None)


def decimals(text: str) -> int:
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text), text
    return len(text.split(".")[1]) if "." in text else 0


def amounts_of(report: dict[str, Any]) -> dict[str, str]:
    """Every amount of a project report, by where it is."""
    out = {f"figures.{k}": v["value"] for k, v in report["figures"].items() if v["kind"] == "money" and v["value"]}
    budget = report["budget"]
    out["budget.funding_available"] = budget["funding_available"]
    out["budget.spent"] = budget["spent"]
    for row in budget["categories"]:
        out.update({f"budget.{row['category']}.{k}": row[k] for k in ("budget", "committed", "actual", "remaining")})
    out.update({f"invoices.{k}": report["invoices"][k] for k in ("invoiced", "backed", "unpaid", "overdue")})
    for risk in report["underfunding_risk"]:
        out.update({f"risk.{risk['name']}.{k}": risk[k] for k in ("needed", "available")})
        inputs = risk["inputs"]
        out.update({f"risk.{risk['name']}.{k}": inputs[k] for k in ("actual_cost", "remaining_planned_value")})
    return out


def test_shown_rounds_half_even_to_the_currencys_minor_unit() -> None:
    assert [shown(Decimal(x), "JPY") for x in ("0.5", "1.5", "2.5", "1200000")] == ["0", "2", "2", "1200000"]
    assert [shown(Decimal(x), "KWD") for x in ("1.0005", "1.0015", "12.3456", "7")] == [
        "1.000",
        "1.002",
        "12.346",
        "7.000",
    ]
    assert [shown(Decimal(x), "EUR") for x in ("2.675", "2.665", "1200000")] == ["2.68", "2.66", "1200000.00"]
    assert shown_ratio(Decimal("0.71500005")) == "0.7150"
    with pytest.raises(ValueError):
        shown(Decimal(1), "XXX")


def test_a_jpy_project_report_shows_every_amount_without_decimals() -> None:
    books = project("JPY", pv1="1001", work_cost="700", bac="1200000", funding="1000000")
    report = report_of(books)
    found = amounts_of(report)
    assert {k for k, v in found.items() if decimals(v) != 0} == set()
    # EV = 1001 x 50 % = 500.5: half-even gives 500 (half-up would give 501)
    assert found["figures.ev"] == "500"
    assert found["figures.ac"] == "700"
    # EAC = BAC / CPI = 1,200,000 x 700 / 500.5 = 1,678,321.678...
    assert found["figures.eac_cpi"] == "1678322"
    assert found["budget.labour.budget"] == "1200000"
    assert found["budget.labour.remaining"] == "1199300"
    assert found["budget.funding_available"] == "1000000"
    assert report["figures"]["cpi"]["value"] == "0.7150"  # 500.5 / 700; ratios keep 4 decimals


def test_a_kwd_project_report_shows_every_amount_with_three_decimals() -> None:
    books = project("KWD", pv1="1001", work_cost="333.33", bac="2000", funding="1500.5")
    found = amounts_of(report_of(books))
    assert {k for k, v in found.items() if decimals(v) != 3} == set()
    assert found["figures.ev"] == "500.500"
    assert found["figures.ac"] == "333.330"
    # EAC = 2000 x 333.33 / 500.5 = 666,660 / 500.5 = 1,332 - 6 / 500.5 = 1,331.98801...
    assert found["figures.eac_cpi"] == "1331.988"
    assert found["budget.funding_available"] == "1500.500"
    assert found["budget.labour.remaining"] == "1666.670"


def test_portfolio_lines_totals_and_csv_round_by_each_currency() -> None:
    jpy = project("JPY", pv1="1001", work_cost="700", bac="1200000", funding="1000000")
    other = uuid.UUID(int=2)
    kwd = Books.of(
        other,
        [
            replace(f, data={**f.data, "project_id": str(other)})
            for f in (
                in_currency(x, "KWD")
                for x in (
                    registered(),
                    started(),
                    baseline("2000"),
                    milestone(1, "1001", date(2027, 2, 1)),
                    progress(1, "50", date(2027, 2, 10)),
                    work("333.33", date(2027, 2, 15)),
                )
            )
        ],
    )
    headlines = [views.headline(PID, jpy.at(DAY), DAY), views.headline(other, kwd.at(DAY), DAY)]
    rows, totals = views.portfolio_lines(headlines, None, None)
    by_currency = {t["currency"]: t for t in totals}
    assert by_currency["JPY"]["ev"] == "500" and by_currency["JPY"]["bac"] == "1200000"
    assert by_currency["KWD"]["ev"] == "500.500" and by_currency["KWD"]["ac"] == "333.330"
    parsed = list(csv.DictReader(io.StringIO(csv_text(rows))))
    places = {"JPY": 0, "KWD": 3}
    for row in parsed:
        for k in ("bac", "pv", "ev", "ac", "eac_cpi", "vac"):
            assert decimals(row[k]) == places[row["currency"]], (row["currency"], k, row[k])


def test_the_s_curve_and_the_project_csv_round_by_the_currency() -> None:
    books = project("KWD", pv1="1001", work_cost="333.33", bac="2000", funding="1500.5")
    point = views.s_curve_point(books.at(DAY), DAY, "KWD")
    assert (point["pv"], point["ev"], point["ac"]) == ("1001.000", "500.500", "333.330")
    figures = report_of(books)["figures"]
    rows = [{"figure": k, **v} for k, v in figures.items()]
    parsed = {r["figure"]: r for r in csv.DictReader(io.StringIO(csv_text(rows)))}
    assert parsed["eac_cpi"]["value"] == "1331.988"
    assert all(decimals(r["value"]) == 3 for r in parsed.values() if r["kind"] == "money" and r["value"])
