"""The RAID logs as reporting reads them: each project's risks and dependencies folded from the projects topic
(:class:`RaidBook`), risk exposure, the 5 x 5 probability-impact map, top risks and the RAID alert conditions.

**Exposure** of an open risk = probability / 5 x money impact (the expected loss, reading probability 1-5 as 20 %
to 100 %), in the project's currency; a project's exposure is the sum over its open risks (closed risks count
nothing); a programme's or portfolio's is the sum of its projects' per currency (never converted, never mixed).
Amounts are kept exact and rounded once when shown. **Score** = probability x impact (1-25), which orders the map's
cells and, with exposure, the top risks.

**Alerts** (rule, subject):

* ``raid-response-overdue`` (``risk-action:<id>``): a response action of an open risk not completed by its due
  date (due before the report's date);
* ``raid-review-overdue`` (``risk:<id>``): an open risk whose review date has passed;
* ``raid-exposure-high`` (``project:<id>``): the project's exposure is above ``share`` (a setting, 0.5 by
  default) x its remaining budget (BAC - AC, when it has a budget); critical once it is above the whole remaining
  budget (or none is left);
* ``raid-dependency-late`` (``dependency:<id>``): an open dependency whose provider is late: the provider's
  milestone it names is missed, or not reached and due before the report's date (its due date passed) or after the
  needed-by date (its forecast is too late); or, whatever the milestone, the needed-by date has passed. Critical
  once the needed-by date has passed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from reporting.domain.amounts import shown
from reporting.domain.rules import Condition
from shared.contracts import raid as ev
from shared.events import DomainEvent

EXPOSURE_SHARE = Decimal("0.5")
"""Default of ``PMO_RAID_EXPOSURE_SHARE``: exposure above this share of the remaining budget raises an alert."""
SCALE = range(1, 6)
TOP = 10


@dataclass
class RiskAction:
    action_id: str
    description: str
    owner: str
    due_date: date
    completed_on: date | None = None


@dataclass
class RaidRisk:
    risk_id: str
    title: str
    probability: int
    impact: int
    money_impact: Decimal
    currency: str
    owner: str
    strategy: str
    review_date: date
    raised_on: date
    status: str = "open"
    actions: dict[str, RiskAction] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    """The ids of the events behind the risk as it stands."""

    @property
    def score(self) -> int:
        return self.probability * self.impact

    @property
    def exposure(self) -> Decimal:
        """probability / 5 x money impact, exact."""
        return Decimal(self.probability) / Decimal(5) * self.money_impact


@dataclass
class RaidDependency:
    dependency_id: str
    provider_project_id: str
    provider_milestone_id: str | None
    needs: str
    needed_by: date
    owner: str
    status: str = "open"
    evidence: list[str] = field(default_factory=list)


@dataclass
class RaidBook:
    """A project's RAID log as far as reporting needs it: risks, dependencies and the open counts of the rest."""

    project_id: str
    risks: dict[str, RaidRisk] = field(default_factory=dict)
    dependencies: dict[str, RaidDependency] = field(default_factory=dict)
    open_issues: dict[str, str] = field(default_factory=dict)
    """Open issues: id -> severity."""
    open_assumptions: int = 0
    decisions: int = 0

    def apply(self, event: DomainEvent, event_id: UUID) -> bool:
        """Fold one projects event in; False when it is not a RAID event (nothing changed)."""
        eid = str(event_id)
        match event:
            case ev.RiskRaised(assessment=a):
                self.risks[str(event.risk_id)] = RaidRisk(
                    str(event.risk_id),
                    event.title,
                    a.probability,
                    a.impact,
                    a.money_impact.amount,
                    a.money_impact.currency,
                    a.owner,
                    a.strategy.value,
                    a.review_date,
                    event.raised_on,
                    evidence=[eid],
                )
            case ev.RiskReviewed(assessment=a):
                risk = self.risks[str(event.risk_id)]
                risk.probability, risk.impact = a.probability, a.impact
                risk.money_impact, risk.currency = a.money_impact.amount, a.money_impact.currency
                risk.owner, risk.strategy, risk.review_date = a.owner, a.strategy.value, a.review_date
                risk.evidence.append(eid)
            case ev.RiskResponsePlanned():
                risk = self.risks[str(event.risk_id)]
                risk.actions[str(event.action_id)] = RiskAction(
                    str(event.action_id), event.description, event.owner, event.due_date
                )
                risk.evidence.append(eid)
            case ev.RiskResponseCompleted():
                risk = self.risks[str(event.risk_id)]
                risk.actions[str(event.action_id)].completed_on = event.completed_on
                risk.evidence.append(eid)
            case ev.RiskClosed():
                risk = self.risks[str(event.risk_id)]
                risk.status = "closed"
                risk.evidence.append(eid)
            case ev.IssueRaised():
                self.open_issues[str(event.issue_id)] = event.severity.value
            case ev.IssueResolved():
                self.open_issues.pop(str(event.issue_id), None)
            case ev.AssumptionRecorded():
                self.open_assumptions += 1
            case ev.AssumptionValidated():
                self.open_assumptions = max(0, self.open_assumptions - 1)
            case ev.DecisionLogged():
                self.decisions += 1
            case ev.DependencyDeclared():
                self.dependencies[str(event.dependency_id)] = RaidDependency(
                    str(event.dependency_id),
                    str(event.provider_project_id),
                    str(event.provider_milestone_id) if event.provider_milestone_id else None,
                    event.needs,
                    event.needed_by,
                    event.owner,
                    evidence=[eid],
                )
            case ev.DependencyClosed():
                dependency = self.dependencies[str(event.dependency_id)]
                dependency.status = event.outcome.value
                dependency.evidence.append(eid)
            case _:
                return False
        return True

    def open_risks(self) -> list[RaidRisk]:
        return [r for r in self.risks.values() if r.status == "open"]

    def exposure(self) -> dict[str, Decimal]:
        """The open risks' exposure per currency (one currency: the project's)."""
        out: dict[str, Decimal] = {}
        for risk in self.open_risks():
            out[risk.currency] = out.get(risk.currency, Decimal(0)) + risk.exposure
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_encode)

    @classmethod
    def from_json(cls, raw: str | Mapping[str, Any]) -> RaidBook:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
        risks = {}
        for key, r in data.get("risks", {}).items():
            actions = {
                k: RiskAction(
                    a["action_id"],
                    a["description"],
                    a["owner"],
                    date.fromisoformat(a["due_date"]),
                    date.fromisoformat(a["completed_on"]) if a.get("completed_on") else None,
                )
                for k, a in r.get("actions", {}).items()
            }
            risks[key] = RaidRisk(
                r["risk_id"],
                r["title"],
                int(r["probability"]),
                int(r["impact"]),
                Decimal(r["money_impact"]),
                r["currency"],
                r["owner"],
                r["strategy"],
                date.fromisoformat(r["review_date"]),
                date.fromisoformat(r["raised_on"]),
                r.get("status", "open"),
                actions,
                list(r.get("evidence", [])),
            )
        dependencies = {
            key: RaidDependency(
                d["dependency_id"],
                d["provider_project_id"],
                d.get("provider_milestone_id"),
                d["needs"],
                date.fromisoformat(d["needed_by"]),
                d["owner"],
                d.get("status", "open"),
                list(d.get("evidence", [])),
            )
            for key, d in data.get("dependencies", {}).items()
        }
        return cls(
            data["project_id"],
            risks,
            dependencies,
            dict(data.get("open_issues", {})),
            int(data.get("open_assumptions", 0)),
            int(data.get("decisions", 0)),
        )


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")  # pragma: no cover


