"""Underfunding risk of a project's open milestones, and the funding each one needs by its date (second version).

The question: will each milestone be funded by its date, and how much must be secured by then to keep the risk of
running out under the alert threshold (5 % by default)?

**Which projects** (:func:`assessed`): those that can still spend. *Active* and *approved* (not yet started: its
milestones have dates and money can already be committed, so the director must know what to secure before the start)
projects are assessed; *on hold* ones too, since their commitments still fall due and their milestones keep their
dates until rescheduled, each answer flagged ``on_hold``. *Proposed*, *completed* and *terminated* projects (and a
project whose registration has not arrived) raise nothing.

**Which milestones**: every open one (neither reached nor missed), overdue ones included. A milestone due on d is
assessed on e = max(d, as_of): an overdue milestone's work is still to be done and paid for *now*, so it stays at
risk until it is reached, missed, rescheduled (a new due date) or funded (enough available today).

**Cost needed by e** = AC + the cost still to come for the work due by e, counted once:

* forecast = remaining planned value of the open milestones due by e (planned value x (100 - % earned) / 100),
  divided by the cost performance seen so far (the cumulative CPI; 1 before any actual cost or while EV is 0);
* committed = the open commitments' expected invoices dated after as_of and by e;
* to come = max(forecast, committed). The forecast prices *all* the remaining work, committed or not: a purchase
  order pays for part of that same work, so it is not added on top; it is a floor, since what is signed will be
  invoiced even if the work turns out cheaper, and it covers invoices that fall due before the work they pay for.
  Assumed: expected invoices after as_of pay for cost not yet in AC (accrual and invoicing are not matched here).

**Available by e**: secured tranches available on or before e, each counted until its withdrawal date (a tranche
withdrawn on or before e does not count). Planned tranches (``funding-planned``, not yet secured) never count;
beside each milestone: ``planned_funding`` (planned tranches expected by e) and the risk and shortfall if they were
secured.

**Uncertainty**: the cost to come is normal with a standard deviation sd = to come x cv. cv = the coefficient of
variation (stdev / mean) of the project's weekly CPI history when it has at least :data:`MIN_HISTORY` points, never
below :data:`CV_FLOOR` (5 %: a constant CPI history does not make the forecast certain); :data:`DEFAULT_CV` (15 %)
before that. Actual cost is known: no spread on it. Nothing left to come: sd = 0 and the answer is 0 or 1.

**Risk** = P(cost needed > available) = 1 - Phi((available - needed) / sd), 6 decimals.

**Funding needed** for a risk of at most L (the portfolio's alert threshold, :data:`RISK_LIMIT` by default) = the
(1 - L) quantile of the cost needed = needed + z x sd, z = ``NormalDist().inv_cdf(1 - L)`` (1.6449 at 5 %; L is
taken within [0.0001, 0.9999], since 0 and 1 have no finite quantile); **shortfall** = max(0, funding needed -
available). A milestone is at risk (probability > L) exactly when its shortfall is positive. A project's amount to
secure is its largest shortfall, not their sum: the cost needed by a later date includes an earlier one's.

Amounts keep full precision here; reports round them by the project's currency (:mod:`reporting.domain.amounts`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from reporting.domain.amounts import shown
from reporting.domain.ledger import MilestoneBook, ProjectBook

RISK_LIMIT = Decimal("0.05")
"""The default alert threshold: a milestone is at risk above it; its funding needed is the (1 - it) quantile."""
DEFAULT_CV = Decimal("0.15")
"""The spread of the forecast (stdev / mean) before the project has :data:`MIN_HISTORY` weekly CPI points."""
CV_FLOOR = Decimal("0.05")
"""The least spread of the forecast once there is history, however steady the CPI has been."""
MIN_HISTORY = 4
ASSESSED_STATUSES = ("approved", "active", "on_hold")
"""The statuses of projects that can still spend (see the module docstring)."""
_LIMIT_RANGE = (Decimal("0.0001"), Decimal("0.9999"))


@dataclass(frozen=True)
class MilestoneRisk:
    milestone_id: UUID
    name: str
    due_date: date
    probability: Decimal  # 0..1
    needed: Decimal
    available: Decimal
    actual_cost: Decimal
    commitments_due: Decimal
    """Open commitments' expected invoices after as_of and by ``assessed_on``."""
    remaining_planned_value: Decimal
    cpi_used: Decimal
    spread: Decimal
    """The standard deviation of the cost needed (on the cost to come)."""
    driver: str
    evidence: tuple[UUID, ...]
    assessed_on: date
    """max(due date, as of): the date the cost needed and the funding available are taken on."""
    overdue: bool
    on_hold: bool
    forecast: Decimal
    """Remaining planned value / CPI."""
    to_come: Decimal
    """max(forecast, commitments due): the cost still to come, counted once."""
    cv: Decimal
    limit: Decimal
    """The risk limit the funding needed is computed for (the alert threshold)."""
    funding_needed: Decimal
    """Funding needed by ``assessed_on`` for a risk of at most ``limit``: needed + z x spread."""
    shortfall: Decimal
    """max(0, funding needed - available): what is still to secure by ``assessed_on``."""
    planned_funding: Decimal
    """Planned (not yet secured) tranches expected by ``assessed_on``: never counted as available."""
    probability_if_planned_secured: Decimal
    shortfall_if_planned_secured: Decimal

    def at_risk(self, limit: Decimal) -> bool:
        return self.probability > limit

    def shortfall_at(self, limit: Decimal) -> Decimal:
        """The shortfall for another risk limit (a portfolio's own threshold)."""
        return max(funding_needed(self.needed, self.spread, limit) - self.available, Decimal(0))


