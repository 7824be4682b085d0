"""The reporting service's use cases, shared by the routes, the dashboard and the alert evaluator.

Reads: a project's report, the portfolio report (with the process's memory of its lines), the S-curve, an EVM
figure's explanation and the utilisation table, each as of a business date and as known at a moment; they read
the facts through :class:`ReportingFacts` (:class:`reporting.queries.Ledger`) and shape answers with
:mod:`reporting.views`. Commands: acknowledge an alert, set and approve a portfolio's thresholds, and
:func:`evaluate` (raise, update and clear a project's alerts), each run through the executor port.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from reporting import views
from reporting.domain import alerts, cashflow
from reporting.domain.books import Books
from reporting.domain.evm import Evm, curve_point, evm
from reporting.domain.ledger import Fact, ProjectBook, book
from reporting.domain.raid import EXPOSURE_SHARE, RaidBook
from reporting.domain.risk import RISK_LIMIT, MilestoneRisk, assessed, milestone_risks, still_open
from reporting.domain.rules import Condition, Thresholds, conditions
from reporting.domain.utilisation import iso_week, loads
from reporting.raid_alerts import raid_conditions
from shared.commands import CommandContext, CommandOutcome, Executor, by_state, run_on
from shared.errors import InvalidCommandError, NotFoundError
from shared.events import EventMetadata
from shared.money import minor_unit

Now = Callable[[], datetime]
"""The present by the executor's clock (asked only when a read needs it: a date left out, a ``known_at``)."""
SYSTEM = EventMetadata(actor="system:reporting-evaluator", correlation_id="alert-evaluation")
HEADLINES_KEPT = 50_000
"""Lines of the portfolio report a reporting process remembers: one per project, books version and date."""

# --- ports --------------------------------------------------------------------------------------------------


class ReportingFacts(Protocol):
    """What the reports, explanations and the evaluator read: the ledger, the stored books, thresholds, alerts."""

    async def facts(self, project_id: uuid.UUID, known_at: datetime | None = None) -> list[Fact]: ...

    async def facts_of(
        self, project_ids: Sequence[uuid.UUID] | None, known_at: datetime | None = None
    ) -> dict[uuid.UUID, list[Fact]]: ...

    async def books_of(self, project_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, Books]: ...

    async def books_known_at(self, project_id: uuid.UUID, known_at: datetime) -> Books | None: ...

    async def book_versions(self) -> dict[uuid.UUID, int]: ...

    async def raid_books_of(self, project_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RaidBook]: ...

    async def thresholds(self, portfolio_id: str | None) -> Thresholds: ...

    async def open_alerts_of(self, project_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[tuple[str, str]]]: ...

    async def resource_facts(self, known_at: datetime | None, *, sheets: bool = True) -> list[Fact]: ...

    async def approved_hours(
        self, weeks: Sequence[str], known_at: datetime | None
    ) -> dict[tuple[uuid.UUID, str], Decimal]: ...

    async def resource_events(self, resource_id: uuid.UUID, known_at: datetime | None) -> list[Any]: ...

    async def rate(self, base: str, quote: str, on: date) -> Decimal | None:
        """1 ``base`` = this many ``quote`` on ``on`` (the exchange rate in force then), or None without one."""
        ...


# --- a project's figures (pure) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectReport:
    books: ProjectBook
    figures: Evm
    risks: list[MilestoneRisk]
    conditions: list[Condition]


class BooksOn(Protocol):
    """A project's books on a date: ``Books.at`` of its stored books, or the ledger's fold of its facts;
    ``performance_only``: a reading that may leave out what the performance figures (:func:`curve_point`) do not
    read."""

    def __call__(self, as_of: date, /, performance_only: bool = False) -> ProjectBook: ...


def folded_on(project_id: uuid.UUID, facts: Sequence[Fact]) -> BooksOn:
    """The ledger's fold of ``facts`` as a :class:`BooksOn` (always whole)."""

    def on(as_of: date, /, performance_only: bool = False) -> ProjectBook:
        return book(project_id, facts, as_of)

    return on


