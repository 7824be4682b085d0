"""The projects and milestones as the resources service knows them from ``pmo.projects.v1``: a work sheet or an
allocation names a project this service has seen registered, and a milestone planned on that project.

A command that needs them carries the project's facts (:class:`KnownProject`, or ``None`` when the service has not
seen it); the decision checks them:

* a project never seen (or whose registration has not arrived yet): 422 naming ``project_id``;
* a milestone not planned on that project (or whose planning has not arrived yet): 422 naming the field that cites
  it (``milestone_id``, ``entries.<i>.milestone_id``, ``deliverables.<i>.milestone_id``);
* a completed or terminated project takes no new work sheet, correction or allocation: 409 (a rule about the
  project's state, as the budget service answers for a closed project's budget). Approving or rejecting a sheet
  submitted before the project closed stays possible: the work was done; ending or shortening an allocation too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from shared.errors import ConcurrencyError, InvalidCommandError, RuleViolationError

CLOSED = frozenset({"completed", "terminated"})
"""The project statuses in which it takes no new work sheet, correction or allocation."""


@dataclass(frozen=True)
class KnownProject:
    """A project as consumed from ``pmo.projects.v1``: its currency, its status and its planned milestones."""

    project_id: UUID
    currency: str
    status: str = "proposed"
    milestones: frozenset[UUID] = field(default_factory=frozenset)


class UnknownProjectError(InvalidCommandError):
    """The project was never registered, or its registration has not reached this service yet."""


class UnknownMilestoneError(InvalidCommandError):
    """The milestone is not planned on the project (as far as this service has heard)."""


class ProjectClosedError(RuleViolationError):
    """The project is completed or terminated: it takes no new work."""


class ProjectFactsMismatchError(ConcurrencyError):
    """The project facts the command carries are another project's; retry."""


def known_project(project_id: UUID, known: KnownProject | None) -> KnownProject:
    """``known``, the facts about ``project_id``; :class:`UnknownProjectError` (naming ``project_id``) when the
    service has not seen the project."""
    if known is None:
        raise UnknownProjectError(
            f"project {project_id} is not known to the resources service: it was never registered, or its "
            "registration has not arrived yet (retry in a moment)",
            field="project_id",
        )
    if known.project_id != project_id:
        raise ProjectFactsMismatchError(f"the command was prepared with the facts of project {known.project_id}")
    return known


def open_project(project_id: UUID, known: KnownProject | None) -> KnownProject:
    """The known project ``project_id`` if it takes new work; else the error saying why not."""
    project = known_project(project_id, known)
    if project.status in CLOSED:
        raise ProjectClosedError(f"project {project_id} is {project.status}; it takes no new work sheet or allocation")
    return project


def milestone_of(project: KnownProject, milestone_id: UUID | None, name: str) -> None:
    """``milestone_id`` (when given) is a milestone of ``project``; else :class:`UnknownMilestoneError` naming
    ``name``."""
    if milestone_id is not None and milestone_id not in project.milestones:
        raise UnknownMilestoneError(
            f"milestone {milestone_id} is not a milestone of project {project.project_id} known to the resources "
            "service: it was never planned on that project, or its planning has not arrived yet",
            field=name,
        )
