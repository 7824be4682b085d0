"""Portfolios and programmes: they only need to exist once, with a name. Commands, errors, ``decide`` and
``evolve`` of the grouping aggregate (one stream per portfolio and per programme)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import assert_never

from shared.contracts.projects import PortfolioCreated, ProgrammeCreated
from shared.decider import Decider
from shared.errors import RuleViolationError
from shared.events import DomainEvent


@dataclass(frozen=True)
class Grouping:
    """A portfolio or a programme: created once, named."""

    grouping_id: str | None = None
    portfolio_id: str | None = None
    name: str = ""


@dataclass(frozen=True)
class CreatePortfolio:
    portfolio_id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class CreateProgramme:
    programme_id: str
    portfolio_id: str
    name: str
    description: str = ""


GroupingCommand = CreatePortfolio | CreateProgramme
GroupingEvent = PortfolioCreated | ProgrammeCreated


class GroupingExistsError(RuleViolationError):
    """A portfolio or programme with this id already exists."""


def decide_grouping(state: Grouping, command: GroupingCommand, now: datetime) -> Sequence[DomainEvent]:
    """The creation of a portfolio or programme, once."""
    match command:
        case CreatePortfolio():
            if state.grouping_id is not None:
                raise GroupingExistsError(f"portfolio {command.portfolio_id} already exists")
            return [
                PortfolioCreated(portfolio_id=command.portfolio_id, name=command.name, description=command.description)
            ]
        case CreateProgramme():
            if state.grouping_id is not None:
                raise GroupingExistsError(f"programme {command.programme_id} already exists")
            return [
                ProgrammeCreated(
                    programme_id=command.programme_id,
                    portfolio_id=command.portfolio_id,
                    name=command.name,
                    description=command.description,
                )
            ]
        case _:
            assert_never(command)


def evolve_grouping(state: Grouping, event: DomainEvent) -> Grouping:
    """The grouping after ``event``; events it does not own leave it unchanged."""
    if not isinstance(event, GroupingEvent):
        return state
    match event:
        case PortfolioCreated():
            return Grouping(event.portfolio_id, event.portfolio_id, event.name)
        case ProgrammeCreated():
            return Grouping(event.programme_id, event.portfolio_id, event.name)
        case _:
            assert_never(event)


GROUPING: Decider[Grouping, GroupingCommand] = Decider("grouping", Grouping, evolve_grouping, decide_grouping)
"""Portfolios and programmes as the command executor sees them."""


def portfolio_stream(portfolio_id: str) -> str:
    return f"portfolio-{portfolio_id}"


def programme_stream(programme_id: str) -> str:
    return f"programme-{programme_id}"