def week_ends(start: date, end: date, limit: int = 260) -> list[date]:
    """Sundays from the week of ``start`` to the last one on or before ``end`` (at most ``limit``), then ``end``."""
    first = start + timedelta(days=6 - start.weekday())
    days = [first + timedelta(weeks=i) for i in range(limit) if first + timedelta(weeks=i) < end]
    return [*days[-limit:], end]


def cpi_history(books_on: BooksOn, as_of: date, weeks: int = 8) -> list[Decimal]:
    """The CPI at the end of each of the ``weeks`` weeks before ``as_of`` (where it is defined)."""
    history = []
    for week in range(weeks, 0, -1):
        day = as_of - timedelta(weeks=week)
        cpi = curve_point(books_on(day, performance_only=True), day).value("cpi")
        if cpi is not None:
            history.append(cpi)
    return history


def report_on(
    books_on: BooksOn, as_of: date, thresholds: Thresholds, books: ProjectBook | None = None
) -> ProjectReport:
    """Figures, milestone risks and the alert conditions of one project as of a date (pure); ``books``: its books
    on that date when the caller has read them already."""
    books = books_on(as_of) if books is None else books
    figures = evm(books, as_of)
    risks = project_risks(books_on, books, figures, as_of, thresholds.underfunding_risk)
    return ProjectReport(books, figures, risks, conditions(books, figures, risks, as_of, thresholds))


def project_risks(
    books_on: BooksOn, books: ProjectBook, figures: Evm, as_of: date, limit: Decimal = RISK_LIMIT
) -> list[MilestoneRisk]:
    """The underfunding risk of the project's open milestones (none, and no CPI history read, for a project that
    cannot spend any more or has no open milestone); ``limit``: the alert threshold the funding needed is computed for
    (default 5 %)."""
    if not assessed(books) or not still_open(books):
        return []
    ac = figures.value("ac") or Decimal(0)
    return milestone_risks(books, as_of, ac, figures.value("cpi"), cpi_history(books_on, as_of), limit)


def report(project_id: uuid.UUID, facts: list[Fact], as_of: date, thresholds: Thresholds) -> ProjectReport:
    """:func:`report_on` the ledger's fold of ``facts`` (what was known at a time, or an explanation)."""
    return report_on(folded_on(project_id, facts), as_of, thresholds)


# --- the two time axes --------------------------------------------------------------------------------------


def as_of_day(now: Now, as_of: date | None) -> date:
    return as_of or now().date()


def checked_known_at(now: Now, known_at: datetime | None) -> datetime | None:
    """``known_at`` checked: a moment in the future cannot have been known (422)."""
    if known_at is not None and known_at > now() + timedelta(seconds=1):
        raise InvalidCommandError("known_at must not be in the future", field="known_at")
    return known_at


def checked_currency(currency: str) -> str:
    """``currency`` if it is an ISO 4217 code (else 422 naming ``currency``)."""
    try:
        minor_unit(currency)
    except ValueError as exc:
        raise InvalidCommandError(str(exc), field="currency") from exc
    return currency


async def project_facts(
    facts: ReportingFacts, now: Now, project_id: uuid.UUID, known_at: datetime | None = None
) -> list[Fact]:
    """The project's facts (recorded by ``known_at``); NotFoundError if its registration is not among them."""
    found = await facts.facts(project_id, checked_known_at(now, known_at))
    if not any(f.name == "project-registered" for f in found):
        if known_at is not None and await facts.facts(project_id):
            raise NotFoundError(f"project {project_id} was registered after {known_at.isoformat()}: not yet known then")
        raise NotFoundError(f"project {project_id} is not known to reporting (yet)")
    return found


