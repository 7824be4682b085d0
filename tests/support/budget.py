"""Builders for the budget's tests: the given-commands / when-command / then-events scenario over the pure
aggregate, the commands and events of a baselined budget, and a fake of the handlers' reading interface."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from budget import domain
from shared.contracts import budget as ev
from shared.contracts.budget import CategoryAmount, CostCategory, PhaseAmount
from shared.money import Money
from tests.support import scenario
from tests.support.money import eur

NOW = datetime(2027, 3, 1, tzinfo=UTC)
TODAY = NOW.date()  # 2027-03-01, the fakes' clock too
PID = uuid.UUID(int=1)
M1 = uuid.UUID(int=11)


def recorded_rate(base: str, quote: str, rate: str, effective_on: date, source: str = "ECB") -> domain.RecordedRate:
    return domain.RecordedRate(base, quote, Decimal(rate), effective_on, source)


def rate_in_force(base: str, quote: str, rate: str, effective_on: date, source: str = "ECB") -> domain.RateInForce:
    """A recorded ``base``->``quote`` rate, as the handlers hand it to a command."""
    found = domain.in_force(base, quote, recorded_rate(base, quote, rate, effective_on, source), None)
    assert found is not None
    return found


class Scenario(scenario.Scenario[domain.Budget, domain.Command]):
    """The budget folded from the commands given, decided at NOW; ``when`` decides one more and returns its events."""

    def __init__(self) -> None:
        super().__init__(domain.BUDGET, NOW)


def baseline(
    total: str = "100000.00", labour: str = "60000.00", sub: str = "40000.00", phasing: tuple[PhaseAmount, ...] = ()
) -> domain.BaselineBudget:
    return domain.BaselineBudget(
        project_id=PID,
        project_currency="EUR",
        known_milestones=frozenset({M1}),
        total=eur(total),
        categories=(
            CategoryAmount(category=CostCategory.LABOUR, amount=eur(labour)),
            CategoryAmount(category=CostCategory.SUBCONTRACTING, amount=eur(sub)),
        ),
        phasing=phasing,
        baselined_by="fiona",
    )


def commit(
    amount: str,
    category: CostCategory = CostCategory.SUBCONTRACTING,
    ref: str | None = None,
    cid: uuid.UUID | None = None,
    by: str = "paul",
    *,
    money: Money | None = None,
    rate: domain.RateInForce | None = None,
) -> domain.Commit:
    """A commitment of ``amount`` EUR (or of ``money``, booked on NOW's day at ``rate``)."""
    return domain.Commit(
        cid or uuid.uuid4(),
        ev.CommitmentKind.SUBCONTRACT,
        "Acme",
        ref or uuid.uuid4().hex[:6],
        category,
        None,
        frozenset({M1}),
        money or eur(amount),
        (),
        by,
        NOW.date(),
        rate,
    )


def baselined() -> Scenario:
    return Scenario().given(baseline())


# --- events, for the handlers' given streams ----------------------------------------------------------------


def baselined_event(project_id: uuid.UUID = PID) -> ev.BudgetBaselined:
    """100,000.00 EUR: 60,000.00 labour, 40,000.00 subcontracting, baselined by fiona."""
    return ev.BudgetBaselined(
        project_id=project_id,
        total=eur("100000.00"),
        categories=[
            CategoryAmount(category=CostCategory.LABOUR, amount=eur("60000.00")),
            CategoryAmount(category=CostCategory.SUBCONTRACTING, amount=eur("40000.00")),
        ],
        phasing=[],
        baselined_by="fiona",
    )


def source_added(source_id: uuid.UUID, project_id: uuid.UUID = PID) -> ev.FundingSourceAdded:
    return ev.FundingSourceAdded(project_id=project_id, source_id=source_id, name="EU grant", kind=ev.FundingKind.GRANT)


def secured(
    source_id: uuid.UUID, tranche_id: uuid.UUID, amount: str, available_on: date, project_id: uuid.UUID = PID
) -> ev.FundingSecured:
    return ev.FundingSecured(
        project_id=project_id,
        source_id=source_id,
        tranche_id=tranche_id,
        amount=eur(amount),
        available_on=available_on,
    )


def policy_set(policy: ev.OverrunPolicy, project_id: uuid.UUID = PID) -> ev.OverrunPolicySet:
    return ev.OverrunPolicySet(project_id=project_id, policy=policy, set_by="carl")


def change_requested(
    change_id: uuid.UUID, amount: str, by: str, project_id: uuid.UUID = PID
) -> ev.BudgetChangeRequested:
    return ev.BudgetChangeRequested(
        project_id=project_id,
        change_id=change_id,
        category=CostCategory.SUBCONTRACTING,
        amount=eur(amount),
        reason="extra module",
        requested_by=by,
    )


# --- the handlers' reading interface ------------------------------------------------------------------------


BASELINED_ON = date(2027, 1, 4)
"""The day the fakes' budgets were baselined."""


@dataclass
class FakeBudgetFacts:
    """:class:`budget.handlers.BudgetFacts` over dicts of the projects this service would know, the rates it would
    have recorded and the days budgets were baselined."""

    projects: dict[uuid.UUID, domain.KnownProject] = field(default_factory=dict)
    rates: list[domain.RecordedRate] = field(default_factory=list)
    baselined: dict[uuid.UUID, date] = field(default_factory=dict)

    def knows(
        self,
        project_id: uuid.UUID = PID,
        *,
        currency: str = "EUR",
        status: str = "active",
        milestones: Sequence[uuid.UUID] = (M1,),
        manager: str | None = "mia.manager",
        baselined_on: date | None = BASELINED_ON,
    ) -> FakeBudgetFacts:
        self.projects[project_id] = domain.KnownProject(currency, status, frozenset(milestones), manager)
        if baselined_on is not None:
            self.baselined[project_id] = baselined_on
        return self

    def rate(self, base: str, quote: str, rate: str, effective_on: date, source: str = "ECB") -> FakeBudgetFacts:
        """Record a rate (replacing the pair's rate of that date)."""
        kept = [r for r in self.rates if (r.base, r.quote, r.effective_on) != (base, quote, effective_on)]
        self.rates = [*kept, recorded_rate(base, quote, rate, effective_on, source)]
        return self

    async def known_project(self, project_id: uuid.UUID) -> domain.KnownProject | None:
        return self.projects.get(project_id)

    async def rate_in_force(self, base: str, quote: str, on: date) -> domain.RateInForce | None:
        return domain.in_force(base, quote, self._latest(base, quote, on), self._latest(quote, base, on))

    def _latest(self, base: str, quote: str, on: date) -> domain.RecordedRate | None:
        candidates = [r for r in self.rates if (r.base, r.quote) == (base, quote) and r.effective_on <= on]
        return max(candidates, key=lambda r: r.effective_on, default=None)

    async def baselined_on(self, project_id: uuid.UUID) -> date | None:
        return self.baselined.get(project_id)
