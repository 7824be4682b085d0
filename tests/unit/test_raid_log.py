"""A project's RAID log: given events, when a command, then events or the error naming the field (nothing decided);
the fold of the events; the dependency-cycle search; and the handlers over the in-memory executor."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from projects.domain import raid
from projects.domain.raid_state import (
    Assess,
    CloseDependency,
    CloseRisk,
    CompleteRiskResponse,
    DeclareDependency,
    DependencyGraph,
    ItemStatus,
    LogDecision,
    PlanRiskResponse,
    ProjectFacts,
    RaidCommand,
    RaidLog,
    RaiseIssue,
    RaiseRisk,
    RecordAssumption,
    ReviewRisk,
    ValidateAssumption,
)
from projects.domain.rules import ProjectClosedError, ProjectNotFoundError
from projects.handlers import raid as handlers
from projects.raid_views import log_view
from shared.contracts import raid as ev
from shared.errors import ConcurrencyError, InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.immutable import frozen
from shared.money import Money
from tests.support.fakes import CONTEXT, InMemoryExecutor

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
PID, OTHER, THIRD = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
RISK, ACTION, ISSUE, ASSUMPTION, DEPENDENCY = (uuid.UUID(int=n) for n in range(11, 16))
MILESTONE = uuid.UUID(int=21)
ACTIVE = ProjectFacts(PID, "active", "EUR")
PROVIDER = ProjectFacts(OTHER, "active", "EUR", frozenset({MILESTONE}))


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def assess(**overrides: Any) -> Assess:
    base = Assess(3, 4, eur("50000.00"), "j.doe", ev.RiskStrategy.MITIGATE, date(2027, 4, 1))
    return replace(base, **overrides)


def raise_risk(**overrides: Any) -> RaiseRisk:
    base = RaiseRisk(RISK, "Vendor capacity", "two programmes", "no developers", "a month late", assess(), NOW.date())
    return replace(base, **overrides)


def given(*events: DomainEvent) -> RaidLog:
    state = RaidLog()
    for event in events:
        state = raid.evolve(state, event)
    return state


def when(state: RaidLog, change: Any, project: ProjectFacts = ACTIVE) -> list[DomainEvent]:
    return list(raid.decide(state, RaidCommand(project, change), NOW))


def raised() -> ev.RiskRaised:
    (event,) = when(RaidLog(), raise_risk(raised_on=date(2027, 2, 1)))
    assert isinstance(event, ev.RiskRaised)
    return event


def refused(state: RaidLog, change: Any, error: type[Exception], field: str | None = None) -> None:
    with pytest.raises(error) as caught:
        when(state, change)
    if field is not None:
        assert getattr(caught.value, "field", None) == field


# --- risks --------------------------------------------------------------------------------------------------


def test_a_risk_is_raised_with_its_cause_event_effect_and_assessment() -> None:
    (event,) = when(RaidLog(), raise_risk())
    assert isinstance(event, ev.RiskRaised)
    assert (event.project_id, event.risk_id, event.raised_on) == (PID, RISK, NOW.date())
    assert (event.cause, event.event, event.effect) == ("two programmes", "no developers", "a month late")
    a = event.assessment
    assert (a.probability, a.impact, a.money_impact, a.strategy) == (3, 4, eur("50000.00"), ev.RiskStrategy.MITIGATE)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"probability": 0}, "probability"),
        ({"probability": 6}, "probability"),
        ({"impact": 0}, "impact"),
        ({"impact": 6}, "impact"),
        ({"money_impact": eur("-0.01")}, "money_impact"),
        ({"money_impact": Money.of("10", "USD")}, "money_impact"),
        ({"review_date": date(2027, 2, 28)}, "review_date"),
    ],
)
def test_an_assessment_out_of_bounds_is_refused_naming_its_field(overrides: dict[str, Any], field: str) -> None:
    refused(RaidLog(), raise_risk(assessment=assess(**overrides)), InvalidCommandError, field)


def test_a_risk_raised_in_the_future_is_refused() -> None:
    refused(RaidLog(), raise_risk(raised_on=date(2027, 3, 2)), InvalidCommandError, "raised_on")


def test_a_response_due_before_the_risk_was_raised_is_refused() -> None:
    state = given(raised())
    refused(
        state,
        PlanRiskResponse(RISK, ACTION, "second team", "j.doe", date(2027, 1, 31)),
        InvalidCommandError,
        "due_date",
    )
    (event,) = when(state, PlanRiskResponse(RISK, ACTION, "second team", "j.doe", date(2027, 2, 1)))
    assert isinstance(event, ev.RiskResponsePlanned) and event.due_date == date(2027, 2, 1)


def test_a_review_replaces_the_whole_assessment_and_a_closed_risk_takes_no_more() -> None:
    state = given(raised())
    (reviewed,) = when(state, ReviewRisk(RISK, NOW.date(), assess(probability=1, review_date=date(2027, 5, 1))))
    state = raid.evolve(state, reviewed)
    risk = state.risks[RISK]
    assert (risk.assessment.probability, risk.assessment.review_date, risk.last_reviewed_on) == (
        1,
        date(2027, 5, 1),
        NOW.date(),
    )
    (closed,) = when(state, CloseRisk(RISK, NOW.date(), ev.RiskClosure.RETIRED, "staffed"))
    state = raid.evolve(state, closed)
    assert state.risks[RISK].status is ItemStatus.CLOSED
    refused(state, ReviewRisk(RISK, NOW.date(), assess()), RuleViolationError)
    refused(state, PlanRiskResponse(RISK, ACTION, "x", "y", NOW.date()), RuleViolationError)


def test_a_response_is_completed_once() -> None:
    state = given(
        raised(),
        ev.RiskResponsePlanned(
            project_id=PID, risk_id=RISK, action_id=ACTION, description="d", owner="o", due_date=date(2027, 2, 10)
        ),
    )
    (done,) = when(state, CompleteRiskResponse(RISK, ACTION, NOW.date(), "ok"))
    state = raid.evolve(state, done)
    assert state.risks[RISK].actions[ACTION].completed_on == NOW.date()
    refused(state, CompleteRiskResponse(RISK, ACTION, NOW.date()), RuleViolationError)
    refused(state, CompleteRiskResponse(RISK, uuid.UUID(int=99), NOW.date()), NotFoundError)


def test_an_unknown_risk_is_not_found() -> None:
    refused(RaidLog(), ReviewRisk(RISK, NOW.date(), assess()), NotFoundError)


# --- the project --------------------------------------------------------------------------------------------


def test_no_log_for_a_project_that_does_not_exist_or_is_closed() -> None:
    with pytest.raises(ProjectNotFoundError):
        when(RaidLog(), raise_risk(), ProjectFacts(PID, None))
    with pytest.raises(ProjectClosedError):
        when(RaidLog(), raise_risk(), ProjectFacts(PID, "completed", "EUR"))


# --- issues, assumptions, decisions -------------------------------------------------------------------------


def test_an_issue_is_not_due_before_it_was_raised_and_names_a_risk_of_the_log() -> None:
    issue = RaiseIssue(ISSUE, "Env down", "", ev.IssueSeverity.HIGH, "ops", NOW.date(), date(2027, 2, 28))
    refused(RaidLog(), issue, InvalidCommandError, "due_date")
    refused(RaidLog(), replace(issue, due_date=NOW.date(), risk_id=RISK), InvalidCommandError, "risk_id")
    (event,) = when(given(raised()), replace(issue, due_date=NOW.date(), risk_id=RISK))
    assert isinstance(event, ev.IssueRaised) and event.risk_id == RISK


def test_an_assumption_is_validated_once_and_a_decision_keeps_who_when_and_why() -> None:
    state = given(*when(RaidLog(), RecordAssumption(ASSUMPTION, "API stays compatible", "arch", NOW.date())))
    (validated,) = when(state, ValidateAssumption(ASSUMPTION, False, NOW.date(), "broke in v2"))
    state = raid.evolve(state, validated)
    assert state.assumptions[ASSUMPTION].holds is False
    refused(state, ValidateAssumption(ASSUMPTION, True, NOW.date()), RuleViolationError)
    (decision,) = when(state, LogDecision(uuid.UUID(int=40), "Cloud", "group cloud", "steerco", NOW.date(), "contract"))
    assert isinstance(decision, ev.DecisionLogged)
    assert (decision.decided_by, decision.decided_on, decision.rationale) == ("steerco", NOW.date(), "contract")


# --- dependencies -------------------------------------------------------------------------------------------


def declare(provider: ProjectFacts = PROVIDER, graph: DependencyGraph | None = None, **overrides: Any) -> Any:
    base = DeclareDependency(
        DEPENDENCY,
        provider,
        MILESTONE,
        "Customer API",
        date(2027, 5, 1),
        "j.doe",
        NOW.date(),
        graph or DependencyGraph(),
    )
    return replace(base, **overrides)


def test_a_dependency_names_another_existing_project_and_one_of_its_milestones() -> None:
    (event,) = when(RaidLog(), declare())
    assert isinstance(event, ev.DependencyDeclared)
    assert (event.provider_project_id, event.provider_milestone_id, event.needed_by) == (
        OTHER,
        MILESTONE,
        date(2027, 5, 1),
    )
    refused(RaidLog(), declare(ProjectFacts(PID, "active", "EUR")), InvalidCommandError, "provider_project_id")
    refused(RaidLog(), declare(ProjectFacts(OTHER, None)), InvalidCommandError, "provider_project_id")
    refused(RaidLog(), declare(provider_milestone_id=uuid.UUID(int=77)), InvalidCommandError, "provider_milestone_id")


def test_a_dependency_that_closes_a_cycle_is_refused_with_the_cycle() -> None:
    # OTHER needs THIRD, THIRD needs PID: PID needing OTHER closes PID -> OTHER -> THIRD -> PID.
    graph = DependencyGraph(frozen({OTHER: frozenset({THIRD}), THIRD: frozenset({PID})}))
    with pytest.raises(raid.DependencyCycleError) as caught:
        when(RaidLog(), declare(graph=graph))
    assert caught.value.field == "provider_project_id"
    assert f"{PID} -> {OTHER} -> {THIRD} -> {PID}" in caught.value.detail
    # without THIRD -> PID there is no cycle
    (event,) = when(RaidLog(), declare(graph=DependencyGraph(frozen({OTHER: frozenset({THIRD})}))))
    assert isinstance(event, ev.DependencyDeclared)


def test_cycle_path_follows_the_edges() -> None:
    a, b, c, d = (uuid.UUID(int=n) for n in range(50, 54))
    edges = frozen({a: frozenset({b}), b: frozenset({c, d}), d: frozenset({a})})
    assert raid.cycle_path(edges, start=b, target=a) == [b, d, a]
    assert raid.cycle_path(edges, start=c, target=a) is None


def test_a_dependency_is_closed_once() -> None:
    state = given(*when(RaidLog(), declare()))
    (closed,) = when(state, CloseDependency(DEPENDENCY, ev.DependencyOutcome.MET, NOW.date(), "live"))
    state = raid.evolve(state, closed)
    assert state.dependencies[DEPENDENCY].outcome is ev.DependencyOutcome.MET
    refused(state, CloseDependency(DEPENDENCY, ev.DependencyOutcome.CANCELLED, NOW.date()), RuleViolationError)


# --- handlers -----------------------------------------------------------------------------------------------


class FakeFacts:
    def __init__(self, *projects: ProjectFacts) -> None:
        self.projects = {p.project_id: p for p in projects}
        self.graph = DependencyGraph()

    async def project(self, project_id: uuid.UUID) -> ProjectFacts:
        return self.projects.get(project_id, ProjectFacts(project_id, None))

    async def dependency_graph(self) -> DependencyGraph:
        return self.graph


async def test_handlers_run_on_the_logs_own_stream_and_a_stale_if_match_appends_nothing() -> None:
    executor = InMemoryExecutor()
    facts = FakeFacts(ACTIVE, PROVIDER)
    outcome = await handlers.raise_risk(
        executor, facts, CONTEXT, PID, title="t", cause="c", event="e", effect="f", assessment=assess(), raised_on=None
    )
    assert outcome.status_code == 201 and outcome.version == 1
    assert outcome.body["kind"] == "risk" and outcome.body["score"] == 12
    assert outcome.body["raised_on"] == "2027-03-01"  # the clock's today
    stale = replace(CONTEXT, if_match=0)
    with pytest.raises(ConcurrencyError):
        await handlers.log_decision(
            executor, facts, stale, PID, title="t", decision="d", rationale="r", decided_by=None, decided_on=None
        )
    assert len(executor.appended(raid.stream_id(PID))) == 1
    decided = await handlers.log_decision(
        executor, facts, CONTEXT, PID, title="t", decision="d", rationale="r", decided_by=None, decided_on=None
    )
    assert decided.body["decided_by"] == "tester"  # the caller by default
    state = RaidLog()
    for event in executor.appended(raid.stream_id(PID)):
        state = raid.evolve(state, event)
    view = log_view(state, 2)
    assert (len(view["risks"]), len(view["decisions"]), view["version"]) == (1, 1, 2)