async def books_on(facts: ReportingFacts, now: Now, project_id: uuid.UUID, known_at: datetime | None) -> BooksOn:
    """The project's books on any date: its stored books (kept as facts arrive: the cost does not grow with its
    history), or, as known at a moment, the books of the facts recorded by then (the latest snapshot of the books
    recorded by then and the few facts after it: ``ReportingFacts.books_known_at``), read on any number of dates."""
    if known_at is not None:
        checked_known_at(now, known_at)
        known = await facts.books_known_at(project_id, known_at)
        if known is None or not known.registrations:  # not registered by then: the 404 with its reason
            known = Books.of(project_id, await project_facts(facts, now, project_id, known_at))
        return known.at
    stored = (await facts.books_of([project_id])).get(project_id)
    if stored is None or not stored.registrations:
        raise NotFoundError(f"project {project_id} is not known to reporting (yet)")
    return stored.at


# --- reports ------------------------------------------------------------------------------------------------


async def project_report(
    facts: ReportingFacts, now: Now, project_id: uuid.UUID, as_of: date | None, known_at: datetime | None
) -> tuple[date, dict[str, Any]]:
    """The project's report on a business date (default: today), as known at a moment; with the date."""
    day = as_of_day(now, as_of)
    on = await books_on(facts, now, project_id, known_at)
    books = on(day)
    result = report_on(on, day, await facts.thresholds(books.portfolio_id), books)
    return day, views.project_report(project_id, books, result, day, known_at)


async def s_curve(
    facts: ReportingFacts, now: Now, project_id: uuid.UUID, as_of: date | None, known_at: datetime | None
) -> tuple[date, dict[str, Any]]:
    """PV, EV, AC, CPI and SPI at the end of every week from the project's start to the date; with the date."""
    day = as_of_day(now, as_of)
    on = await books_on(facts, now, project_id, known_at)
    books = on(day)
    start = books.planned_start or day
    points = [
        views.s_curve_point(on(week_end, performance_only=True), week_end, books.currency)
        for week_end in week_ends(min(start, day), day)
    ]
    return day, {
        "project_id": str(project_id),
        "currency": books.currency,
        **views.axes(day, known_at),
        "points": points,
    }


async def cash_flow(
    facts: ReportingFacts,
    now: Now,
    project_id: uuid.UUID,
    as_of: date | None,
    known_at: datetime | None,
    first: str | None = None,
    last: str | None = None,
) -> tuple[date, dict[str, Any]]:
    """The project's time-phased forecast and cash flow per month (``first`` to ``last``, ``YYYY-MM``; at most
    120 months), as of a business date and as known at a moment; with the date."""
    cashflow.check_range(first, last)
    day = as_of_day(now, as_of)
    on = await books_on(facts, now, project_id, known_at)
    inputs, span = cashflow.inputs_of(on, day)
    return day, views.cash_flow(project_id, on(day), cashflow.report(inputs, span, day, first, last), day, known_at)


async def explain_figure(
    facts: ReportingFacts,
    now: Now,
    project_id: uuid.UUID,
    figure: str,
    as_of: date | None,
    known_at: datetime | None,
) -> dict[str, Any]:
    """The events behind an EVM figure and the figures it is computed from."""
    if figure not in views.FIGURES:
        raise NotFoundError(f"no figure named {figure}; one of: {', '.join(views.FIGURES)}")
    day = as_of_day(now, as_of)
    found = await project_facts(facts, now, project_id, known_at)
    return views.explained_figure(project_id, figure, book(project_id, found, day), found, day, known_at)


