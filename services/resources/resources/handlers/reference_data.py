"""The reference data a resource's commands read, each an aggregate of its own: a role's default cost rates and a
department's over-allocation policy."""

from __future__ import annotations

from datetime import date

from resources import domain
from resources.handlers.running import Outcome
from resources.views import policy_view, role_rates_view
from shared.commands import CommandContext, Executor
from shared.contracts.resources import OverAllocationPolicy
from shared.money import Money


async def set_role_rate(
    executor: Executor, ctx: CommandContext, role: str, hourly_rate: Money, effective_from: date
) -> Outcome:
    return await executor.execute(
        ctx,
        aggregate=domain.ROLE_RATE,
        stream_id=domain.role_rate_stream(role),
        command=domain.SetRoleRate(role, effective_from, hourly_rate),
        respond=lambda state, events, version: role_rates_view(state, role),
        status_code=201,
    )


async def set_over_allocation_policy(
    executor: Executor, ctx: CommandContext, department: str, policy: OverAllocationPolicy
) -> Outcome:
    return await executor.execute(
        ctx,
        aggregate=domain.DEPARTMENT_POLICY,
        stream_id=domain.department_stream(department),
        command=domain.SetOverAllocationPolicy(department, policy),
        respond=lambda state, events, version: policy_view(department, policy),
    )
