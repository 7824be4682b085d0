"""A project's time-phased forecast and cash flow, per calendar month (pure).

For each month of a window (at most :data:`MAX_MONTHS`), in the project's currency:

* ``baseline``: the planned value of the baseline in force at the month's end, per month (the increase over the
  previous month's end) and cumulative;
* ``committed``: the expected invoices of the commitments active on the report's date that fall in the month;
* ``actual``: accrual actual cost (AC) at the month's end minus AC at the previous month's end; the report's month
  counts to the report's date; later months have none (``None``);
* ``cash``: cost paid (the cash view of AC) the same way;
* ``forecast``: what the month is expected to cost. With an estimate to complete (the latest one recorded): the actual
  cost up to the estimate's date, then the estimate's amount for each month (the month of the estimate's date gets
  both: its actual to that date and its estimate), so the cumulative forecast ends at AC (on the estimate's date) +
  the estimate's total, EAC (bottom-up). Without one: the actual cost up to the report's date, then what remains of
  the budget (BAC - EV) spread over the months that still have planned value, in proportion to the planned value
  each of them still has after the report's date (the baseline's phasing); when no planned value is left, all of it
  falls in the month after the report's month; with nothing left (EV >= BAC) or no budget, nothing more.

Amounts stay exact here; each is rounded once, by the currency, when shown (:mod:`reporting.domain.amounts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from reporting.domain import evm
from reporting.domain.ledger import ProjectBook
from shared.errors import InvalidCommandError

MAX_MONTHS = 120
"""The longest window a cash flow covers (ten years), and the furthest the forecast is spread past the report's
month."""

Month = str
"""A calendar month, ``YYYY-MM``."""

ZERO = Decimal(0)


def month_of(day: date) -> Month:
    return f"{day.year:04d}-{day.month:02d}"


def first_day(month: Month) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def last_day(month: Month) -> date:
    return next_month_start(month) - timedelta(days=1)


def next_month_start(month: Month) -> date:
    year, mon = int(month[:4]), int(month[5:7])
    return date(year + mon // 12, mon % 12 + 1, 1)


def months_from(first: Month, count: int) -> list[Month]:
    """``count`` consecutive months from ``first``."""
    year, mon = int(first[:4]), int(first[5:7]) - 1
    return [f"{year + (mon + i) // 12:04d}-{(mon + i) % 12 + 1:02d}" for i in range(count)]


def months_between(first: Month, last: Month) -> int:
    """How many months from ``first`` to ``last``, both counted (0 when ``last`` is before ``first``)."""
    return max((int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7]) + 1, 0)


@dataclass(frozen=True)
class Estimate:
    """The project manager's latest estimate to complete: its date, its months and total (project currency)."""

    as_of: date
    months: Mapping[Month, Decimal]
    total: Decimal
    submitted_by: str = ""
    event_id: str = ""


@dataclass(frozen=True)
class Inputs:
    """What the books say, in the project's currency: cumulative planned value, accrual and cash cost at the end of
    any day (the books of that day), the expected invoices of the active commitments, BAC and EV on the report's
    date, and the latest estimate to complete known on it."""

    pv: Callable[[date], Decimal]
    ac: Callable[[date], Decimal]
    cash: Callable[[date], Decimal]
    expected: Sequence[tuple[date, Decimal]] = ()
    bac: Decimal | None = None
    ev: Decimal = ZERO
    estimate: Estimate | None = None


@dataclass(frozen=True)
class MonthRow:
    """One month of the cash flow (exact amounts; ``actual`` and ``cash`` None after the report's month)."""

    month: Month
    baseline: Decimal
    baseline_cumulative: Decimal
    committed: Decimal
    committed_cumulative: Decimal
    actual: Decimal | None
    actual_cumulative: Decimal | None
    cash: Decimal | None
    cash_cumulative: Decimal | None
    forecast: Decimal
    forecast_cumulative: Decimal


@dataclass(frozen=True)
class Plan:
    """What the forecast adds after its cut-off date, per month, and why."""

    future: dict[Month, Decimal]
    basis: str
    """``estimate``, ``baseline-phasing``, or ``actual-only`` (no budget, or nothing left to spend: EV >= BAC)."""
    remaining: Decimal | None
    """What is forecast after the cut-off: the estimate's total, or BAC - EV (None without a budget)."""
    cut_off: date
    """The last day whose actual cost the forecast counts: the estimate's date, or the report's."""

    @property
    def last_month(self) -> Month | None:
        return max(self.future, default=None)