async def portfolio_report(
    facts: ReportingFacts,
    now: Now,
    memo: MutableMapping[Any, Any] | None,
    *,
    as_of: date | None,
    portfolio_id: str | None,
    programme_id: str | None,
    known_at: datetime | None,
    currency: str = "EUR",
) -> tuple[date, list[dict[str, Any]], dict[str, Any]]:
    """Every project's headline figures on a date (as known at a moment), the totals per currency and their roll-up
    in the reporting ``currency`` at the rates in force on the date (of a portfolio or programme): the date, the
    lines, and the whole answer."""
    checked_currency(currency)
    day = as_of_day(now, as_of)
    if known_at is None:
        headlines = await current_headlines(facts, memo, day)
    else:  # what was known then: the facts recorded by then, folded
        known = await facts.facts_of(None, checked_known_at(now, known_at))
        headlines = [headline(pid, Books.of(pid, found).at, day) for pid, found in known.items()]
    limits = await risk_limits(facts, headlines, portfolio_id)
    rows, rollup = views.portfolio_lines(headlines, portfolio_id, programme_id, limits)
    scope = views.in_scope(headlines, portfolio_id, programme_id)
    currencies = {h.row["currency"] for h in scope if h.row is not None} - {currency}
    rates = {c: await facts.rate(c, currency, day) for c in sorted(currencies)}
    rows = views.converted_columns(rows, scope, currency, rates)
    answer = {
        **views.axes(day, known_at),
        "portfolio_id": portfolio_id,
        "programme_id": programme_id,
        "projects": rows,
        "totals": rollup,
        "rollup": views.rollup(scope, currency, rates, day),
        "underfunding_risk": views.underfunding_share(rollup),
    }
    return day, rows, answer


def headline(project_id: uuid.UUID, on: BooksOn, day: date) -> views.Headline:
    """A project's line of the portfolio report with its open milestones' underfunding risk, computed at the default
    limit so the line holds whatever the thresholds (each portfolio's own applies when the lines are summed)."""
    books = on(day)
    if not books.currency or not assessed(books):
        return views.headline(project_id, books, day)
    return views.headline(project_id, books, day, project_risks(on, books, evm(books, day), day))


async def risk_limits(
    facts: ReportingFacts, headlines: Sequence[views.Headline], portfolio_id: str | None
) -> dict[str | None, Decimal]:
    """The underfunding-risk threshold of each portfolio with a milestone assessed among ``headlines``."""
    portfolios = {h.row["portfolio_id"] for h in headlines if h.row is not None and h.risks}
    if portfolio_id is not None:
        portfolios &= {portfolio_id}
    return {pf: (await facts.thresholds(pf)).underfunding_risk for pf in portfolios}


async def current_headlines(
    facts: ReportingFacts, memo: MutableMapping[Any, Any] | None, day: date
) -> list[views.Headline]:
    """Every project's line on ``day`` from its stored books. A line depends only on the books' version (their
    count of facts) and the date, so a process remembers it (in ``memo``) and reads again only the books that
    changed since: the report's cost is one small query plus the projects whose facts moved."""
    kept: OrderedDict[tuple[uuid.UUID, int, date], views.Headline] = (
        memo.setdefault("portfolio-headlines", OrderedDict()) if memo is not None else OrderedDict()
    )
    versions = await facts.book_versions()
    missing = [pid for pid, n in versions.items() if (pid, n, day) not in kept]
    loaded = await facts.books_of(missing) if missing else {}
    out = []
    for pid, n in versions.items():
        key = (pid, n, day)
        if key in kept:
            kept.move_to_end(key)
        elif pid in loaded:
            kept[key] = headline(pid, loaded[pid].at, day)
        else:
            continue  # its books changed between the two queries: on the next report
        out.append(kept[key])
    while len(kept) > HEADLINES_KEPT:
        kept.popitem(last=False)
    return out


async def utilisation_rows(
    facts: ReportingFacts, start: date, weeks: int, known_at: datetime | None = None
) -> list[dict[str, Any]]:
    """Per person and ISO week from the week of ``start``: capacity, allocated and approved hours, ratios."""
    monday = start - timedelta(days=start.weekday())
    mondays = [monday + timedelta(weeks=i) for i in range(weeks)]
    found = await facts.resource_facts(known_at, sheets=False)  # people, capacity, allocations: few
    approved = await facts.approved_hours([iso_week(m) for m in mondays], known_at)
    return [views.utilisation_row(w) for w in loads(found, mondays, approved)]


# --- commands -----------------------------------------------------------------------------------------------


