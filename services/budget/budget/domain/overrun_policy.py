"""The project's overrun policy: what happens when a commitment would take its category past its budget.

``warn`` (the default) commits and records the overrun, ``block`` refuses it, ``require_approval`` waits for
someone other than the requester. A stricter policy applies at once; a looser one (block > require_approval >
warn) only once another person approves it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import assert_never
from uuid import UUID

from budget.domain.state import Budget
from shared.contracts.budget import OverrunPolicy, OverrunPolicyChangeRequested, OverrunPolicySet
from shared.errors import RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.identity import same_person

STRICTNESS = {OverrunPolicy.WARN: 0, OverrunPolicy.REQUIRE_APPROVAL: 1, OverrunPolicy.BLOCK: 2}
"""How strict each overrun policy is: moving down this order loosens the control and needs a second person."""


@dataclass(frozen=True)
class SetOverrunPolicy:
    policy: OverrunPolicy
    set_by: str


@dataclass(frozen=True)
class ApproveOverrunPolicy:
    approved_by: str


PolicyCommand = SetOverrunPolicy | ApproveOverrunPolicy
PolicyEvent = OverrunPolicySet | OverrunPolicyChangeRequested


class NoPolicyRequestError(RuleViolationError):
    """No looser overrun policy is waiting for approval."""


def decide(state: Budget, project_id: UUID, command: PolicyCommand) -> list[DomainEvent]:
    """The events an overrun policy command causes on the baselined budget of ``project_id``."""
    match command:
        case SetOverrunPolicy():
            if command.policy is state.policy and state.policy_requested is None:
                return []
            if STRICTNESS[command.policy] >= STRICTNESS[state.policy]:
                return [OverrunPolicySet(project_id=project_id, policy=command.policy, set_by=command.set_by)]
            return [
                OverrunPolicyChangeRequested(
                    project_id=project_id,
                    policy=command.policy,
                    previous_policy=state.policy,
                    requested_by=command.set_by,
                )
            ]
        case ApproveOverrunPolicy():
            if state.policy_requested is None:
                raise NoPolicyRequestError("no looser overrun policy is waiting for approval")
            policy, requested_by = state.policy_requested
            if same_person(command.approved_by, requested_by):
                raise SeparationOfDutiesError(
                    f"{requested_by} asked for the {policy.value} overrun policy; someone else approves it"
                )
            return [
                OverrunPolicySet(
                    project_id=project_id, policy=policy, set_by=requested_by, approved_by=command.approved_by
                )
            ]
        case _:
            assert_never(command)


def evolve(state: Budget, event: PolicyEvent) -> Budget:
    match event:
        case OverrunPolicySet():
            return replace(state, policy=event.policy, policy_requested=None)
        case OverrunPolicyChangeRequested():
            return replace(state, policy_requested=(event.policy, event.requested_by))
        case _:
            assert_never(event)