# --- answers ------------------------------------------------------------------------------------------------


def risk_line(project_id: str, risk: RaidRisk) -> dict[str, Any]:
    """One risk as the reports and the map's drill-down list it (amounts rounded once, here)."""
    return {
        "project_id": project_id,
        "risk_id": risk.risk_id,
        "title": risk.title,
        "probability": risk.probability,
        "impact": risk.impact,
        "score": risk.score,
        "money_impact": shown(risk.money_impact, risk.currency),
        "exposure": shown(risk.exposure, risk.currency),
        "currency": risk.currency,
        "owner": risk.owner,
        "strategy": risk.strategy,
        "review_date": risk.review_date.isoformat(),
        "status": risk.status,
    }


def exposure_totals(books: list[RaidBook]) -> dict[str, str]:
    """The open risks' exposure of ``books`` added per currency, each total rounded once."""
    totals: dict[str, Decimal] = {}
    for book in books:
        for currency, amount in book.exposure().items():
            totals[currency] = totals.get(currency, Decimal(0)) + amount
    return {c: shown(a, c) for c, a in sorted(totals.items())}


def top_risks(books: list[RaidBook], limit: int = TOP) -> list[dict[str, Any]]:
    """The open risks with the highest score, then exposure (in any currency: the score leads), then title."""
    risks = [(b.project_id, r) for b in books for r in b.open_risks()]
    risks.sort(key=lambda pr: (-pr[1].score, -pr[1].exposure, pr[1].title, pr[1].risk_id))
    return [risk_line(p, r) for p, r in risks[:limit]]


