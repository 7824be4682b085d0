"""Earned value management (PMBOK / NASA EVM reference card, ANSI/EIA-748) over a project's books.

**With a performance measurement baseline** (PMB: ``performance-baseline-approved``), the version in force on the
date (the latest approved one whose ``effective_on`` is on or before it; before the first one's, the first one)
gives BAC = its total, and PV and EV item by item, by each item's earned-value technique (ANSI/EIA-748 and
Primavera P6's "earned value techniques"; :class:`shared.contracts.projects.EvTechnique`):

============================  ===========================================  =======================================
technique                     PV to a date D (phasing)                     EV (as of the report's date)
============================  ===========================================  =======================================
``0/100``                     the budget on the due date                   the budget once the milestone is reached
``50/50``                     half on the start date, half on the due      half once progress > 0 (or reached),
                              date                                         the rest once reached
``percent_complete``          linear by calendar day over [start, due]     budget x reported percent (100 once
                              (both included), or by ``months``            reached)
``weighted_milestones``       each step's weight % on the step's date      the steps whose cumulative weight is
                                                                           at most the reported percent
``level_of_effort``           as ``percent_complete``                      its PV to the date, whatever progress
============================  ===========================================  =======================================

Phased by ``months``: a month's amount is planned linearly over its days within the item's span [start, due] (a
month outside the span, over its own days). A milestone in no version of the PMB (planned after it was approved)
plans and earns nothing until a re-baseline includes it (its planned value still shows in the milestone list); a
reschedule moves the milestone's forecast date, never PV. ``bac_original``, ``pv_original``, ``sv_original`` are
against the first approved version (the lowest version number), ``management_reserve`` the reserve of the version in
force (beside BAC, never in it).

**Without a PMB** the earlier rule holds: BAC = budget baseline + approved changes; PV = planned value of the
milestones due (on their current due date) by the date; EV = sum of planned value x percent complete (100 % once
reached).

AC (accrual, :mod:`reporting.domain.ledger`) = approved work sheets + approved expenses + goods received (minus
reversals) + the part of approved supplier invoices (before tax, after credit notes) not backed by the work sheets
and receipts they cite, in the project's currency. CV = EV - AC, SV = EV - PV,
CPI = EV / AC, SPI = EV / PV, EAC (CPI) = BAC / CPI, EAC (CPI x SPI) = AC + (BAC - EV) / (CPI x SPI),
ETC = EAC - AC, VAC = BAC - EAC, TCPI (BAC) = (BAC - EV) / (BAC - AC), TCPI (EAC) = (BAC - EV) / (EAC - AC),
CV % = CV / EV, SV % = SV / PV. With the project manager's estimate to complete (the latest submitted with its
``as_of`` on or before the date): ETC (bottom-up) = its total, EAC (bottom-up) = AC + ETC, VAC (bottom-up) = BAC -
EAC (bottom-up), TCPI (bottom-up) = (BAC - EV) / (EAC (bottom-up) - AC).

The plan check (:func:`plan_check`): the PMB's total (without a PMB: the milestones' planned value) must equal the
budget's BAC (baseline + approved changes) less its contingency category (the reserve is held beside the plan), else
EV can never reach what the budget holds for the work.

A figure that is undefined is ``None`` with a reason, never a division error or a made-up number. Money is rounded
half-even to the currency's minor unit when reported (computations keep full precision); ratios to 4 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from reporting.domain.amounts import shown, shown_ratio
from reporting.domain.ledger import MilestoneBook, PmbItem, PmbVersion, ProjectBook

RATIO = Decimal("0.0001")


@dataclass(frozen=True)
class Evidence:
    """One event behind a figure, with what it contributed."""

    event_id: UUID
    what: str
    amount: Decimal | None = None


@dataclass(frozen=True)
class Figure:
    """A reported number: money (in the project's currency), a ratio, or a percentage; or None with a reason."""

    name: str
    kind: str  # "money" | "ratio" | "percent"
    value: Decimal | None
    reason: str | None = None
    evidence: tuple[Evidence, ...] = ()
    inputs: tuple[str, ...] = ()

    def shown(self, currency: str) -> str | None:
        if self.value is None:
            return None
        if self.kind == "money":
            return shown(self.value, currency)
        return shown_ratio(self.value)


@dataclass(frozen=True)
class Evm:
    as_of: date
    currency: str
    figures: dict[str, Figure] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Figure:
        return self.figures[name]

    def value(self, name: str) -> Decimal | None:
        return self.figures[name].value


def _money(
    name: str,
    value: Decimal | None,
    reason: str | None = None,
    evidence: tuple[Evidence, ...] = (),
    inputs: tuple[str, ...] = (),
) -> Figure:
    return Figure(name, "money", value, None if value is not None else reason, evidence, inputs)


def _ratio(
    name: str, value: Decimal | None, reason: str | None, inputs: tuple[str, ...], kind: str = "ratio"
) -> Figure:
    return Figure(name, kind, value, None if value is not None else reason, (), inputs)


def _div(numerator: Decimal | None, denominator: Decimal | None) -> Decimal | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


# --- the performance measurement baseline ----------------------------------------------------------------------


def version_in_force(book: ProjectBook, on: date) -> PmbVersion | None:
    """The approved PMB version in force on ``on`` (before the first one's ``effective_on``: the first one)."""
    if not book.pmb:
        return None
    in_force = [v for v in book.pmb if v.effective_on <= on]
    return in_force[-1] if in_force else book.pmb[0]


def original_version(book: ProjectBook) -> PmbVersion | None:
    """The first approved version (the lowest version number): what ``*_original`` figures compare against."""
    return min(book.pmb, key=lambda v: v.version) if book.pmb else None


def _days(first: date, last: date) -> int:
    return (last - first).days + 1


def _linear(amount: Decimal, first: date, last: date, on: date) -> Decimal:
    """``amount`` planned linearly by calendar day over [first, last] (both included), up to the end of ``on``."""
    if on < first:
        return Decimal(0)
    if on >= last:
        return amount
    return amount * _days(first, on) / _days(first, last)


def _month_bounds(month: str) -> tuple[date, date]:
    year, number = int(month[:4]), int(month[5:7])
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return first, following - timedelta(days=1)


def item_planned(item: PmbItem, on: date) -> Decimal:
    """An item's planned value up to the end of ``on``, phased by its technique (see the module docstring)."""
    match item.technique:
        case "0/100":
            return item.budget if on >= item.due else Decimal(0)
        case "50/50":
            half = item.budget / 2
            return (half if on >= item.start else Decimal(0)) + (item.budget - half if on >= item.due else Decimal(0))
        case "weighted_milestones" if item.steps:
            return sum((item.budget * weight / 100 for day, weight in item.steps if day <= on), Decimal(0))
        case "weighted_milestones":  # no steps: the whole budget on the due date
            return item.budget if on >= item.due else Decimal(0)
    if not item.months:  # percent complete, level of effort
        return _linear(item.budget, item.start, item.due, on)
    planned = Decimal(0)
    for month, amount in item.months:
        first, last = _month_bounds(month)
        within = (max(first, item.start), min(last, item.due))
        planned += _linear(amount, *(within if within[0] <= within[1] else (first, last)), on)
    return planned


def item_earned(item: PmbItem, milestone: MilestoneBook | None, on: date) -> Decimal:
    """An item's earned value on ``on`` from its milestone's progress (the books folded as of ``on``)."""
    reached = milestone is not None and milestone.reached_on is not None
    share = Decimal(0) if milestone is None else milestone.earned_share
    match item.technique:
        case "0/100":
            return item.budget if reached else Decimal(0)
        case "50/50":
            return item.budget if reached else item.budget / 2 if share > 0 else Decimal(0)
        case "weighted_milestones" if item.steps:
            earned, cumulative = Decimal(0), Decimal(0)
            for _, weight in sorted(item.steps, key=lambda step: step[0]):
                cumulative += weight
                if cumulative > share:
                    break
                earned += item.budget * weight / 100
            return earned
        case "weighted_milestones":
            return item.budget if reached else Decimal(0)
        case "level_of_effort":
            return item_planned(item, on)
    return item.budget * share / 100


def planned_value(book: ProjectBook, on: date, version: PmbVersion | None = None) -> Decimal:
    """PV to the end of ``on``: from ``version``, else the PMB version in force on ``on``; without any PMB, the
    planned value of the milestones due (on their current due date) by then."""
    return sum((amount for amount, _ in _planned(book, on, version)), Decimal(0))


def earned_value(book: ProjectBook, on: date) -> Decimal:
    """EV on ``on`` (``book`` folded as of ``on``): by the PMB version in force and each item's technique; without
    any PMB, planned value x percent complete (100 % once reached)."""
    return sum((amount for amount, _ in _earned(book, on)), Decimal(0))


def _planned(book: ProjectBook, on: date, version: PmbVersion | None = None) -> list[tuple[Decimal, Evidence]]:
    version = version or version_in_force(book, on)
    if version is None:
        due = [m for m in book.milestones.values() if m.due_date <= on]
        return [
            (m.planned_value, Evidence(m.planned_event, f"milestone {m.name} due {m.due_date}", m.planned_value))
            for m in due
        ]
    out = []
    for item in version.items:
        amount = item_planned(item, on)
        if amount:
            what = (
                f"PMB v{version.version} (from {version.effective_on}): {item.name}, {item.technique}, planned by {on}"
            )
            out.append((amount, Evidence(version.event_id, what, amount)))
    return out


def _earned(book: ProjectBook, on: date) -> list[tuple[Decimal, Evidence]]:
    version = version_in_force(book, on)
    out = []
    if version is None:
        for m in book.milestones.values():
            share = m.earned_share
            if share == 0:
                continue
            amount = m.planned_value * share / Decimal(100)
            source = m.reached_event if m.reached_on is not None else m.progress_event
            label = f"milestone {m.name} reached" if m.reached_on is not None else f"milestone {m.name} at {share} %"
            out.append((amount, Evidence(source or m.planned_event, label, amount)))
        return out
    for item in version.items:
        milestone = book.milestones.get(item.milestone_id)
        amount = item_earned(item, milestone, on)
        if not amount:
            continue
        if item.technique == "level_of_effort" or milestone is None:
            source, how = version.event_id, "earned as planned"
        elif milestone.reached_on is not None:
            source, how = milestone.reached_event or version.event_id, "reached"
        else:
            source, how = milestone.progress_event or version.event_id, f"at {milestone.percent} %"
        what = f"PMB v{version.version}: {item.name}, {item.technique}, {how}"
        out.append((amount, Evidence(source, what, amount)))
    return out


# --- the plan check ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanDisagreement:
    """The plan (PMB total, or the milestones' planned value) and the budget figure it should equal."""

    plan: Decimal
    budget: Decimal
    plan_is: str
    budget_is: str
    currency: str
    evidence: tuple[UUID, ...]

    @property
    def words(self) -> str:
        plan, budget = shown(self.plan, self.currency), shown(self.budget, self.currency)
        apart = shown(abs(self.plan - self.budget), self.currency)
        return (
            f"{self.plan_is} ({plan} {self.currency}) does not match {self.budget_is} ({budget} {self.currency}): "
            f"{apart} apart"
        )


def plan_disagreement(book: ProjectBook, on: date | None = None) -> PlanDisagreement | None:
    """The plan and the budget when they disagree (see the module docstring), else None; nothing to check without
    a budget baseline, or without a PMB and any milestone. ``on``: the date whose PMB version is checked (default:
    the latest one)."""
    if book.baseline is None:
        return None
    bac = book.baseline.value + book.changes_total
    budget_events = (book.baseline.event_id, *(a.event_id for a in book.change_evidence))
    version = (version_in_force(book, on) if on is not None else book.pmb[-1]) if book.pmb else None
    budgeted = bac - book.category_budgets.get("contingency", Decimal(0))  # the reserve is held beside the plan
    if version is not None:
        if version.total == budgeted:
            return None
        return PlanDisagreement(
            version.total,
            budgeted,
            f"the performance baseline v{version.version}",
            "the budget's BAC less its contingency",
            book.currency,
            (version.event_id, *budget_events),
        )
    if not book.milestones:
        return None
    planned = sum((m.planned_value for m in book.milestones.values()), Decimal(0))
    if planned == budgeted:
        return None
    return PlanDisagreement(
        planned,
        budgeted,
        "the milestones' planned value",
        "the budget's BAC less its contingency",
        book.currency,
        (*(m.planned_event for m in book.milestones.values()), *budget_events),
    )


def plan_check(book: ProjectBook, on: date | None = None) -> str | None:
    """The plan/budget disagreement in words, with both figures; None when they agree (or nothing to check)."""
    found = plan_disagreement(book, on)
    return None if found is None else found.words


# --- the figures --------------------------------------------------------------------------------------------------


NO_PMB = "no performance measurement baseline approved yet"
NO_ESTIMATE = "no estimate to complete submitted yet"


def evm(books: ProjectBook, as_of: date) -> Evm:
    """Every EVM figure of one project as of ``as_of`` (its books must be folded as of the same date)."""
    f, version = _performance(books, as_of)
    bac, pv, ev, ac = (f[k].value for k in ("bac", "pv", "ev", "ac"))
    assert pv is not None and ev is not None and ac is not None  # always defined, possibly zero
    cpi, spi = f["cpi"].value, f["spi"].value
    f["cv_percent"] = _ratio("cv_percent", _pct(_div(ev - ac, ev)), "no earned value yet", ("cv", "ev"), "percent")
    f["sv_percent"] = _ratio("sv_percent", _pct(_div(ev - pv, pv)), "no planned value due yet", ("sv", "pv"), "percent")

    if bac is None:
        for name in ("eac_cpi", "eac_cpi_spi", "etc", "vac"):
            f[name] = _money(name, None, "no budget baseline yet", inputs=("bac",))
        for name in ("tcpi_bac", "tcpi_eac"):
            f[name] = _ratio(name, None, "no budget baseline yet", ("bac",))
    else:
        _forecasts(f, bac, ev, ac, cpi, spi)
    _baselines(f, books, as_of, version, ev)
    _bottom_up(f, books, bac, ev, ac)
    return Evm(as_of, books.currency, f)


CURVE = ("bac", "pv", "ev", "ac", "cv", "sv", "cpi", "spi")
"""The figures of a point of the S-curve (:func:`curve_point`): the performance to date, without the forecasts."""


def curve_point(books: ProjectBook, as_of: date) -> Evm:
    """The :data:`CURVE` figures of one project as of ``as_of``, computed as :func:`evm` computes them (the same
    code), without the forecasts, baselines and bottom-up estimates an S-curve does not show (two fifths of the
    time of :func:`evm`, 105 times per S-curve)."""
    return Evm(as_of, books.currency, _performance(books, as_of)[0])


def _performance(books: ProjectBook, as_of: date) -> tuple[dict[str, Figure], PmbVersion | None]:
    """BAC, PV, EV, AC, CV, SV, CPI and SPI as of ``as_of``, and the performance baseline in force then."""
    f: dict[str, Figure] = {}
    version = version_in_force(books, as_of)

    # BAC
    if version is not None:
        what = f"performance baseline v{version.version} in force from {version.effective_on}"
        f["bac"] = _money("bac", version.total, evidence=(Evidence(version.event_id, what, version.total),))
    elif books.baseline is None:
        f["bac"] = _money("bac", None, "no budget baseline yet")
    else:
        f["bac"] = _money(
            "bac",
            books.baseline.value + books.changes_total,
            evidence=(
                Evidence(books.baseline.event_id, "baseline", books.baseline.value),
                *(Evidence(a.event_id, f"approved change ({a.label})", a.value) for a in books.change_evidence),
            ),
        )

    planned = _planned(books, as_of, version)
    f["pv"] = _money("pv", sum((a for a, _ in planned), Decimal(0)), evidence=tuple(e for _, e in planned))
    earned = _earned(books, as_of)
    f["ev"] = _money("ev", sum((a for a, _ in earned), Decimal(0)), evidence=tuple(e for _, e in earned))
    invoiced = books.approved_invoices()
    f["ac"] = _money(
        "ac",
        books.actual_cost + sum((x.unbacked_cost for x in invoiced), Decimal(0)),
        evidence=tuple(Evidence(a.event_id, a.label, a.value) for a in books.cost_evidence)
        + tuple(
            Evidence(
                x.approved_event or x.received_event,
                f"invoice {x.vendor} {x.number} beyond the work and goods it cites",
                x.unbacked_cost,
            )
            for x in invoiced
        ),
    )

    pv, ev, ac = (f[k].value for k in ("pv", "ev", "ac"))
    assert pv is not None and ev is not None and ac is not None  # always defined, possibly zero
    f["cv"] = _money("cv", ev - ac, inputs=("ev", "ac"))
    f["sv"] = _money("sv", ev - pv, inputs=("ev", "pv"))
    cpi = _div(ev, ac)
    f["cpi"] = _ratio("cpi", cpi, "no actual cost yet", ("ev", "ac"))
    spi = _div(ev, pv)
    f["spi"] = _ratio("spi", spi, "no planned value due yet", ("ev", "pv"))
    return f, version


def _forecasts(
    f: dict[str, Figure], bac: Decimal, ev: Decimal, ac: Decimal, cpi: Decimal | None, spi: Decimal | None
) -> None:
    eac_cpi = _div(bac, cpi) if cpi else None
    eac_reason = "no actual cost yet" if cpi is None else "no earned value yet (CPI is zero)"
    f["eac_cpi"] = _money("eac_cpi", eac_cpi, eac_reason, inputs=("bac", "cpi"))
    cpi_spi = cpi * spi if cpi is not None and spi is not None else None
    eac2 = ac + (bac - ev) / cpi_spi if cpi_spi else None
    reason2 = "CPI or SPI undefined" if cpi_spi is None else "CPI x SPI is zero"
    f["eac_cpi_spi"] = _money("eac_cpi_spi", eac2, reason2, inputs=("ac", "bac", "ev", "cpi", "spi"))
    f["etc"] = _money("etc", eac_cpi - ac if eac_cpi is not None else None, eac_reason, inputs=("eac_cpi", "ac"))
    f["vac"] = _money("vac", bac - eac_cpi if eac_cpi is not None else None, eac_reason, inputs=("bac", "eac_cpi"))
    remaining_budget = bac - ac
    if remaining_budget > 0:
        f["tcpi_bac"] = _ratio("tcpi_bac", (bac - ev) / remaining_budget, None, ("bac", "ev", "ac"))
    else:
        f["tcpi_bac"] = _ratio("tcpi_bac", None, "actual cost already reaches or exceeds the budget", ("bac", "ac"))
    if eac_cpi is not None and eac_cpi - ac > 0:
        f["tcpi_eac"] = _ratio("tcpi_eac", (bac - ev) / (eac_cpi - ac), None, ("bac", "ev", "eac_cpi", "ac"))
    else:
        f["tcpi_eac"] = _ratio("tcpi_eac", None, "EAC undefined or already spent", ("eac_cpi", "ac"))


def _baselines(f: dict[str, Figure], books: ProjectBook, as_of: date, version: PmbVersion | None, ev: Decimal) -> None:
    """The original baseline's figures and the management reserve beside BAC (None without a PMB)."""
    original = original_version(books)
    if original is None or version is None:
        for name in ("bac_original", "pv_original", "sv_original", "management_reserve"):
            f[name] = _money(name, None, NO_PMB)
        return
    what = f"performance baseline v{original.version} (the first approved)"
    f["bac_original"] = _money(
        "bac_original", original.total, evidence=(Evidence(original.event_id, what, original.total),)
    )
    planned = _planned(books, as_of, original)
    pv_original = sum((a for a, _ in planned), Decimal(0))
    f["pv_original"] = _money("pv_original", pv_original, evidence=tuple(e for _, e in planned))
    f["sv_original"] = _money("sv_original", ev - pv_original, inputs=("ev", "pv_original"))
    what = f"management reserve of performance baseline v{version.version}"
    reserve = version.management_reserve
    f["management_reserve"] = _money(
        "management_reserve", reserve, evidence=(Evidence(version.event_id, what, reserve),)
    )


def _bottom_up(f: dict[str, Figure], books: ProjectBook, bac: Decimal | None, ev: Decimal, ac: Decimal) -> None:
    """EAC, ETC, VAC and TCPI on the project manager's estimate to complete (None without one)."""
    estimate = books.estimate
    if estimate is None:
        for name in ("etc_bottom_up", "eac_bottom_up", "vac_bottom_up"):
            f[name] = _money(name, None, NO_ESTIMATE)
        f["tcpi_bottom_up"] = _ratio("tcpi_bottom_up", None, NO_ESTIMATE, ())
        return
    what = f"estimate to complete as of {estimate.as_of} by {estimate.submitted_by}"
    etc = estimate.total
    f["etc_bottom_up"] = _money("etc_bottom_up", etc, evidence=(Evidence(estimate.event_id, what, etc),))
    f["eac_bottom_up"] = _money("eac_bottom_up", ac + etc, inputs=("ac", "etc_bottom_up"))
    if bac is None:
        f["vac_bottom_up"] = _money("vac_bottom_up", None, "no budget baseline yet", inputs=("bac",))
        f["tcpi_bottom_up"] = _ratio("tcpi_bottom_up", None, "no budget baseline yet", ("bac",))
        return
    f["vac_bottom_up"] = _money("vac_bottom_up", bac - (ac + etc), inputs=("bac", "eac_bottom_up"))
    inputs = ("bac", "ev", "eac_bottom_up", "ac")
    if etc > 0:
        f["tcpi_bottom_up"] = _ratio("tcpi_bottom_up", (bac - ev) / etc, None, inputs)
    else:
        f["tcpi_bottom_up"] = _ratio("tcpi_bottom_up", None, "the estimate to complete is zero", inputs)


def _pct(ratio: Decimal | None) -> Decimal | None:
    return None if ratio is None else ratio * 100
