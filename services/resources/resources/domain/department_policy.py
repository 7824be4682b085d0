"""The ``department-policy`` aggregate, one per department: what an over-allocation does there, ``warn`` (the
default: accepted and recorded in the event) or ``block`` (refused)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import assert_never

from resources.domain.checks import not_blank
from shared.contracts.resources import OverAllocationPolicy, OverAllocationPolicySet
from shared.decider import Decider
from shared.events import DomainEvent


@dataclass(frozen=True)
class DepartmentPolicy:
    """A department's over-allocation policy (the state of a ``department-policy`` aggregate)."""

    department: str | None = None
    policy: OverAllocationPolicy = OverAllocationPolicy.WARN


@dataclass(frozen=True)
class SetOverAllocationPolicy:
    department: str
    policy: OverAllocationPolicy


DepartmentPolicyEvent = OverAllocationPolicySet
"""Every event of a department-policy stream."""


def _evolve_department_policy(state: DepartmentPolicy, event: DomainEvent) -> DepartmentPolicy:
    if not isinstance(event, DepartmentPolicyEvent):
        return state  # another aggregate's event
    match event:
        case OverAllocationPolicySet():
            return DepartmentPolicy(event.department, event.policy)
        case _:
            assert_never(event)


def _decide_department_policy(
    state: DepartmentPolicy, command: SetOverAllocationPolicy, now: datetime
) -> Sequence[DomainEvent]:
    not_blank(command.department, "department")
    if state.department is not None and state.policy is command.policy:
        return []  # already so: nothing to record
    if state.department is None and command.policy is OverAllocationPolicy.WARN:
        return []  # the default
    return [OverAllocationPolicySet(department=command.department, policy=command.policy, previous_policy=state.policy)]


DEPARTMENT_POLICY: Decider[DepartmentPolicy, SetOverAllocationPolicy] = Decider(
    "department-policy", DepartmentPolicy, _evolve_department_policy, _decide_department_policy
)
"""A department's over-allocation policy: ``warn`` until set otherwise."""


def department_stream(department: str) -> str:
    return f"department-policy-{department}"