def risk_map(books: list[RaidBook]) -> list[dict[str, Any]]:
    """The 5 x 5 probability-impact map of the open risks: 25 cells (probability 5 down to 1, impact 1 to 5),
    each with its count, its exposure per currency and its risks (the drill-down), highest score first."""
    cells: list[dict[str, Any]] = []
    for probability in reversed(SCALE):
        for impact in SCALE:
            inside = [_cell(b, probability, impact) for b in books]
            risks = top_risks(inside, limit=10_000)
            cells.append(
                {
                    "probability": probability,
                    "impact": impact,
                    "score": probability * impact,
                    "count": len(risks),
                    "exposure": exposure_totals(inside),
                    "risks": risks,
                }
            )
    return cells


def _cell(book: RaidBook, probability: int, impact: int) -> RaidBook:
    risks = {k: r for k, r in book.risks.items() if (r.probability, r.impact) == (probability, impact)}
    return RaidBook(book.project_id, risks)


# --- alert conditions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderMilestone:
    """A provider's milestone as of the report's date (from the provider's books)."""

    name: str
    due_date: date
    reached: bool
    missed: bool


ProviderLookup = Callable[[str, str], ProviderMilestone | None]
"""``(provider project id, milestone id)`` -> the milestone as the provider's books hold it, or None."""


def conditions(
    book: RaidBook,
    as_of: date,
    *,
    remaining_budget: Decimal | None,
    currency: str,
    share: Decimal,
    milestone_of: ProviderLookup,
) -> list[Condition]:
    """Every RAID alert condition that holds for the project as of ``as_of``."""
    out: list[Condition] = []
    for risk in book.open_risks():
        for action in risk.actions.values():
            if action.completed_on is None and action.due_date < as_of:
                out.append(
                    Condition(
                        "raid-response-overdue",
                        f"risk-action:{action.action_id}",
                        "warning",
                        f"response '{action.description}' to risk {risk.title} was due {action.due_date}",
                        {
                            "risk_id": risk.risk_id,
                            "action_id": action.action_id,
                            "owner": action.owner,
                            "due_date": action.due_date.isoformat(),
                            "days_overdue": (as_of - action.due_date).days,
                        },
                        tuple(UUID(e) for e in risk.evidence),
                    )
                )
        if risk.review_date < as_of:
            out.append(
                Condition(
                    "raid-review-overdue",
                    f"risk:{risk.risk_id}",
                    "warning",
                    f"risk {risk.title} was due for review on {risk.review_date}",
                    {
                        "risk_id": risk.risk_id,
                        "owner": risk.owner,
                        "review_date": risk.review_date.isoformat(),
                        "days_overdue": (as_of - risk.review_date).days,
                    },
                    tuple(UUID(e) for e in risk.evidence),
                )
            )
    exposure = book.exposure().get(currency, Decimal(0))
    if remaining_budget is not None and exposure > 0 and exposure > share * remaining_budget:
        critical = exposure > remaining_budget
        out.append(
            Condition(
                "raid-exposure-high",
                f"project:{book.project_id}",
                "critical" if critical else "warning",
                f"risk exposure {shown(exposure, currency)} {currency} is above "
                f"{'the whole' if critical else f'{share:%} of the'} remaining budget",
                {
                    "exposure": shown(exposure, currency),
                    "remaining_budget": shown(remaining_budget, currency),
                    "share": str(share),
                    "currency": currency,
                },
                tuple(UUID(e) for r in book.open_risks() for e in r.evidence),
            )
        )
    for dependency in book.dependencies.values():
        late = _late(dependency, as_of, milestone_of)
        if late is not None:
            out.append(
                Condition(
                    "raid-dependency-late",
                    f"dependency:{dependency.dependency_id}",
                    "critical" if dependency.needed_by < as_of else "warning",
                    f"'{dependency.needs}' needed by {dependency.needed_by}: {late}",
                    {
                        "dependency_id": dependency.dependency_id,
                        "provider_project_id": dependency.provider_project_id,
                        "provider_milestone_id": dependency.provider_milestone_id,
                        "needed_by": dependency.needed_by.isoformat(),
                        "reason": late,
                    },
                    tuple(UUID(e) for e in dependency.evidence),
                )
            )
    return out


def _late(dependency: RaidDependency, as_of: date, milestone_of: ProviderLookup) -> str | None:
    """Why the dependency's provider is late as of ``as_of``, or None."""
    if dependency.status != "open":
        return None
    if dependency.provider_milestone_id is not None:
        milestone = milestone_of(dependency.provider_project_id, dependency.provider_milestone_id)
        if milestone is not None and not milestone.reached:
            if milestone.missed:
                return f"the provider's milestone {milestone.name} was missed"
            if milestone.due_date < as_of:
                return f"the provider's milestone {milestone.name} was due {milestone.due_date} and is not reached"
            if milestone.due_date > dependency.needed_by:
                return f"the provider's milestone {milestone.name} is due {milestone.due_date}, after it is needed"
    if dependency.needed_by < as_of:
        return "the needed-by date has passed and the dependency is still open"
    return None