@dataclass(frozen=True)
class RiskSummary:
    """A project's (or a portfolio's) milestones assessed, those at risk, and the amount to secure."""

    assessed: int
    at_risk: int
    to_secure: Decimal


def assessed(books: ProjectBook) -> bool:
    """Whether the project's milestones are assessed at all (it can still spend: see the module docstring)."""
    return books.status in ASSESSED_STATUSES and bool(books.currency)


def still_open(books: ProjectBook) -> list[MilestoneBook]:
    """The project's open milestones (neither reached nor missed, overdue ones included), by due date."""
    return sorted(
        (m for m in books.milestones.values() if m.reached_on is None and not m.missed), key=lambda m: m.due_date
    )


def coefficient_of_variation(cpi_history: Sequence[Decimal]) -> Decimal:
    """Dispersion of the weekly CPI (stdev / mean), at least :data:`CV_FLOOR`; :data:`DEFAULT_CV` with fewer than
    :data:`MIN_HISTORY` points."""
    points = [float(x) for x in cpi_history if x > 0]
    if len(points) < MIN_HISTORY:
        return DEFAULT_CV
    cv = Decimal(str(round(statistics.stdev(points) / statistics.fmean(points), 6)))
    return max(cv, CV_FLOOR)


def z_score(limit: Decimal) -> Decimal:
    """The standard normal quantile of 1 - ``limit`` (``limit`` taken within [0.0001, 0.9999])."""
    low, high = _LIMIT_RANGE
    bounded = min(max(limit, low), high)
    return Decimal(repr(statistics.NormalDist().inv_cdf(float(1 - bounded))))


def funding_needed(needed: Decimal, spread: Decimal, limit: Decimal) -> Decimal:
    """The funding for a risk of at most ``limit``: the (1 - limit) quantile of the cost needed."""
    return needed + z_score(limit) * spread if spread > 0 else needed


