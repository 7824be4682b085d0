"""The project as the budget service knows it from ``pmo.projects.v1``: its currency, its status and its planned
milestones. A budget exists only for a project this service has seen registered, and a completed or terminated
project's budget accepts no change."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from shared.errors import NotFoundError, RuleViolationError

CLOSED = frozenset({"completed", "terminated"})
"""The project statuses after which its budget accepts no change."""


@dataclass(frozen=True)
class KnownProject:
    currency: str
    status: str
    milestones: frozenset[UUID]
    manager: str | None = None
    """The project's manager (a subject) as registered; None for a project learnt before it was kept."""


class UnknownProjectError(NotFoundError):
    """The project was never registered, or its registration has not reached this service yet."""


class ProjectClosedError(RuleViolationError):
    """The project is completed or terminated."""


def open_project(project_id: UUID, known: KnownProject | None) -> KnownProject:
    """``known``, the facts about ``project_id``, if its budget may change; else the error saying why not."""
    if known is None:
        raise UnknownProjectError(
            f"project {project_id} is not known to the budget service: it was never registered, or its "
            "registration has not arrived yet"
        )
    if known.status in CLOSED:
        raise ProjectClosedError(f"project {project_id} is {known.status}; its budget accepts no change")
    return known
