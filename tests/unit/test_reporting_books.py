"""The books kept as facts arrive answer as the ledger's fold does: for random histories of every kind of fact the
ledger handles (late facts with earlier business dates, corrections, reversals, reschedules, withdrawals,
cancellations, other currencies with and without a booking, performance baselines and re-baselines, expenses, goods
receipts and their reversals, planned funding, estimates to complete, a second registration, facts of four services
arriving interleaved), the books on any date give the same EVM figures, planned value, milestone risks, alert
conditions, costs by kind, cash view and unconverted amounts as the fold of the same facts on that date, and read
back from their JSON unchanged."""

from __future__ import annotations

import json
import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from reporting.domain.books import Books
from reporting.domain.books.entities import folded_milestone, indexed_milestone, milestone_index
from reporting.domain.evm import CURVE, curve_point, evm, plan_check, planned_value
from reporting.domain.risk import milestone_risks
from reporting.domain.rules import Thresholds, conditions
from reporting.handlers import BooksOn, cpi_history, folded_on
from tests.unit.reporting_histories import PID, T0, dates_for, random_history


def observed(at: BooksOn, as_of: date) -> dict[str, Any]:
    """Everything a report and the evaluator compute from a project's books on a date."""
    books = at(as_of)
    figures = evm(books, as_of)
    history = cpi_history(at, as_of)
    risks = milestone_risks(books, as_of, figures.value("ac") or Decimal(0), figures.value("cpi"), history)
    found = conditions(books, figures, risks, as_of, Thresholds())
    costs = {a.event_id for a in books.cost_evidence}  # the ledger lists them all, the books the latest few
    return {
        "figures": {name: (fig.value, fig.reason) for name, fig in figures.figures.items()},
        "risks": risks,
        "conditions": [(c.rule, c.subject, c.severity, c.title, c.figures, set(c.evidence) - costs) for c in found],
        "cost_evidence": costs,
        "status": (books.status, books.code, books.currency, books.active_since, books.registered_on),
        "categories": books.actual_by_category(),
        "budgets": books.category_budgets,
        "reports": (books.last_report_on, books.last_report_event, books.report_count),
        "kpis": {k: (x.latest, x.measured) for k, x in books.kpis.items()},
        "counts": (books.cost_count, books.change_count),
        "pmb": books.pmb,
        "planned": [planned_value(books, as_of + timedelta(days=n)) for n in (-40, 0, 15, 90)],
        "plan_check": (plan_check(books), plan_check(books, as_of)),
        "kinds": books.actual_by_kind(),
        "costs": (books.work_cost, books.expense_cost, books.goods_cost, books.expenses_reimbursed),
        "cash": books.cash_cost,
        "unconverted": books.unconverted,
        "estimate": books.estimate,
        "tranches": books.tranches,
        "commitments": books.commitments,
        "invoices": books.invoices,
    }


@pytest.mark.parametrize("seed", range(300))
def test_the_books_on_any_date_give_what_the_ledger_fold_gives(seed: int) -> None:
    arrived, ledger_order = random_history(seed)
    books = Books(PID)
    for fact in arrived:
        books.apply(fact)
    rnd = random.Random(seed)
    for as_of in dates_for(arrived, rnd):
        expected = observed(folded_on(PID, ledger_order), as_of)
        got = observed(books.at, as_of)
        assert got.pop("cost_evidence") <= expected.pop("cost_evidence"), f"seed {seed}, as of {as_of}"
        assert got == expected, f"seed {seed}, as of {as_of}"
    again = Books.from_json(books.to_json())
    assert again == books
    assert again.to_json() == books.to_json()
    assert Books.of(PID, ledger_order) == Books.from_json(Books.of(PID, ledger_order).to_json())


def test_the_evidence_kept_is_bounded_and_the_latest() -> None:
    from tests.support.reporting import registered, work

    facts = [registered(), *(work("10.00", T0 + timedelta(days=n)) for n in range(200))]
    books = Books.of(uuid.UUID(int=1), facts)
    on = books.at(T0 + timedelta(days=300))
    assert on.cost_count == 200 and on.actual_cost == Decimal("2000.00")
    assert [a.event_id for a in on.cost_evidence] == [f.event_id for f in facts[-20:]]
    assert len(books.costs["EUR"]) == 200 and len(books.to_json()) < 200 * 600


@pytest.mark.parametrize("seed", range(200))
def test_a_milestone_read_through_its_index_is_its_fold_on_every_date(seed: int) -> None:
    """Any sequence of a milestone's rows (plans and re-plans, reschedules, progress, reached and missed, dated
    out of order): the index gives on every date what the fold of its rows gives."""
    rnd = random.Random(seed)
    start = date(2027, 1, 1)
    rows: list[Any] = []
    for n in range(rnd.randint(0, 25)):
        kind = rnd.choice(["planned", "rescheduled", "progress", "progress", "progress", "reached", "missed"])
        day = start + timedelta(days=rnd.randint(0, 60))
        amount = Decimal(rnd.randint(0, 100)) if kind in ("planned", "progress") else None
        rows.append(((n // 3, rnd.randint(0, 3), n), kind, day, amount, uuid.UUID(int=n + 1), f"m{n}"))
    rows.sort(key=lambda r: r[0])  # a component keeps its rows in the facts' order
    key = str(uuid.UUID(int=seed + 1))
    index = milestone_index(rows)
    for offset in range(-1, 62):
        day = start + timedelta(days=offset)
        assert indexed_milestone(key, index, day) == folded_milestone(key, rows, day), (seed, day)


@pytest.mark.parametrize("seed", range(100))
def test_a_point_of_the_s_curve_has_the_figures_the_full_evm_gives(seed: int) -> None:
    """Also from the performance-only reading (what the S-curve and the CPI history read), each figure with its
    reason and evidence, the dates read in random order (entities remembered as settled, or not yet existing, by an
    earlier date's reading)."""
    arrived, _ = random_history(seed)
    books = Books.of(PID, arrived)
    rnd = random.Random(seed)
    days = dates_for(arrived, rnd)
    rnd.shuffle(days)
    for day in [*days, *reversed(days)]:
        on = books.at(day)
        point, full = curve_point(on, day), evm(on, day)
        lean = curve_point(books.at(day, performance_only=True), day)
        assert list(point.figures) == list(lean.figures) == list(CURVE)
        assert all(point.figures[k] == full.figures[k] == lean.figures[k] for k in CURVE), (seed, day)


def interleaved_again(arrived: list[Any], rnd: random.Random) -> list[Any]:
    """The same facts with each service's in the same order (its topic partition's) and the services interleaved
    another way: how a replay, or a consumer behind a stalled partition, may receive them."""
    streams: dict[str, list[Any]] = {}
    for fact in arrived:
        streams.setdefault(fact.service, []).append(fact)
    again: list[Any] = []
    while any(streams.values()):
        stream = rnd.choice([s for s in streams.values() if s])
        again += [stream.pop(0) for _ in range(min(len(stream), rnd.choice([1, 2, 50])))]
    return again


@pytest.mark.parametrize("seed", range(300))
def test_the_books_do_not_depend_on_how_the_services_interleave(seed: int) -> None:
    arrived, _ = random_history(seed)
    rnd = random.Random(seed)
    first = Books(PID)
    for fact in arrived:
        first.apply(fact)
    for _ in range(3):
        other = Books(PID)
        for fact in interleaved_again(arrived, rnd):
            other.apply(fact)
        assert json.loads(other.to_json()) == json.loads(first.to_json()), f"seed {seed}"
