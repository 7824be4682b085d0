"""Underfunding risk of a project's open milestones.

For an open milestone m due on d:

* cost needed by d = AC + open commitments' expected invoices due after today and by d + remaining planned value of
  the open milestones due by d, divided by the cost performance seen so far (CPI; 1 before any actual cost);
* available = funding tranches available by d and not withdrawn by then;
* the forecast's uncertainty: a normal spread on the remaining part, with a coefficient of variation taken from
  the project's weekly CPI history (default 15 % with fewer than four weekly points);
* risk = P(cost needed > available) = 1 - Phi((available - needed) / sd).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from reporting.domain.ledger import ProjectBook

DEFAULT_CV = Decimal("0.15")
MIN_HISTORY = 4


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
    remaining_planned_value: Decimal
    cpi_used: Decimal
    spread: Decimal
    driver: str
    evidence: tuple[UUID, ...]


def coefficient_of_variation(cpi_history: Sequence[Decimal]) -> Decimal:
    """Dispersion of the weekly CPI (stdev / mean), or the default with too little history."""
    points = [float(x) for x in cpi_history if x > 0]
    if len(points) < MIN_HISTORY:
        return DEFAULT_CV
    mean = statistics.fmean(points)
    return Decimal(str(round(statistics.stdev(points) / mean, 6))) if mean else DEFAULT_CV


def milestone_risks(
    books: ProjectBook, as_of: date, actual_cost: Decimal, cpi: Decimal | None, cpi_history: Sequence[Decimal]
) -> list[MilestoneRisk]:
    """Risk for every upcoming milestone (neither reached nor missed, due today or later), by due date."""
    cv = coefficient_of_variation(cpi_history)
    performance = cpi if cpi is not None and cpi > 0 else Decimal(1)
    open_milestones = sorted(
        (m for m in books.milestones.values() if m.reached_on is None and not m.missed), key=lambda m: m.due_date
    )
    risks = []
    for m in (x for x in open_milestones if x.due_date >= as_of):  # upcoming ones; overdue work still counts
        d = m.due_date
        remaining = sum(
            (
                x.planned_value * (Decimal(100) - x.earned_share) / Decimal(100)
                for x in open_milestones
                if x.due_date <= d
            ),
            Decimal(0),
        )
        commitments = [c for c in books.commitments.values() if c.active]
        commitments_due = sum((amount for c in commitments for on, amount in c.expected if as_of < on <= d), Decimal(0))
        to_complete = remaining / performance
        needed = actual_cost + commitments_due + to_complete
        tranches = [
            t for t in books.tranches.values() if t.available_on <= d and (t.withdrawn_on is None or t.withdrawn_on > d)
        ]
        available = sum((t.amount for t in tranches), Decimal(0))
        spread = to_complete * cv
        probability = _exceedance(needed, available, spread)
        gap = needed - available
        driver = f"needs {needed:.2f} by {d} against {available:.2f} available" + (
            f" (short by {gap:.2f})" if gap > 0 else f" (margin {-gap:.2f})"
        )
        evidence = (m.planned_event, *(t.event_id for t in tranches), *(c.event_id for c in commitments))
        risks.append(
            MilestoneRisk(
                m.milestone_id,
                m.name,
                d,
                probability,
                needed,
                available,
                actual_cost,
                commitments_due,
                remaining,
                performance,
                spread,
                driver,
                evidence,
            )
        )
    return risks


def _exceedance(needed: Decimal, available: Decimal, spread: Decimal) -> Decimal:
    if spread <= 0:
        return Decimal(1) if needed > available else Decimal(0)
    z = float((available - needed) / spread)
    probability = 1 - 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return Decimal(str(round(probability, 6)))
