"""Reading the books on a date (:meth:`Books.at`): every component folded as the ledger folds the same facts, the
project's identity, budget, status reports, performance baselines and estimates here, the entities and costs in their
own modules."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from reporting.domain.books.costs import EVIDENCE, EXPENSE, GOODS, read_costs
from reporting.domain.books.entities import (
    Foreign,
    MilestoneIndex,
    folded_commitment,
    folded_follow_up,
    folded_invoice,
    folded_kpi,
    folded_tranche,
    indexed_milestone,
    milestone_index,
    ordered,
)
from reporting.domain.books.keys import Row, entity_id
from reporting.domain.ledger import (
    Amount,
    EstimateBook,
    PmbItem,
    PmbVersion,
    ProjectBook,
    apply_allocation,
    later_estimate,
    unconverted_label,
    with_version,
)

if TYPE_CHECKING:
    from reporting.domain.books.book import Books


def book_at(books: Books, as_of: date, performance_only: bool = False) -> ProjectBook:
    """The project's books on ``as_of`` (:meth:`Books.at`): the same as the ledger's fold of the same facts on
    that date. ``performance_only``: only what the performance figures (BAC, PV, EV, AC and their ratios,
    :func:`reporting.domain.evm.curve_point`) read: identity, budget, milestones, invoices, performance baselines
    and costs; status reports, KPIs, follow-ups, commitments, tranches, estimates and allocations stay empty (the
    CPI history a report reads on eight past dates)."""
    bk = ProjectBook(project_id=books.project_id)
    _identity(books, bk, as_of)
    _budget(books, bk, as_of)
    bk.milestones = {
        entity_id(k): m
        for k, m in ordered(
            indexed_milestone(k, _milestone_index(books, k, rows), as_of) for k, rows in books.milestones.items()
        )
    }
    first = books.first_registration()
    foreign = Foreign(bk.currency, first)
    if not performance_only:
        _rest(books, bk, as_of, foreign)
    bk.invoices = {
        entity_id(k): x
        for k, x in ordered(
            _settled(books, folded_invoice, k, rows, as_of, foreign) for k, rows in books.invoices.items()
        )
    }
    bk.pmb = []
    for _, _, day, total, eid, extra in books.pmb:
        assert day is not None and total is not None and eid is not None
        bk.pmb = with_version(bk.pmb, _pmb_version(day, total, eid, extra))
    for key, category, day, amount, eid, (currency, label) in books.foreign:
        assert day is not None and amount is not None and eid is not None
        if day <= as_of:
            text = unconverted_label(label, amount, currency, bk.currency)
            plain = category.removeprefix(EXPENSE).removeprefix(GOODS)
            foreign.found.append((key, Amount(amount, eid, day, text, plain)))
    bk.unconverted = [amount for _, amount in sorted(foreign.found, key=lambda found: found[0])]
    read_costs(bk, books.costs, as_of, books.evidence_read)
    return bk


def _rest(books: Books, bk: ProjectBook, as_of: date, foreign: Foreign) -> None:
    """The components the performance figures do not read: status reports, KPIs, follow-ups, commitments, tranches,
    the estimate to complete and allocations (the unconverted amounts they list are sorted by order key with the
    others)."""
    _reports(books, bk, as_of)
    bk.kpis = {entity_id(k): x for k, x in ordered(folded_kpi(k, rows, as_of) for k, rows in books.kpis.items())}
    bk.follow_ups = {
        entity_id(k): x for k, x in ordered((*folded_follow_up(rows, as_of), k) for k, rows in books.follow_ups.items())
    }
    bk.commitments = {
        entity_id(k): x
        for k, x in ordered(
            _settled(books, folded_commitment, k, rows, as_of, foreign) for k, rows in books.commitments.items()
        )
    }
    bk.tranches = {
        entity_id(k): x
        for k, x in ordered(folded_tranche(k, rows, as_of, foreign) for k, rows in books.tranches.items())
    }
    bk.estimate = _estimate(books.estimates, as_of, foreign)
    _allocations(books, bk)


def _allocations(books: Books, bk: ProjectBook) -> None:
    for row in books.allocations:
        x = row[5]
        apply_allocation(
            bk,
            entity_id(x["resource"]),
            None if x["from"] is None else date.fromisoformat(x["from"]),
            None if x["to"] is None else date.fromisoformat(x["to"]),
            [(w, Decimal(h)) for w, h in x["over"]],
            row[4],  # type: ignore[arg-type]
        )


Folded = tuple[Any, Any, str]


def _milestone_index(books: Books, key: str, rows: list[Row]) -> MilestoneIndex | None:
    """The milestone's :class:`MilestoneIndex`, built once and kept by the books until a fact is applied (weekly
    progress reports make a milestone's rows grow with the history; read through the index, a date costs the same
    after two years as on day one)."""
    if key not in books.milestone_indexes:
        books.milestone_indexes[key] = milestone_index(rows)
    return books.milestone_indexes[key]


def _settled(
    books: Books,
    fold: Callable[[str, list[Row], date, Foreign], Folded],
    key: str,
    rows: list[Row],
    as_of: date,
    foreign: Foreign,
) -> Folded:
    """``fold(key, rows, as_of, foreign)`` of an entity whose every row counts only from its date on (invoices,
    commitments): before the earliest of those dates it does not exist yet; on or after the latest its state no
    longer depends on ``as_of``, so it is folded once and remembered by the books (until a fact is applied; an
    S-curve reads 105 dates, most of them after most invoices were settled). Either way a date costs nothing more
    after two years of monthly invoices than on day one but for the few entities open on it. An entity that listed an
    unconverted amount is folded each time (the listing is a side effect on ``foreign``). The state is shared by the
    dates read: treat it as read-only, as every reader does."""
    memo = (fold.__name__, key, foreign.currency, foreign.registered)
    kept = books.settled.get(memo)
    if kept is None:
        days = [day for _, _, day, _, _, _ in rows if day is not None]
        kept = books.settled[memo] = (min(days), max(days), None)
    first, last, folded = kept
    if as_of < first:
        return None, None, key
    if folded is not None and as_of >= last:
        return folded
    listed = len(foreign.found)
    folded = fold(key, rows, as_of, foreign)
    if as_of >= last and len(foreign.found) == listed:
        books.settled[memo] = (first, last, folded)
    return folded


def _identity(books: Books, bk: ProjectBook, as_of: date) -> None:
    events = sorted([*books.registrations, *books.lifecycle], key=lambda row: row[0])
    for _, kind, day, _, _, extra in events:
        assert day is not None
        if kind == "registered":
            bk.code, bk.name, bk.currency = extra["code"], extra["name"], extra["currency"]
            bk.portfolio_id, bk.programme_id = extra["portfolio_id"], extra["programme_id"]
            bk.planned_start = date.fromisoformat(extra["planned_start"])
            bk.planned_end = date.fromisoformat(extra["planned_end"])
            bk.status, bk.registered_on = "proposed", day
        elif kind == "renamed":  # as known now, like the registration
            bk.name = extra
        elif kind == "moved":
            bk.portfolio_id, bk.programme_id = extra
        elif day <= as_of:
            if kind in ("started", "resumed"):
                bk.status, bk.active_since = "active", day
            else:
                bk.status = kind


def _budget(books: Books, bk: ProjectBook, as_of: date) -> None:
    changes: list[Amount] = []
    for _, kind, day, amount, eid, extra in books.budget:
        assert day is not None and amount is not None and eid is not None
        if kind == "baseline":
            bk.baseline = Amount(amount, eid, day, "baseline")
            bk.category_budgets = {c: Decimal(a) for c, a in extra}
        elif day <= as_of:
            changes.append(Amount(amount, eid, day, extra[0]))
            bk.category_budgets[extra[0]] = Decimal(extra[1])
    bk.changes_total = sum((a.value for a in changes), Decimal(0))
    bk.change_count = len(changes)
    bk.change_evidence = changes[-EVIDENCE:]


def _reports(books: Books, bk: ProjectBook, as_of: date) -> None:
    index = bisect_right(books.reports, as_of, key=lambda row: row[0])
    if not index:
        return
    if books.latest_reports is None:
        latest, best = [], 0
        for n, row in enumerate(books.reports):
            best = n if row[1] > books.reports[best][1] else best
            latest.append(best)
        books.latest_reports = latest
    last = books.reports[books.latest_reports[index - 1]]
    bk.last_report_on = books.reports[index - 1][0]
    bk.last_report_rag, bk.last_report_event = last[2], last[3]
    bk.report_count = index


def _pmb_version(effective_on: date, total: Decimal, event_id: UUID, extra: Any) -> PmbVersion:
    items = tuple(
        PmbItem(
            entity_id(mid),
            name,
            Decimal(budget),
            date.fromisoformat(start),
            date.fromisoformat(due),
            technique,
            tuple((date.fromisoformat(on), Decimal(weight)) for on, weight in steps),
            tuple((month, Decimal(value)) for month, value in months),
        )
        for mid, name, budget, start, due, technique, steps, months in extra["items"]
    )
    return PmbVersion(extra["version"], effective_on, total, Decimal(extra["reserve"]), items, event_id)


def _estimate(rows: list[Row], as_of: date, foreign: Foreign) -> EstimateBook | None:
    found: EstimateBook | None = None
    for k, _, day, total, eid, extra in rows:
        assert day is not None and total is not None and eid is not None
        if day > as_of:
            continue
        if foreign.unconvertible(k, extra["currency"]):
            what = unconverted_label("estimate to complete", total, extra["currency"], foreign.currency)
            foreign.listed(k, Amount(total, eid, day, what, "estimate"))
            continue
        categories: dict[str, Decimal] = {}
        for category, value in extra["categories"]:
            categories[category] = categories.get(category, Decimal(0)) + Decimal(value)
        months: dict[str, Decimal] = {}
        for month, value in extra["months"]:
            months[month] = months.get(month, Decimal(0)) + Decimal(value)
        found = later_estimate(found, EstimateBook(day, total, categories, months, extra["by"], eid))
    return found
