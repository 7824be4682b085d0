"""The project aggregate: given events, when command, then events or error."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

import pytest

from projects import domain
from shared.contracts.projects import MilestonePlanned, ProjectRegistered
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent
from shared.money import Money
from tests.support.projects import PID, Scenario, registration

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def given(*events: DomainEvent) -> domain.Project:
    return Scenario(NOW).given_events(*events).state


def when(state: domain.Project, command: domain.Command) -> Sequence[DomainEvent]:
    return domain.decide(state, command, NOW)


def registered() -> ProjectRegistered:
    (event,) = when(given(), registration())
    assert isinstance(event, ProjectRegistered)
    return event


def plan(amount: str = "100.00", currency: str = "EUR", mid: int = 2) -> domain.PlanMilestone:
    return domain.PlanMilestone(
        milestone_id=domain.MilestoneId(uuid.UUID(int=mid)),
        name="Design",
        due_date=date(2027, 3, 31),
        planned_value=Money.of(amount, currency),
        acceptance_criteria="signed",
    )


def test_registering_a_new_project_records_it_as_proposed() -> None:
    event = registered()
    assert event.project_id == PID and event.code == "CRM" and event.currency == "EUR"
    assert given(event).status is domain.ProjectStatus.PROPOSED


def test_a_project_cannot_be_registered_twice() -> None:
    with pytest.raises(RuleViolationError, match="already registered"):
        when(given(registered()), registration())


def test_planned_end_before_start_is_invalid() -> None:
    with pytest.raises(InvalidCommandError) as error:
        when(given(), registration(planned_end=date(2027, 1, 3)))
    assert error.value.field == "planned_end"


def test_planning_a_milestone_records_its_planned_value() -> None:
    (event,) = when(given(registered()), plan("120000.00"))
    assert isinstance(event, MilestonePlanned)
    assert event.planned_value == Money.of("120000.00", "EUR") and event.project_id == PID


def test_a_milestone_in_another_currency_is_refused() -> None:
    with pytest.raises(InvalidCommandError) as error:
        when(given(registered()), plan(currency="USD"))
    assert error.value.field == "planned_value.currency"


def test_a_negative_planned_value_is_refused() -> None:
    with pytest.raises(InvalidCommandError):
        when(given(registered()), plan("-1.00"))


def test_the_same_milestone_cannot_be_planned_twice() -> None:
    state = given(registered(), *when(given(registered()), plan()))
    with pytest.raises(RuleViolationError):
        when(state, plan())
    assert len(state.milestones) == 1


def test_a_milestone_needs_a_registered_project() -> None:
    with pytest.raises(NotFoundError):
        when(given(), plan())
