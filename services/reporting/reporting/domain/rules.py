"""Alert rules: which conditions hold for a project as of a date, each with its subject, severity and evidence.

The same (rule, subject) is one alert: raised when its condition starts to hold, updated while it holds with other
figures, cleared when it stops holding. Thresholds are configurable per portfolio (:class:`Thresholds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from reporting.domain.amounts import shown
from reporting.domain.evm import Evm, plan_disagreement
from reporting.domain.ledger import CommitmentBook, ProjectBook
from reporting.domain.risk import RISK_LIMIT, MilestoneRisk


@dataclass(frozen=True)
class Thresholds:
    underfunding_risk: Decimal = RISK_LIMIT
    invoice_backing: Decimal = Decimal("0.9")
    cpi_below: Decimal = Decimal("0.9")
    spi_below: Decimal = Decimal("0.9")
    vac_below_bac_share: Decimal = Decimal("-0.05")
    status_report_days: int = 7

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items()}

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Thresholds:
        """Thresholds from their stored form (strings), the defaults for those not given."""
        defaults = cls()
        return cls(
            underfunding_risk=Decimal(raw.get("underfunding_risk", defaults.underfunding_risk)),
            cpi_below=Decimal(raw.get("cpi_below", defaults.cpi_below)),
            spi_below=Decimal(raw.get("spi_below", defaults.spi_below)),
            vac_below_bac_share=Decimal(raw.get("vac_below_bac_share", defaults.vac_below_bac_share)),
            status_report_days=int(raw.get("status_report_days", defaults.status_report_days)),
            invoice_backing=Decimal(raw.get("invoice_backing", defaults.invoice_backing)),
        )

    def looser_than(self, other: Thresholds) -> list[str]:
        """The thresholds for which ``self`` raises fewer alerts than ``other``: a higher risk or a longer silence
        tolerated, a lower CPI, SPI, VAC share or invoice backing accepted."""
        raises_when_above = ("underfunding_risk", "status_report_days")
        raises_when_below = ("cpi_below", "spi_below", "vac_below_bac_share", "invoice_backing")
        return [
            *(n for n in raises_when_above if getattr(self, n) > getattr(other, n)),
            *(n for n in raises_when_below if getattr(self, n) < getattr(other, n)),
        ]


@dataclass(frozen=True)
class Condition:
    """A condition that holds: ``rule`` on ``subject`` with its figures and the events behind them."""

    rule: str
    subject: str
    severity: str  # "warning" | "critical"
    title: str
    figures: dict[str, Any]
    evidence: tuple[UUID, ...] = field(default=())


def conditions(
    books: ProjectBook, figures: Evm, risks: list[MilestoneRisk], as_of: date, thresholds: Thresholds
) -> list[Condition]:
    """Every alert condition that holds for the project as of ``as_of``."""
    out: list[Condition] = []
    project = f"project:{books.project_id}"
    open_project = books.status in ("approved", "active", "on_hold")
    for risk in risks:
        if risk.probability > thresholds.underfunding_risk:
            out.append(
                Condition(
                    "underfunding-risk",
                    f"milestone:{risk.milestone_id}",
                    "critical" if risk.probability > Decimal("0.5") else "warning",
                    f"milestone {risk.name} {'is overdue and not funded' if risk.overdue else 'may not be funded'} "
                    f"(due {risk.due_date}): {risk.driver}",
                    {
                        "probability": str(risk.probability),
                        "needed": shown(risk.needed, books.currency),
                        "available": shown(risk.available, books.currency),
                        "threshold": str(thresholds.underfunding_risk),
                        "due_date": risk.due_date.isoformat(),
                        "overdue": risk.overdue,
                        "on_hold": risk.on_hold,
                        "funding_needed_p95": shown(risk.funding_needed, books.currency),
                        "shortfall": shown(risk.shortfall, books.currency),
                        "planned_funding": shown(risk.planned_funding, books.currency),
                    },
                    risk.evidence,
                )
            )
    if open_project:
        cpi, spi = figures.value("cpi"), figures.value("spi")
        if cpi is not None and cpi < thresholds.cpi_below:
            out.append(
                Condition(
                    "cpi-below-threshold",
                    project,
                    "critical" if cpi < Decimal("0.8") else "warning",
                    f"CPI {cpi:.4f} below {thresholds.cpi_below}",
                    {"cpi": f"{cpi:.4f}", "threshold": str(thresholds.cpi_below)},
                    _ids(figures, "ev", "ac"),
                )
            )
        if spi is not None and spi < thresholds.spi_below:
            out.append(
                Condition(
                    "spi-below-threshold",
                    project,
                    "critical" if spi < Decimal("0.8") else "warning",
                    f"SPI {spi:.4f} below {thresholds.spi_below}",
                    {"spi": f"{spi:.4f}", "threshold": str(thresholds.spi_below)},
                    _ids(figures, "ev", "pv"),
                )
            )
        bac, vac = figures.value("bac"), figures.value("vac")
        if bac and vac is not None and vac / bac < thresholds.vac_below_bac_share:
            out.append(
                Condition(
                    "vac-overrun",
                    project,
                    "critical",
                    f"forecast overrun: VAC {shown(vac, books.currency)} is {vac / bac * 100:.1f} % of BAC",
                    {
                        "vac": shown(vac, books.currency),
                        "bac": shown(bac, books.currency),
                        "threshold_share": str(thresholds.vac_below_bac_share),
                    },
                    _ids(figures, "bac", "ev", "ac"),
                )
            )
        for category, budget in books.category_budgets.items():
            committed = sum(
                (c.amount for c in books.commitments.values() if c.active and c.category == category), Decimal(0)
            )
            if committed > budget > 0:  # a category with no budget: commitment-without-budget
                out.append(
                    Condition(
                        "commitments-above-budget",
                        f"{project}:category:{category}",
                        "warning",
                        f"{category} commitments {shown(committed, books.currency)} exceed the budget "
                        f"{shown(budget, books.currency)}",
                        {
                            "category": category,
                            "committed": shown(committed, books.currency),
                            "budget": shown(budget, books.currency),
                        },
                        tuple(c.event_id for c in books.commitments.values() if c.active and c.category == category),
                    )
                )
    out.extend(commitments_without_budget(books))
    out.extend(plan_disagrees(books, as_of))
    if books.status == "active":
        last = books.last_report_on if books.last_report_on and books.last_report_on <= as_of else None
        since = last or books.active_since or books.registered_on
        if since is not None and (as_of - since).days > thresholds.status_report_days:
            out.append(
                Condition(
                    "status-report-missing",
                    project,
                    "warning",
                    f"no status report for {(as_of - since).days} days",
                    {
                        "last_report": last.isoformat() if last else None,
                        "days": (as_of - since).days,
                        "limit_days": thresholds.status_report_days,
                    },
                    tuple(e for e in (books.last_report_event,) if e is not None),
                )
            )
    for kpi in books.kpis.values():
        if kpi.review_date <= as_of and kpi.latest is not None:
            on, value, met, eid = kpi.latest
            if not met:
                out.append(
                    Condition(
                        "kpi-below-target",
                        f"kpi:{kpi.kpi_id}",
                        "warning",
                        f"KPI {kpi.name} at {value} {kpi.unit}, target {kpi.direction} {kpi.target}",
                        {
                            "value": str(value),
                            "target": str(kpi.target),
                            "direction": kpi.direction,
                            "measured_on": on.isoformat(),
                        },
                        (eid,),
                    )
                )
    for communication_id, (due, closed, eid) in books.follow_ups.items():
        if closed is None and due < as_of:
            out.append(
                Condition(
                    "follow-up-overdue",
                    f"communication:{communication_id}",
                    "warning",
                    f"partner follow-up due {due} is still open",
                    {"due": due.isoformat(), "days_overdue": (as_of - due).days},
                    (eid,),
                )
            )
    out.extend(invoice_conditions(books, as_of, thresholds))
    by_resource: dict[UUID, list[tuple[str, Decimal, UUID]]] = {}
    for (resource_id, week), (hours, eid) in sorted(books.over_allocations.items(), key=lambda kv: kv[0][1]):
        week_start = date.fromisocalendar(int(week[:4]), int(week[6:]), 1)
        if week_start + timedelta(days=6) >= as_of - timedelta(days=7):  # this week, last week, and ahead
            by_resource.setdefault(resource_id, []).append((week, hours, eid))
    for resource_id, weeks in by_resource.items():
        worst = max(h for _, h, _ in weeks)
        title = (
            f"resource {resource_id} booked past capacity in {len(weeks)} week(s) from {weeks[0][0]} "
            f"(up to {worst} h over)"
        )
        figures_seen = {
            "resource_id": str(resource_id),
            "weeks": [w for w, _, _ in weeks],
            "max_over_hours": str(worst),
        }
        evidence = tuple(dict.fromkeys(e for _, _, e in weeks))
        out.append(
            Condition("over-allocation", f"{project}:resource:{resource_id}", "warning", title, figures_seen, evidence)
        )
    return out


def commitments_without_budget(books: ProjectBook) -> list[Condition]:
    """Money committed to a cost category the budget gives nothing (not baselined, no approved change): critical
    whatever the project's overrun policy was when it was committed, since a policy can be loosened for a moment."""
    out: list[Condition] = []
    project = f"project:{books.project_id}"
    unbudgeted: dict[str, list[CommitmentBook]] = {}
    for c in books.commitments.values():
        if c.active and books.category_budgets.get(c.category, Decimal(0)) <= 0:
            unbudgeted.setdefault(c.category, []).append(c)
    for category, commitments in sorted(unbudgeted.items()):
        committed = sum((c.amount for c in commitments), Decimal(0))
        out.append(
            Condition(
                "commitment-without-budget",
                f"{project}:category:{category}",
                "critical",
                f"{shown(committed, books.currency)} committed to {category}, which has no budget",
                {
                    "category": category,
                    "committed": shown(committed, books.currency),
                    "budget": shown(Decimal(0), books.currency),
                },
                tuple(c.event_id for c in commitments),
            )
        )
    return out


