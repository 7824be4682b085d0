"""The edits after the fact, one rule at a time: given a project (or a portfolio, a programme), when an edit, then its
event or the error naming the field; and the handlers that check a move's target and the caller's scope."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from projects import domain, handlers
from shared.auth import Principal, Role
from shared.authz import CallerScope, ProjectScope
from shared.contracts import project_edits as ev
from shared.contracts import projects as pev
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.money import Money
from tests.support import scenario
from tests.support.fakes import FixedClock, InMemoryExecutor, acting_as
from tests.support.money import eur
from tests.support.projects import BUILD, DESIGN, NOW, PID, STREAM, TODAY, Scenario, active, executor_after

KPI = uuid.UUID(int=41)
CHANGE = uuid.UUID(int=51)


def request(value: str = "150000.00", by: str = "max", milestone: uuid.UUID = DESIGN) -> Any:
    return domain.RequestMilestoneValueChange(CHANGE, milestone, eur(value), "scope added", by, TODAY)


# --- details ------------------------------------------------------------------------------------------------


def test_a_project_is_renamed_and_re_described_with_the_previous_values_beside() -> None:
    s = active()
    [event] = s.when(domain.ChangeProjectDetails("CRM phase 2", "Split in two", "scope split"))
    assert event == ev.ProjectDetailsChanged(
        project_id=PID,
        name="CRM phase 2",
        objectives="Split in two",
        previous_name="CRM",
        previous_objectives="",
        reason="scope split",
    )
    assert (s.state.name, s.state.objectives) == ("CRM phase 2", "Split in two")


@pytest.mark.parametrize(("name", "objectives"), [("  ", None), ("CRM", None), (None, "")])
def test_a_blank_name_or_a_change_that_changes_nothing_is_refused_naming_the_name(
    name: str | None, objectives: str | None
) -> None:
    s = active()
    with pytest.raises(InvalidCommandError) as refused:
        s.when(domain.ChangeProjectDetails(name, objectives))
    assert refused.value.field == "name"
    assert s.state.name == "CRM"


def test_a_completed_project_is_renamed_no_more() -> None:
    s = Scenario().given_events(*active().history)
    s.given(
        domain.MarkMilestoneReached(DESIGN, date(2027, 3, 30), "dora"),
        domain.MarkMilestoneReached(BUILD, date(2027, 6, 1), "dora"),
        domain.CompleteProject(date(2027, 6, 2)),
    )
    with pytest.raises(domain.ProjectClosedError):
        s.when(domain.ChangeProjectDetails("Other", None))


# --- move ---------------------------------------------------------------------------------------------------


def test_a_move_records_where_the_project_goes_and_where_it_was() -> None:
    s = active()
    [event] = s.when(domain.MoveProject("finance", "ledger", "reorganisation"))
    assert isinstance(event, ev.ProjectMoved)
    assert (event.previous_portfolio_id, event.previous_programme_id) == ("digital", None)
    assert (s.state.portfolio_id, s.state.programme_id) == ("finance", "ledger")


@pytest.mark.parametrize(("portfolio", "programme"), [("digital", None), (None, None)])
def test_a_move_to_where_the_project_already_is_or_nowhere_is_refused(
    portfolio: str | None, programme: str | None
) -> None:
    with pytest.raises(InvalidCommandError) as refused:
        active().when(domain.MoveProject(portfolio, programme, "no"))
    assert refused.value.field == "portfolio_id"


# --- milestone value through change control -----------------------------------------------------------------


def test_a_value_change_changes_nothing_until_approved_by_someone_else_then_the_milestone_plans_the_new_value() -> None:
    s = active()
    [requested] = s.when(request())
    assert isinstance(requested, ev.MilestoneValueChangeRequested)
    assert requested.previous_value == eur("120000.00")
    assert s.state.milestones[DESIGN].planned_value == eur("120000.00")
    [approved] = s.when(domain.ApproveMilestoneValueChange(CHANGE, "dora", TODAY))
    assert approved == ev.MilestoneValueChangeApproved(
        project_id=PID,
        change_id=CHANGE,
        milestone_id=DESIGN,
        planned_value=eur("150000.00"),
        previous_value=eur("120000.00"),
        approved_by="dora",
        approved_on=TODAY,
    )
    assert s.state.milestones[DESIGN].planned_value == eur("150000.00")
    assert s.state.value_changes[CHANGE].status == "approved"


@pytest.mark.parametrize("approver", ["max", "MAX", "\uff4d\uff41\uff58"])
def test_the_requester_never_approves_her_own_value_change_however_spelt(approver: str) -> None:
    s = active().given(request(by="max"))
    with pytest.raises(SeparationOfDutiesError) as refused:
        s.when(domain.ApproveMilestoneValueChange(CHANGE, approver, TODAY))
    assert refused.value.field == "approved_by"
    assert s.state.milestones[DESIGN].planned_value == eur("120000.00")


def test_a_reached_milestone_keeps_its_planned_value() -> None:
    s = active().given(domain.MarkMilestoneReached(DESIGN, date(2027, 3, 30), "dora"))
    with pytest.raises(domain.MilestoneClosedError) as refused:
        s.when(request())
    assert refused.value.field == "milestone_id"


def test_a_milestone_reached_after_the_request_is_not_revalued_by_its_approval() -> None:
    s = active().given(request(), domain.MarkMilestoneReached(DESIGN, date(2027, 3, 30), "dora"))
    with pytest.raises(domain.MilestoneClosedError):
        s.when(domain.ApproveMilestoneValueChange(CHANGE, "dora", TODAY))


def test_with_an_approved_baseline_pv_changes_by_re_baselining_only() -> None:
    item = domain.PlannedItem(
        DESIGN, eur("120000.00"), date(2027, 1, 4), date(2027, 3, 31), pev.EvTechnique.ZERO_HUNDRED
    )
    item2 = domain.PlannedItem(
        BUILD, eur("80000.00"), date(2027, 4, 1), date(2027, 9, 30), pev.EvTechnique.ZERO_HUNDRED
    )
    s = active().given(
        domain.ProposeBaseline(uuid.UUID(int=31), date(2027, 1, 4), (item, item2), eur("0.00"), "first", "pat"),
        domain.ApproveBaseline(1, "dora"),
    )
    with pytest.raises(domain.BaselineInForceError) as refused:
        s.when(request())
    assert refused.value.field == "planned_value"


def test_a_baseline_approved_while_a_change_waits_refuses_its_approval() -> None:
    item = domain.PlannedItem(
        DESIGN, eur("120000.00"), date(2027, 1, 4), date(2027, 3, 31), pev.EvTechnique.ZERO_HUNDRED
    )
    item2 = domain.PlannedItem(
        BUILD, eur("80000.00"), date(2027, 4, 1), date(2027, 9, 30), pev.EvTechnique.ZERO_HUNDRED
    )
    s = active().given(
        request(),
        domain.ProposeBaseline(uuid.UUID(int=31), date(2027, 1, 4), (item, item2), eur("0.00"), "first", "pat"),
        domain.ApproveBaseline(1, "dora"),
    )
    with pytest.raises(domain.BaselineInForceError):
        s.when(domain.ApproveMilestoneValueChange(CHANGE, "dora", TODAY))


@pytest.mark.parametrize(
    ("value", "field_name"),
    [
        (Money(amount=Decimal("1.00"), currency="USD"), "planned_value.currency"),
        (eur("-1.00"), "planned_value.amount"),
        (eur("120000.00"), "planned_value"),
    ],
)
def test_a_value_in_another_currency_negative_or_unchanged_is_refused_naming_the_field(
    value: Money, field_name: str
) -> None:
    with pytest.raises(InvalidCommandError) as refused:
        active().when(domain.RequestMilestoneValueChange(CHANGE, DESIGN, value, "x", "max", TODAY))
    assert refused.value.field == field_name


def test_one_open_request_per_milestone_and_a_decided_one_is_decided_once() -> None:
    s = active().given(request())
    with pytest.raises(RuleViolationError):
        s.when(domain.RequestMilestoneValueChange(uuid.UUID(int=52), DESIGN, eur("1.00"), "x", "max", TODAY))
    s.when(domain.RejectMilestoneValueChange(CHANGE, "dora", "not funded"))
    assert s.state.value_changes[CHANGE].status == "rejected"
    with pytest.raises(domain.ValueChangeDecidedError):
        s.when(domain.ApproveMilestoneValueChange(CHANGE, "dora", TODAY))
    with pytest.raises(domain.UnknownValueChangeError):
        s.when(domain.ApproveMilestoneValueChange(uuid.UUID(int=99), "dora", TODAY))


# --- KPIs ---------------------------------------------------------------------------------------------------


def with_kpi() -> Scenario:
    return active().given(
        domain.DefineKpi(KPI, "Reach", "%", Decimal(80), pev.KpiDirection.AT_LEAST, date(2027, 9, 1)),
        domain.MeasureKpi(KPI, Decimal(75), date(2027, 6, 1), ""),
    )


def test_a_kpi_revision_changes_target_and_review_date_and_keeps_the_measurements_as_judged() -> None:
    s = with_kpi()
    [event] = s.when(domain.ReviseKpi(KPI, Decimal(70), date(2027, 10, 1), "board"))
    assert isinstance(event, ev.KpiRevised)
    assert (event.previous_target, event.previous_review_date) == (Decimal(80), date(2027, 9, 1))
    kpi = s.state.kpis[KPI]
    assert (kpi.target, kpi.review_date) == (Decimal(70), date(2027, 10, 1))
    assert [m.target_met for m in kpi.measurements] == [False]


def test_a_kpi_revision_that_changes_nothing_or_an_unknown_kpi_is_refused() -> None:
    with pytest.raises(InvalidCommandError) as refused:
        with_kpi().when(domain.ReviseKpi(KPI, Decimal(80), None, "same"))
    assert refused.value.field == "target"
    with pytest.raises(domain.UnknownKpiError):
        with_kpi().when(domain.ReviseKpi(uuid.UUID(int=98), Decimal(1), None, "x"))


# --- portfolios and programmes ------------------------------------------------------------------------------


def grouping() -> scenario.Scenario[domain.Grouping, domain.GroupingCommand]:
    s: scenario.Scenario[domain.Grouping, domain.GroupingCommand] = scenario.Scenario(domain.GROUPING, NOW)
    return s.given(domain.CreateProgramme("cx", "digital", "Customer experience"))


def test_a_programme_is_renamed_then_closed_then_changes_no_more() -> None:
    s = grouping()
    [renamed] = s.when(domain.RenameGrouping("CX", None))
    assert renamed == ev.ProgrammeRenamed(
        programme_id="cx", portfolio_id="digital", name="CX", description="", previous_name="Customer experience"
    )
    [closed] = s.when(domain.CloseGrouping(TODAY, "delivered"))
    assert isinstance(closed, ev.ProgrammeClosed)
    assert s.state.closed_on == TODAY
    with pytest.raises(domain.GroupingClosedError):
        s.when(domain.RenameGrouping("Other", None))
    with pytest.raises(domain.GroupingClosedError):
        s.when(domain.CloseGrouping(TODAY, "again"))


def test_closing_is_refused_while_open_work_remains_listing_it() -> None:
    s = grouping()
    with pytest.raises(domain.GroupingNotEmptyError) as refused:
        s.when(domain.CloseGrouping(TODAY, "done", ("project CRM", "project ERP")))
    assert "project CRM, project ERP" in refused.value.detail
    assert s.state.closed_on is None


def test_a_portfolio_renamed_blank_or_unchanged_is_refused_and_an_unknown_one_is_not_found() -> None:
    s: scenario.Scenario[domain.Grouping, domain.GroupingCommand] = scenario.Scenario(domain.GROUPING, NOW)
    with pytest.raises(NotFoundError):
        s.when(domain.RenameGrouping("X", None))
    s.given(domain.CreatePortfolio("digital", "Digital"))
    for name in (" ", "Digital"):
        with pytest.raises(InvalidCommandError) as refused:
            s.when(domain.RenameGrouping(name, None))
        assert refused.value.field == "name"
    [renamed] = s.when(domain.RenameGrouping(None, "all things digital"))
    assert isinstance(renamed, ev.PortfolioRenamed) and renamed.partition_key == "portfolio:digital"


# --- handlers: a move's target and the caller's scope ---------------------------------------------------------


@dataclass
class World:
    """Portfolios and programmes (with their portfolio), the closed ones and what each still holds open."""

    portfolios: set[str] = field(default_factory=lambda: {"digital", "finance", "shut"})
    programmes: dict[str, str] = field(default_factory=lambda: {"ledger": "finance", "cx": "digital"})
    shut: set[str] = field(default_factory=lambda: {"shut"})
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)

    async def portfolio_of(self, kind: handlers.GroupingKind, grouping_id: str) -> str | None:
        if kind == "portfolio":
            return grouping_id if grouping_id in self.portfolios else None
        return self.programmes.get(grouping_id)

    async def closed(self, kind: handlers.GroupingKind, grouping_id: str) -> bool:
        return grouping_id in self.shut

    async def open_members(self, kind: handlers.GroupingKind, grouping_id: str) -> tuple[str, ...]:
        return self.members.get(grouping_id, ())


class Directory:
    """The project CRM sits in portfolio digital."""

    async def scope_of(self, project_id: uuid.UUID) -> ProjectScope | None:
        return ProjectScope("digital", None, "max") if project_id == PID else None


def caller(*portfolios: str, subject: str = "pia") -> CallerScope:
    principal = Principal(subject, frozenset({Role.PMO}), frozenset(portfolios))
    return CallerScope(principal, Directory())  # type: ignore[arg-type]


async def move(scope: CallerScope, **target: str | None) -> Any:
    executor = executor_after(active())
    args: dict[str, Any] = {"portfolio_id": None, "programme_id": None} | target
    return executor, await handlers.move_project(
        executor, World(), acting_as("pia"), PID, reason="reorganisation", scope=scope, **args
    )


async def test_a_programme_decides_the_portfolio_a_project_moves_to() -> None:
    executor, outcome = await move(caller("digital", "finance"), programme_id="ledger")
    assert outcome.body["portfolio_id"] == "finance" and outcome.body["programme_id"] == "ledger"
    assert isinstance(executor.appended(STREAM)[-1], ev.ProjectMoved)


@pytest.mark.parametrize(
    ("target", "refusal", "field_name"),
    [
        ({"portfolio_id": "nowhere"}, NotFoundError, "portfolio_id"),
        ({"programme_id": "nowhere"}, NotFoundError, "programme_id"),
        ({"portfolio_id": "shut"}, domain.GroupingClosedError, "portfolio_id"),
        ({"portfolio_id": "digital", "programme_id": "ledger"}, InvalidCommandError, "programme_id"),
    ],
)
async def test_an_unknown_closed_or_mismatched_target_is_refused_naming_it_and_nothing_is_appended(
    target: dict[str, str], refusal: type[Exception], field_name: str
) -> None:
    executor = executor_after(active())
    before = executor.appended(STREAM)
    with pytest.raises(refusal) as refused:
        await handlers.move_project(
            executor,
            World(),
            acting_as("pia"),
            PID,
            portfolio_id=target.get("portfolio_id"),
            programme_id=target.get("programme_id"),
            reason="r",
        )
    assert getattr(refused.value, "field", None) == field_name
    assert executor.appended(STREAM) == before


async def test_a_caller_needs_both_the_source_and_the_target_portfolio() -> None:
    with pytest.raises(NotFoundError) as refused:
        await move(caller("digital"), portfolio_id="finance")
    assert refused.value.field == "portfolio_id"
    with pytest.raises(RuleViolationError):
        await move(caller("finance"), portfolio_id="finance")
    _, outcome = await move(caller("digital", "finance"), portfolio_id="finance")
    assert outcome.body["portfolio_id"] == "finance"


async def test_closing_a_portfolio_asks_what_it_still_holds_and_a_stranger_finds_no_portfolio() -> None:
    executor = InMemoryExecutor(clock=FixedClock(datetime(2027, 6, 15, tzinfo=UTC)))
    executor.given(
        domain.portfolio_stream("digital"), pev.PortfolioCreated(portfolio_id="digital", name="D", description="")
    )
    world = World(members={"digital": ("project CRM",)})
    with pytest.raises(domain.GroupingNotEmptyError):
        await handlers.close_grouping(
            executor, world, acting_as("pia"), "portfolio", "digital", closed_on=None, reason="r"
        )
    with pytest.raises(NotFoundError):
        await handlers.close_grouping(
            executor,
            World(),
            acting_as("pia"),
            "portfolio",
            "digital",
            closed_on=None,
            reason="r",
            scope=caller("finance"),
        )
    outcome = await handlers.close_grouping(
        executor, World(), acting_as("pia"), "portfolio", "digital", closed_on=None, reason="r"
    )
    assert outcome.body["closed_on"] == "2027-06-15"


async def test_a_project_or_programme_is_never_placed_in_a_closed_grouping() -> None:
    executor = InMemoryExecutor(clock=FixedClock(NOW))
    with pytest.raises(domain.GroupingClosedError) as refused:
        await handlers.create_programme(
            executor, World(), acting_as("pia"), portfolio_id="shut", programme_id="p", name="P", description=""
        )
    assert executor.streams == {} and refused.value.field is None