def plan(inputs: Inputs, as_of: date, horizon_end: Month) -> Plan:
    """The forecast after its cut-off (see the module docstring); without an estimate, BAC - EV is spread over the
    months from ``as_of``'s to ``horizon_end`` (the project's last planned month; at most :data:`MAX_MONTHS`)."""
    estimate = inputs.estimate
    if estimate is not None:
        return Plan(dict(estimate.months), "estimate", estimate.total, min(estimate.as_of, as_of))
    if inputs.bac is None:
        return Plan({}, "actual-only", None, as_of)
    remaining = inputs.bac - inputs.ev
    if remaining <= 0:
        return Plan({}, "actual-only", remaining, as_of)
    first = month_of(as_of)
    horizon = months_from(first, min(max(months_between(first, horizon_end), 1), MAX_MONTHS))
    weights: dict[Month, Decimal] = {}
    before = inputs.pv(as_of)
    for month in horizon:
        now = inputs.pv(last_day(month))
        if now > before:
            weights[month] = now - before
        before = max(before, now)
    total = sum(weights.values(), ZERO)
    if total <= 0:  # the baseline has nothing left to phase by: the month after the report's
        return Plan({months_from(first, 2)[1]: remaining}, "baseline-phasing", remaining, as_of)
    future = {m: remaining * w / total for m, w in weights.items()}
    return Plan(future, "baseline-phasing", remaining, as_of)


def cash_flow(inputs: Inputs, window: Sequence[Month], as_of: date, forecast: Plan) -> list[MonthRow]:
    """The months of ``window`` (consecutive, in order) as of ``as_of``, with ``forecast`` (:func:`plan`)."""
    rows: list[MonthRow] = []
    if not window:
        return rows
    before = first_day(window[0]) - timedelta(days=1)
    pv_before, ac_before, cash_before = inputs.pv(before), inputs.ac(before), inputs.cash(before)
    committed_before = _sum(a for d, a in inputs.expected if d <= before)
    future_before = _sum(a for m, a in forecast.future.items() if m < window[0])
    cut_off = forecast.cut_off
    for month in window:
        start, end = first_day(month), last_day(month)
        pv_end, ac_end = inputs.pv(end), inputs.ac(end)
        committed = _sum(a for d, a in inputs.expected if start <= d <= end)
        actual = actual_cum = cash = cash_cum = None
        if start <= as_of:
            actual_cum, cash_cum = inputs.ac(min(end, as_of)), inputs.cash(min(end, as_of))
            actual, cash = actual_cum - ac_before, cash_cum - cash_before
        counted = inputs.ac(min(end, cut_off))  # the actual cost the forecast counts, to the month's end
        future = forecast.future.get(month, ZERO)
        future_before += future
        rows.append(
            MonthRow(
                month=month,
                baseline=pv_end - pv_before,
                baseline_cumulative=pv_end,
                committed=committed,
                committed_cumulative=committed_before + committed,
                actual=actual,
                actual_cumulative=actual_cum,
                cash=cash,
                cash_cumulative=cash_cum,
                forecast=(counted - ac_before if start <= cut_off else ZERO) + future,
                forecast_cumulative=counted + future_before,
            )
        )
        pv_before, ac_before, cash_before = pv_end, ac_end, inputs.cash(end)
        committed_before += committed
    return rows


@dataclass(frozen=True)
class Report:
    """A project's cash flow over a window of months, with the forecast's plan and the project's span."""

    months: list[MonthRow]
    plan: Plan
    span: tuple[Month, Month]
    """The project's months: from its start (or first fact) to the later of its end and the last forecast month."""
    truncated: bool
    """The window is the first :data:`MAX_MONTHS` of a longer default (ask with ``from`` / ``to`` for the rest)."""
    bac: Decimal | None
    ev: Decimal
    estimate: Estimate | None


