"""A project's matching policy (one stream per project): the share of a line's amount that may go unbacked.

From 0 to 10 % (at least 90 % of what is invoiced must be backed by work); setting the tolerance it already has
changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import assert_never
from uuid import UUID

from invoicing.domain.matching import DEFAULT_TOLERANCE, MAX_TOLERANCE
from shared.contracts.invoicing import MatchingToleranceSet
from shared.decider import Decider
from shared.errors import InvalidCommandError
from shared.events import DomainEvent


@dataclass(frozen=True)
class MatchingPolicy:
    """A project's matching settings (one stream per project)."""

    project_id: UUID | None = None
    tolerance: Decimal = DEFAULT_TOLERANCE


@dataclass(frozen=True)
class SetMatchingTolerance:
    project_id: UUID
    tolerance: Decimal
    set_by: str


def decide_policy(state: MatchingPolicy, command: SetMatchingTolerance, now: datetime) -> Sequence[DomainEvent]:
    if not Decimal(0) <= command.tolerance <= MAX_TOLERANCE:
        raise InvalidCommandError(
            f"the tolerance is a share of a line's amount, from 0 to {MAX_TOLERANCE} (at least 90 % of what is "
            "invoiced must be backed by work)",
            field="tolerance",
        )
    if command.tolerance == state.tolerance:
        return []
    return [
        MatchingToleranceSet(
            project_id=command.project_id,
            tolerance=command.tolerance,
            previous_tolerance=state.tolerance,
            set_by=command.set_by,
        )
    ]


PolicyEvent = MatchingToleranceSet
"""Every event of a matching policy's stream."""


def evolve_policy(state: MatchingPolicy, event: DomainEvent) -> MatchingPolicy:
    """The policy after ``event``; raises :class:`TypeError` for an event that is not a policy's."""
    if not isinstance(event, PolicyEvent):
        raise TypeError(f"{event.event_name} is not an event of a matching policy")
    match event:
        case MatchingToleranceSet():
            return replace(state, project_id=event.project_id, tolerance=event.tolerance)
        case _:
            assert_never(event)


MATCHING_POLICY: Decider[MatchingPolicy, SetMatchingTolerance] = Decider(
    "invoicing-policy", MatchingPolicy, evolve_policy, decide_policy
)


def policy_stream_id(project_id: UUID) -> str:
    return f"invoicing-policy-{project_id}"
