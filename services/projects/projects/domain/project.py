"""The project aggregate: its commands and events are those of its five concerns (lifecycle and gates, milestones,
performance measurement baselines, status reports and KPIs, partners, edits), each deciding and evolving its part of one
:class:`Project` state. Every rule
about a project's milestones depends on the project's state, so they change together in one stream.

Completed and terminated projects accept no change at all (:func:`projects.domain.rules.open_project`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import assert_never
from uuid import UUID

from projects.domain import baselines, edits, lifecycle, milestones, partners, status
from projects.domain.baselines import BaselineCommand, BaselineEvent
from projects.domain.edits import EditCommand, EditEvent
from projects.domain.lifecycle import LifecycleCommand, LifecycleEvent, RegisterProject
from projects.domain.milestones import MilestoneCommand, MilestoneEvent
from projects.domain.partners import PartnerCommand, PartnerEvent
from projects.domain.rules import open_project
from projects.domain.state import Project
from projects.domain.status import StatusCommand, StatusEvent
from shared.decider import Decider
from shared.events import DomainEvent

Command = (
    RegisterProject
    | LifecycleCommand
    | MilestoneCommand
    | BaselineCommand
    | StatusCommand
    | PartnerCommand
    | EditCommand
)
ProjectEvent = LifecycleEvent | MilestoneEvent | BaselineEvent | StatusEvent | PartnerEvent | EditEvent


def decide(state: Project, command: Command, now: datetime) -> Sequence[DomainEvent]:
    """The events ``command`` causes on ``state``, or an error saying why it is refused."""
    today = now.date()
    if isinstance(command, RegisterProject):
        return [lifecycle.register(state, command)]
    if isinstance(command, partners.ErasePartnerPersonalData):  # a person may be forgotten once the project closed
        return partners.erase(state, command)
    project_id = open_project(state)
    if isinstance(command, LifecycleCommand):
        return lifecycle.decide(state, project_id, command, today)
    if isinstance(command, MilestoneCommand):
        return milestones.decide(state, project_id, command, today)
    if isinstance(command, BaselineCommand):
        return baselines.decide(state, project_id, command)
    if isinstance(command, StatusCommand):
        return status.decide(state, project_id, command, today)
    if isinstance(command, PartnerCommand):
        return partners.decide(state, project_id, command, today)
    if isinstance(command, EditCommand):
        return edits.decide(state, project_id, command, today)
    assert_never(command)


def evolve(state: Project, event: DomainEvent) -> Project:
    """The state after ``event``; events this aggregate does not own leave it unchanged."""
    if not isinstance(event, ProjectEvent):
        return state
    if isinstance(event, LifecycleEvent):
        return lifecycle.evolve(state, event)
    if isinstance(event, MilestoneEvent):
        return milestones.evolve(state, event)
    if isinstance(event, BaselineEvent):
        return baselines.evolve(state, event)
    if isinstance(event, StatusEvent):
        return status.evolve(state, event)
    if isinstance(event, PartnerEvent):
        return partners.evolve(state, event)
    if isinstance(event, EditEvent):
        return edits.evolve(state, event)
    assert_never(event)


PROJECT: Decider[Project, Command] = Decider("project", Project, evolve, decide)
"""The project aggregate as the command executor sees it."""


def stream_id(project_id: UUID) -> str:
    return f"project-{project_id}"
