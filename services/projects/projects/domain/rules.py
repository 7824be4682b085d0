"""The checks every concern of a project makes before its own: the project exists and is open, and no fact is
dated after today."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from projects.domain.state import FINAL, Project
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError


class ProjectNotFoundError(NotFoundError):
    """The command addresses a project that was never registered."""


class ProjectClosedError(RuleViolationError):
    """The project is completed or terminated: it accepts no change at all."""


class FutureDateError(InvalidCommandError):
    """A fact is dated after today (``field`` names the date)."""


def open_project(state: Project) -> UUID:
    """The id of the project ``state``; ProjectNotFoundError before registration, ProjectClosedError once final."""
    if state.project_id is None:
        raise ProjectNotFoundError("the project does not exist")
    if state.status in FINAL:
        raise ProjectClosedError(f"the project is {state.status.value}; it accepts no change")
    return state.project_id


def not_future(day: date, today: date, name: str) -> None:
    """FutureDateError naming ``name`` if ``day`` is after ``today``."""
    if day > today:
        raise FutureDateError(f"{name} {day} is in the future", field=name)