def milestone_risks(
    books: ProjectBook,
    as_of: date,
    actual_cost: Decimal,
    cpi: Decimal | None,
    cpi_history: Sequence[Decimal],
    limit: Decimal = RISK_LIMIT,
) -> list[MilestoneRisk]:
    """The risk of every open milestone of an assessed project (overdue ones first, by due date); none for a project
    that cannot spend any more (see the module docstring)."""
    if not assessed(books):
        return []
    cv = coefficient_of_variation(cpi_history)
    performance = cpi if cpi is not None and cpi > 0 else Decimal(1)
    on_hold = books.status == "on_hold"
    open_milestones = still_open(books)
    commitments = [c for c in books.commitments.values() if c.active]
    risks = []
    for m in open_milestones:
        e = max(m.due_date, as_of)
        due = [x for x in open_milestones if x.due_date <= e]
        remaining = sum((x.planned_value * (Decimal(100) - x.earned_share) / Decimal(100) for x in due), Decimal(0))
        invoices = [(c, amount) for c in commitments for on, amount in c.expected if as_of < on <= e]
        committed = sum((amount for _, amount in invoices), Decimal(0))
        forecast = remaining / performance
        to_come = max(forecast, committed)
        needed = actual_cost + to_come
        spread = to_come * cv
        counted = books.tranches_counting(e)
        secured, planned = [t for t in counted if not t.planned], [t for t in counted if t.planned]
        available = sum((t.amount for t in secured), Decimal(0))
        planned_funding = sum((t.amount for t in planned), Decimal(0))
        probability = exceedance(needed, available, spread)
        needed_at_limit = funding_needed(needed, spread, limit)
        shortfall = max(needed_at_limit - available, Decimal(0))
        risks.append(
            MilestoneRisk(
                milestone_id=m.milestone_id,
                name=m.name,
                due_date=m.due_date,
                probability=probability,
                needed=needed,
                available=available,
                actual_cost=actual_cost,
                commitments_due=committed,
                remaining_planned_value=remaining,
                cpi_used=performance,
                spread=spread,
                driver=_driver(books.currency, m.due_date, e, needed, available, needed_at_limit, on_hold),
                evidence=tuple(
                    dict.fromkeys(
                        (
                            m.planned_event,
                            *(x.planned_event for x in due if x is not m),
                            *(t.event_id for t in secured),
                            *(t.event_id for t in planned),
                            *(c.event_id for c, _ in invoices),
                        )
                    )
                ),
                assessed_on=e,
                overdue=m.due_date < as_of,
                on_hold=on_hold,
                forecast=forecast,
                to_come=to_come,
                cv=cv,
                limit=limit,
                funding_needed=needed_at_limit,
                shortfall=shortfall,
                planned_funding=planned_funding,
                probability_if_planned_secured=exceedance(needed, available + planned_funding, spread),
                shortfall_if_planned_secured=max(needed_at_limit - available - planned_funding, Decimal(0)),
            )
        )
    return risks


def summary(risks: Iterable[MilestoneRisk], limit: Decimal) -> RiskSummary:
    """Milestones assessed, at risk above ``limit``, and the amount to secure: the largest shortfall (each milestone's
    need includes every earlier one's, so shortfalls are not added)."""
    found = list(risks)
    shortfalls = [r.shortfall if r.limit == limit else r.shortfall_at(limit) for r in found]
    return RiskSummary(len(found), sum(1 for r in found if r.at_risk(limit)), max(shortfalls, default=Decimal(0)))


def exceedance(needed: Decimal, available: Decimal, spread: Decimal) -> Decimal:
    """P(cost needed > available) for a normal cost needed of mean ``needed`` and standard deviation ``spread``."""
    if spread <= 0:
        return Decimal(1) if needed > available else Decimal(0)
    z = float((available - needed) / spread)
    probability = 1 - 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return Decimal(str(round(probability, 6)))


def _driver(
    currency: str, due: date, on: date, needed: Decimal, available: Decimal, needed_at_limit: Decimal, on_hold: bool
) -> str:
    gap = needed - available
    when = f"by {on}" if on == due else f"now (overdue since {due})"
    text = f"needs {shown(needed, currency)} {when} against {shown(available, currency)} available" + (
        f" (short by {shown(gap, currency)})" if gap > 0 else f" (margin {shown(-gap, currency)})"
    )
    if needed_at_limit > available:
        text += f"; {shown(needed_at_limit - available, currency)} more to secure"
    return text + ("; project on hold" if on_hold else "")