def check_range(first: Month | None, last: Month | None) -> None:
    """A range asked with both ends must not end before it starts nor be longer than :data:`MAX_MONTHS` months
    (:class:`InvalidCommandError` naming ``to``)."""
    if first is None or last is None:
        return
    if last < first:
        raise InvalidCommandError(f"to ({last}) must not be before from ({first})", field="to")
    count = months_between(first, last)
    if count > MAX_MONTHS:
        raise InvalidCommandError(
            f"a cash flow covers at most {MAX_MONTHS} months; from {first} to {last} is {count}", field="to"
        )


def window(span: tuple[Month, Month], first: Month | None, last: Month | None) -> tuple[list[Month], bool]:
    """The months asked (``first`` to ``last``, each defaulting to the span's end), at most :data:`MAX_MONTHS`: a
    range asked with both ends is checked (:func:`check_range`); a default one is cut to its first
    :data:`MAX_MONTHS` months (its last ones when only ``to`` is given). Also whether it was cut."""
    check_range(first, last)
    if first is not None and last is not None:
        return months_from(first, months_between(first, last)), False
    if last is not None:
        count = max(months_between(span[0], last), 1)
        start = months_from(span[0], count - MAX_MONTHS + 1)[-1] if count > MAX_MONTHS else min(span[0], last)
        return months_from(start, min(count, MAX_MONTHS)), count > MAX_MONTHS
    start = first if first is not None else span[0]
    count = max(months_between(start, span[1]), 1)
    return months_from(start, min(count, MAX_MONTHS)), count > MAX_MONTHS


def report(
    inputs: Inputs,
    span: tuple[Month, Month],
    as_of: date,
    first: Month | None = None,
    last: Month | None = None,
) -> Report:
    """The cash flow of the months asked (:func:`window`) as of ``as_of``; ``span``: the project's planned months
    (start, or first fact, to end), stretched to the last month the forecast puts cost in."""
    forecast = plan(inputs, as_of, span[1])
    end = max(filter(None, (span[1], forecast.last_month)))
    span = (span[0], end)
    months, truncated = window(span, first, last)
    rows = cash_flow(inputs, months, as_of, forecast)
    return Report(rows, forecast, span, truncated, inputs.bac, inputs.ev, inputs.estimate)


def inputs_of(books_on: Callable[[date], ProjectBook], as_of: date) -> tuple[Inputs, tuple[Month, Month]]:
    """What :func:`report` reads from a project's books (``books_on``: its books on any date), and the project's
    span: from its start (the earlier of the planned and the actual one; its registration without either) to the
    latest of its planned end, its milestones' and baseline items' due dates, its commitments' expected invoices
    and its estimate's months."""
    books = books_on(as_of)
    figures = evm.evm(books, as_of)
    on: dict[date, ProjectBook] = {}
    costs: dict[date, tuple[Decimal, Decimal]] = {}

    def book(day: date) -> ProjectBook:
        if day not in on:
            on[day] = books_on(day)
        return on[day]

    def cost(day: date) -> tuple[Decimal, Decimal]:
        if day not in costs:
            day_books = book(day)
            costs[day] = (evm.evm(day_books, day).value("ac") or ZERO, day_books.cash_cost)
        return costs[day]

    expected = sorted((d, a) for c in books.commitments.values() if c.active for d, a in c.expected)
    estimate = None
    if books.estimate is not None:
        e = books.estimate
        estimate = Estimate(e.as_of, dict(e.months), e.total, e.submitted_by, str(e.event_id))
    inputs = Inputs(
        pv=lambda day: evm.planned_value(book(day), day),
        ac=lambda day: cost(day)[0],
        cash=lambda day: cost(day)[1],
        expected=expected,
        bac=figures.value("bac"),
        ev=figures.value("ev") or ZERO,
        estimate=estimate,
    )
    starts = [d for d in (books.planned_start, books.active_since) if d is not None] or [books.registered_on or as_of]
    ends = [
        books.planned_end or as_of,
        *(m.due_date for m in books.milestones.values()),
        *(item.due for version in books.pmb[-1:] for item in version.items),
        *(d for d, _ in expected),
    ]
    last = max([month_of(max(ends)), *(estimate.months if estimate else ())])
    return inputs, (month_of(min(starts)), last)


def _sum(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, ZERO)