def invoice_backing(books: ProjectBook) -> tuple[Decimal, Decimal, Decimal | None]:
    """Invoiced and backed amounts (before tax, live matched invoices) and their ratio (None with nothing invoiced)."""
    matched = [x for x in books.invoices.values() if x.live and x.backed is not None]
    invoiced = sum((x.net - x.credited_net for x in matched), Decimal(0))
    backed = sum((min(x.backed or Decimal(0), x.net - x.credited_net) for x in matched), Decimal(0))
    return invoiced, backed, (backed / invoiced if invoiced > 0 else None)


def invoice_conditions(books: ProjectBook, as_of: date, thresholds: Thresholds) -> list[Condition]:
    out: list[Condition] = []
    project = f"project:{books.project_id}"
    invoiced, backed, ratio = invoice_backing(books)
    if ratio is not None and ratio < thresholds.invoice_backing:
        out.append(
            Condition(
                "invoice-backing-below-target",
                project,
                "warning",
                f"only {ratio * 100:.1f} % of invoiced {shown(invoiced, books.currency)} is backed by approved work",
                {
                    "invoiced": shown(invoiced, books.currency),
                    "backed": shown(backed, books.currency),
                    "ratio": f"{ratio:.4f}",
                    "threshold": str(thresholds.invoice_backing),
                },
                tuple(x.match_event for x in books.invoices.values() if x.match_event is not None),
            )
        )
    for x in books.invoices.values():
        subject = f"invoice:{x.invoice_id}"
        if x.live and not x.fully_paid and x.due_on < as_of and x.status != "disputed":
            out.append(
                Condition(
                    "invoice-overdue",
                    subject,
                    "warning",
                    f"invoice {x.vendor} {x.number} due {x.due_on} is unpaid",
                    {
                        "due_on": x.due_on.isoformat(),
                        "total": shown(x.total, books.currency),
                        "paid": shown(x.paid, books.currency),
                        "days_overdue": (as_of - x.due_on).days,
                    },
                    (x.received_event,),
                )
            )
        if x.paid > 0 and x.matched is False:
            out.append(
                Condition(
                    "invoice-paid-without-backing",
                    subject,
                    "critical",
                    f"invoice {x.vendor} {x.number} paid {shown(x.paid, books.currency)} without full backing",
                    {
                        "paid": shown(x.paid, books.currency),
                        "backed": shown(x.backed or Decimal(0), books.currency),
                        "net": shown(x.net, books.currency),
                    },
                    tuple(e for e in (x.match_event, x.paid_event) if e is not None),
                )
            )
        if x.live and "above-commitment" in x.checks:
            out.append(
                Condition(
                    "invoice-above-commitment",
                    subject,
                    "warning",
                    f"invoice {x.vendor} {x.number} exceeds what remains of its commitment",
                    {"net": shown(x.net, books.currency)},
                    tuple(e for e in (x.match_event,) if e is not None),
                )
            )
    return out


def plan_disagrees(books: ProjectBook, as_of: date) -> list[Condition]:
    """The plan (the PMB in force, or the milestones' planned value) and the budget disagree
    (:func:`reporting.domain.evm.plan_disagreement`), for a project not completed or terminated."""
    found = plan_disagreement(books, as_of)
    if found is None or books.status in ("completed", "terminated"):
        return []
    figures = {
        "plan": shown(found.plan, books.currency),
        "budget": shown(found.budget, books.currency),
        "difference": shown(found.plan - found.budget, books.currency),
        "plan_is": found.plan_is,
        "budget_is": found.budget_is,
    }
    return [Condition("plan-disagrees", f"project:{books.project_id}", "warning", found.words, figures, found.evidence)]


def _ids(figures: Evm, *names: str) -> tuple[UUID, ...]:
    return tuple(e.event_id for n in names for e in figures[n].evidence)
