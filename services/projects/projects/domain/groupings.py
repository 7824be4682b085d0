"""Portfolios and programmes: created once with a name, renamed, closed. Commands, errors, ``decide`` and ``evolve``
of the grouping aggregate (one stream per portfolio and per programme).

Closing is final: nothing may be placed in a closed grouping (checked by the handlers that place projects and
programmes), and a closed grouping is renamed no more. Whether it still holds open projects or programmes is a fact
the handler reads (:mod:`projects.handlers.edits`) and hands to the command (``open_members``): closing is refused
while there are any, listing them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import assert_never

from shared.contracts.project_edits import PortfolioClosed, PortfolioRenamed, ProgrammeClosed, ProgrammeRenamed
from shared.contracts.projects import PortfolioCreated, ProgrammeCreated
from shared.decider import Decider
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.events import DomainEvent


@dataclass(frozen=True)
class Grouping:
    """A portfolio or a programme: created once, named."""

    grouping_id: str | None = None
    portfolio_id: str | None = None
    name: str = ""
    kind: str = ""
    description: str = ""
    closed_on: date | None = None


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


@dataclass(frozen=True)
class RenameGrouping:
    """A new name and/or description (None: unchanged) for the portfolio or programme of the stream."""

    name: str | None
    description: str | None


@dataclass(frozen=True)
class CloseGrouping:
    """Close the portfolio or programme of the stream; ``open_members`` are the open projects and programmes it still
    holds (read by the handler): closing is refused while there are any."""

    closed_on: date
    reason: str
    open_members: tuple[str, ...] = ()


GroupingCommand = CreatePortfolio | CreateProgramme | RenameGrouping | CloseGrouping
GroupingEvent = (
    PortfolioCreated | ProgrammeCreated | PortfolioRenamed | PortfolioClosed | ProgrammeRenamed | ProgrammeClosed
)


class GroupingExistsError(RuleViolationError):
    """A portfolio or programme with this id already exists."""


class GroupingClosedError(RuleViolationError):
    """The portfolio or programme is closed: nothing is placed in it, and it changes no more."""


class GroupingNotEmptyError(RuleViolationError):
    """The portfolio or programme still holds open projects or programmes: it cannot be closed yet."""


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
        case RenameGrouping() | CloseGrouping():
            return _edit(state, command)
        case _:
            assert_never(command)


def _edit(state: Grouping, command: RenameGrouping | CloseGrouping) -> Sequence[DomainEvent]:
    if state.grouping_id is None or state.portfolio_id is None:
        raise NotFoundError("the portfolio or programme does not exist")
    if state.closed_on is not None:
        raise GroupingClosedError(f"{state.kind} {state.grouping_id} is closed since {state.closed_on}")
    gid, pid = state.grouping_id, state.portfolio_id
    if isinstance(command, CloseGrouping):
        if command.open_members:
            raise GroupingNotEmptyError(
                f"{state.kind} {gid} still holds open work: {', '.join(command.open_members)}; complete, terminate or "
                "move it first"
            )
        if state.kind == "portfolio":
            return [PortfolioClosed(portfolio_id=gid, closed_on=command.closed_on, reason=command.reason)]
        return [ProgrammeClosed(programme_id=gid, portfolio_id=pid, closed_on=command.closed_on, reason=command.reason)]
    name = state.name if command.name is None else command.name.strip()
    description = state.description if command.description is None else command.description
    if not name:
        raise InvalidCommandError("name must not be blank", field="name")
    if (name, description) == (state.name, state.description):
        raise InvalidCommandError("the name and description are already these", field="name")
    if state.kind == "portfolio":
        return [PortfolioRenamed(portfolio_id=gid, name=name, description=description, previous_name=state.name)]
    return [
        ProgrammeRenamed(
            programme_id=gid, portfolio_id=pid, name=name, description=description, previous_name=state.name
        )
    ]


def evolve_grouping(state: Grouping, event: DomainEvent) -> Grouping:
    """The grouping after ``event``; events it does not own leave it unchanged."""
    if not isinstance(event, GroupingEvent):
        return state
    match event:
        case PortfolioCreated():
            return Grouping(event.portfolio_id, event.portfolio_id, event.name, "portfolio", event.description)
        case ProgrammeCreated():
            return Grouping(event.programme_id, event.portfolio_id, event.name, "programme", event.description)
        case PortfolioRenamed() | ProgrammeRenamed():
            return replace(state, name=event.name, description=event.description)
        case PortfolioClosed() | ProgrammeClosed():
            return replace(state, closed_on=event.closed_on)
        case _:
            assert_never(event)


GROUPING: Decider[Grouping, GroupingCommand] = Decider("grouping", Grouping, evolve_grouping, decide_grouping)
"""Portfolios and programmes as the command executor sees them."""


def portfolio_stream(portfolio_id: str) -> str:
    return f"portfolio-{portfolio_id}"


def programme_stream(programme_id: str) -> str:
    return f"programme-{programme_id}"
