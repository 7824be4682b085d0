"""The budget aggregate (one stream per project) as the command executor sees it: every command, every event,
``decide`` and ``evolve`` dispatching to the concern that owns them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import assert_never
from uuid import UUID

from budget.domain import baseline, commitments, estimates, funding, overrun_policy
from budget.domain.baseline import BaselineBudget, BaselineEvent, ChangeCommand, NoBaselineError
from budget.domain.commitments import CommitmentCommand, CommitmentEvent
from budget.domain.estimates import EstimateCommand, EstimateEvent
from budget.domain.funding import FundingCommand, FundingEvent
from budget.domain.overrun_policy import PolicyCommand, PolicyEvent
from budget.domain.state import Budget
from shared.decider import Decider
from shared.events import DomainEvent

Command = BaselineBudget | ChangeCommand | FundingCommand | CommitmentCommand | PolicyCommand | EstimateCommand
BudgetEvent = BaselineEvent | FundingEvent | CommitmentEvent | PolicyEvent | EstimateEvent


def decide(state: Budget, command: Command, now: datetime) -> Sequence[DomainEvent]:
    """The events ``command`` causes on ``state``, or an error saying why it is refused."""
    if isinstance(command, BaselineBudget):
        return [baseline.baseline(state, command)]
    if state.project_id is None:
        raise NoBaselineError("the project has no budget baseline yet")
    project_id = state.project_id
    if isinstance(command, ChangeCommand):
        return baseline.decide(state, project_id, command)
    if isinstance(command, FundingCommand):
        return funding.decide(state, project_id, command)
    if isinstance(command, CommitmentCommand):
        return commitments.decide(state, project_id, command)
    if isinstance(command, PolicyCommand):
        return overrun_policy.decide(state, project_id, command)
    if isinstance(command, EstimateCommand):
        return estimates.decide(state, project_id, command, now)
    assert_never(command)


def evolve(state: Budget, event: DomainEvent) -> Budget:
    """``state`` after ``event``; an event of another aggregate leaves it as it is."""
    if not isinstance(event, BudgetEvent):
        return state
    if isinstance(event, BaselineEvent):
        return baseline.evolve(state, event)
    if isinstance(event, FundingEvent):
        return funding.evolve(state, event)
    if isinstance(event, CommitmentEvent):
        return commitments.evolve(state, event)
    if isinstance(event, PolicyEvent):
        return overrun_policy.evolve(state, event)
    if isinstance(event, EstimateEvent):
        return estimates.evolve(state, event)
    assert_never(event)


BUDGET: Decider[Budget, Command] = Decider("budget", Budget, evolve, decide)
"""The budget aggregate as the command executor sees it."""


def stream_id(project_id: UUID) -> str:
    return f"budget-{project_id}"