async def acknowledge(executor: Executor, ctx: CommandContext, alert_id: str, note: str) -> CommandOutcome[Any]:
    """A person acknowledges an open alert (it stays open until its condition ends)."""
    return await run_on(
        executor,
        ctx,
        alerts.ALERT,
        alerts.stream_id(alert_id),
        alerts.Acknowledge(ctx.metadata.actor, note),
        by_state(lambda state, version: views.alert_acknowledged(alert_id, state)),
    )


async def set_thresholds(
    executor: Executor, ctx: CommandContext, portfolio_id: str, values: dict[str, str]
) -> CommandOutcome[Any]:
    """Set a portfolio's thresholds: stricter ones apply at once, looser ones wait for another person's approval."""
    Thresholds.of(values)  # parses, or 422
    return await run_on(
        executor,
        ctx,
        alerts.THRESHOLDS,
        f"thresholds-{portfolio_id}",
        alerts.SetThresholds(portfolio_id, values, ctx.metadata.actor),
        by_state(lambda state, version: views.thresholds_state(portfolio_id, state)),
    )


async def approve_thresholds(executor: Executor, ctx: CommandContext, portfolio_id: str) -> CommandOutcome[Any]:
    """Another person than the requester approves the loosening waiting for this portfolio."""
    return await run_on(
        executor,
        ctx,
        alerts.THRESHOLDS,
        f"thresholds-{portfolio_id}",
        alerts.ApproveThresholds(portfolio_id, ctx.metadata.actor),
        by_state(lambda state, version: views.thresholds_state(portfolio_id, state)),
    )


@dataclass
class Pass:
    """What one evaluation pass loaded for many projects at once (instead of three queries per project)."""

    books: dict[uuid.UUID, Books]
    open_alerts: dict[uuid.UUID, set[tuple[str, str]]]
    thresholds: dict[str | None, Thresholds]
    raid_books: dict[uuid.UUID, RaidBook]


async def load_pass(facts: ReportingFacts, project_ids: Sequence[uuid.UUID]) -> Pass:
    return Pass(
        await facts.books_of(project_ids),
        await facts.open_alerts_of(project_ids),
        {},
        await facts.raid_books_of(project_ids),
    )


async def evaluate(
    executor: Executor,
    facts: ReportingFacts,
    project_id: uuid.UUID,
    as_of: date,
    loaded: Pass | None = None,
    raid_share: Decimal = EXPOSURE_SHARE,
) -> int:
    """Raise, update and clear the project's alerts from its books; returns how many alert events were appended."""
    if loaded is None:
        loaded = await load_pass(facts, [project_id])
    stored = loaded.books.get(project_id)
    if stored is None:
        return 0  # no fact of it has arrived yet
    books = stored.at(as_of)
    if not books.currency:
        return 0  # its registration has not arrived yet
    thresholds = loaded.thresholds.get(books.portfolio_id)
    if thresholds is None:
        thresholds = loaded.thresholds[books.portfolio_id] = await facts.thresholds(books.portfolio_id)
    result = report_on(stored.at, as_of, thresholds, books)
    still_open = set(loaded.open_alerts.get(project_id, ()))
    ctx = CommandContext(metadata=SYSTEM)
    appended = 0
    raid = await raid_conditions(
        facts, project_id, books, result.figures, as_of, raid_share, loaded.raid_books.get(project_id)
    )
    for condition in [*result.conditions, *raid]:
        still_open.discard((condition.rule, condition.subject))
        outcome = await executor.execute(
            ctx,
            aggregate=alerts.ALERT,
            stream_id=alerts.stream_id(alerts.alert_id(condition.rule, condition.subject)),
            command=alerts.Observe(project_id, books.portfolio_id, condition, as_of),
            respond=lambda state, events, version: {},
        )
        appended += len(outcome.events)
    for rule, subject in still_open:
        outcome = await executor.execute(
            ctx,
            aggregate=alerts.ALERT,
            stream_id=alerts.stream_id(alerts.alert_id(rule, subject)),
            command=alerts.Clear(project_id, rule, subject, as_of),
            respond=lambda state, events, version: {},
        )
        appended += len(outcome.events)
    return appended
