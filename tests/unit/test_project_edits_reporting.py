"""Reporting follows the edits: a milestone's approved new planned value changes PV from its approval date on (never
before; without a PMB), a renamed or moved project reads its new name, portfolio and programme, a revised KPI its new
target and review date; the books kept as facts arrive answer as the ledger's fold does, and a milestone read
through its index is its fold on every date with revaluations among its rows."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from reporting.domain.books import Books
from reporting.domain.books.entities import folded_milestone, indexed_milestone, milestone_index
from reporting.domain.evm import planned_value
from reporting.domain.ledger import book
from reporting.handlers import folded_on
from shared.contracts import project_edits as pe
from shared.contracts import projects as p
from tests.support.money import eur
from tests.support.reporting.facts import PID, fact, milestone, registered, started
from tests.unit.test_reporting_books import observed

APPROVED_ON = date(2027, 3, 10)


def history() -> list[Any]:
    """M1 (100.00, due 2027-02-01) and M2 (200.00, due 2027-04-01); M2 revalued to 250.00 on 2027-03-10, then
    the project renamed, moved and its KPI revised."""
    kpi = uuid.UUID(int=77)
    return [
        registered(),
        started(),
        milestone(1, "100.00", date(2027, 2, 1)),
        milestone(2, "200.00", date(2027, 4, 1)),
        fact(
            p.KpiDefined(
                project_id=PID,
                kpi_id=kpi,
                name="Reach",
                unit="%",
                target=Decimal(80),
                direction=p.KpiDirection.AT_LEAST,
                review_date=date(2027, 6, 1),
            ),
            date(2027, 1, 5),
        ),
        fact(
            pe.MilestoneValueChangeApproved(
                project_id=PID,
                change_id=uuid.UUID(int=9),
                milestone_id=uuid.UUID(int=2),
                planned_value=eur("250.00"),
                previous_value=eur("200.00"),
                approved_by="dora",
                approved_on=APPROVED_ON,
            ),
            APPROVED_ON,
        ),
        fact(
            pe.ProjectDetailsChanged(
                project_id=PID, name="CRM 2", objectives="o", previous_name="CRM", previous_objectives="", reason=""
            ),
            date(2027, 3, 11),
        ),
        fact(
            pe.ProjectMoved(
                project_id=PID,
                portfolio_id="other",
                programme_id="prog",
                previous_portfolio_id="pf",
                previous_programme_id=None,
                reason="r",
            ),
            date(2027, 3, 12),
        ),
        fact(
            pe.KpiRevised(
                project_id=PID,
                kpi_id=kpi,
                name="Reach",
                unit="%",
                direction="at_least",
                target=Decimal(70),
                review_date=date(2027, 7, 1),
                previous_target=Decimal(80),
                previous_review_date=date(2027, 6, 1),
                reason="r",
            ),
            date(2027, 3, 13),
        ),
    ]


def test_an_approved_value_change_counts_from_its_approval_never_before() -> None:
    facts = history()
    books = Books.of(PID, facts)
    assert planned_value(books.at(date(2027, 4, 1)), date(2027, 4, 1)) == Decimal("350.00")
    assert planned_value(books.at(date(2027, 3, 9)), date(2027, 4, 1)) == Decimal("300.00")  # a past report stays
    assert planned_value(book(PID, facts, date(2027, 4, 1)), date(2027, 4, 1)) == Decimal("350.00")


@pytest.mark.parametrize("as_of", [date(2027, 3, 1), APPROVED_ON, date(2027, 4, 2), date(2027, 8, 1)])
def test_the_books_give_what_the_ledger_fold_gives_with_the_edits(as_of: date) -> None:
    facts = history()
    books = Books.of(PID, facts)
    expected = observed(folded_on(PID, facts), as_of)
    got = observed(books.at, as_of)
    assert got.pop("cost_evidence") <= expected.pop("cost_evidence")
    assert got == expected
    for bk in (books.at(as_of), book(PID, facts, as_of)):
        assert (bk.name, bk.portfolio_id, bk.programme_id) == ("CRM 2", "other", "prog")
        [kpi] = bk.kpis.values()
        assert (kpi.target, kpi.review_date) == (Decimal(70), date(2027, 7, 1))
    assert Books.from_json(books.to_json()) == books


@pytest.mark.parametrize("seed", range(60))
def test_a_milestone_with_revaluations_read_through_its_index_is_its_fold_on_every_date(seed: int) -> None:
    rnd = random.Random(seed)
    start = date(2027, 1, 1)
    rows: list[Any] = []
    for n in range(rnd.randint(1, 20)):
        kind = "planned" if n == 0 else rnd.choice(["rescheduled", "progress", "revalued", "revalued", "reached"])
        day = start + timedelta(days=rnd.randint(0, 60))
        amount = Decimal(rnd.randint(0, 100)) if kind in ("planned", "progress", "revalued") else None
        rows.append(((n // 3, rnd.randint(0, 3), n), kind, day, amount, uuid.UUID(int=n + 1), f"m{n}"))
    rows.sort(key=lambda r: r[0])
    key = str(uuid.UUID(int=seed + 1))
    index = milestone_index(rows)
    for offset in range(-1, 62):
        day = start + timedelta(days=offset)
        assert indexed_milestone(key, index, day) == folded_milestone(key, rows, day), (seed, day)
