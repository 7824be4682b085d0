"""What this service knows of other services' aggregates when a command needs it: the project (from
``pmo.projects.v1``) an expense or a goods receipt is recorded on, and the commitment (``pmo.budget.v1``) a receipt
is recorded against. Handed in with the commands; a project or milestone not known here is refused, naming the
field, since its ``project-registered`` / ``milestone-planned`` may simply not have arrived yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from shared.errors import InvalidCommandError, RuleViolationError
from shared.money import Money


@dataclass(frozen=True)
class ProjectFact:
    """A project as ``pmo.projects.v1`` said: its currency, status, manager and milestones."""

    project_id: UUID
    currency: str
    status: str
    manager: str
    milestones: frozenset[UUID] = field(default_factory=frozenset)


@dataclass(frozen=True)
class OpenCommitment:
    """A commitment of ``pmo.budget.v1`` as a receipt needs it: its project, amount and status."""

    commitment_id: UUID
    project_id: UUID
    reference: str
    amount: Money
    status: str


def known_project(project: ProjectFact | None, project_id: UUID) -> ProjectFact:
    """``project``, or :class:`InvalidCommandError` on ``project_id`` when this service has not seen it."""
    if project is None or project.project_id != project_id:
        raise InvalidCommandError(
            f"project {project_id} is not known to the invoicing service: it was never registered, or its "
            "project-registered event has not arrived from pmo.projects.v1 yet (retry in a moment)",
            field="project_id",
        )
    return project


CLOSED = frozenset({"completed", "terminated"})


def open_project(project: ProjectFact | None, project_id: UUID) -> ProjectFact:
    """:func:`known_project`, and refused (409) once the project is completed or terminated: a closed project takes
    no new cost (no new expense claim, no new goods receipt), as it takes no new work sheet in the resources
    service; what was claimed or received before it closed is still approved, reimbursed, reversed or invoiced."""
    known = known_project(project, project_id)
    if known.status in CLOSED:
        raise RuleViolationError(f"project {project_id} is {known.status}: it takes no new cost")
    return known


def known_milestone(project: ProjectFact, milestone_id: UUID | None) -> None:
    """Refuse (on ``milestone_id``) a milestone that is not one of ``project``'s as far as this service knows."""
    if milestone_id is not None and milestone_id not in project.milestones:
        raise InvalidCommandError(
            f"milestone {milestone_id} is not known on project {project.project_id}: it is not one of its "
            "milestones, or its milestone-planned event has not arrived from pmo.projects.v1 yet",
            field="milestone_id",
        )
