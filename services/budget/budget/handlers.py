"""The budget's use cases: one function per command (and per read that needs the aggregate's state).

Each gathers the facts its command needs through :class:`BudgetFacts` (the project must be known to this service
and open; its currency and milestones for the commands that check them), builds the domain command with the acting
user from the command context, runs it through the executor port (one command, one transaction) and returns the
:class:`~shared.commands.CommandOutcome` whose body is the view of :mod:`budget.views`. Routes, background tasks
and other callers go through these functions, never through the routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from budget import domain, views
from shared.commands import Clock, CommandContext, CommandOutcome, Executor, by_state, run_on
from shared.contracts.budget import (
    CategoryAmount,
    CommitmentKind,
    CostCategory,
    FundingKind,
    InvoiceExpectation,
    OverrunPolicy,
    PhaseAmount,
)
from shared.ids import new_id
from shared.money import Money

Outcome = CommandOutcome[Any]


class BudgetFacts(Protocol):
    """What the budget's commands read besides their own stream: the projects this service learnt from
    ``pmo.projects.v1``."""

    async def known_project(self, project_id: UUID) -> domain.KnownProject | None:
        """The project's currency, status and planned milestones; None for a project never seen registered."""
        ...


async def _open_project(facts: BudgetFacts, project_id: UUID) -> domain.KnownProject:
    return domain.open_project(project_id, await facts.known_project(project_id))


async def _run(
    executor: Executor,
    ctx: CommandContext,
    project_id: UUID,
    command: domain.Command,
    view: views.View = views.budget_view,
    status_code: int = 200,
) -> Outcome:
    return await run_on(
        executor, ctx, domain.BUDGET, domain.stream_id(project_id), command, by_state(view), status_code=status_code
    )


# --- baseline and change requests ---------------------------------------------------------------------------


async def baseline_budget(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    *,
    total: Money,
    categories: Sequence[CategoryAmount],
    phasing: Sequence[PhaseAmount],
) -> Outcome:
    """Baseline the project's budget in its currency, phased by its planned milestones or by month (201, the
    budget)."""
    project = await _open_project(facts, project_id)
    command = domain.BaselineBudget(
        project_id=project_id,
        project_currency=project.currency,
        known_milestones=project.milestones,
        total=total,
        categories=tuple(categories),
        phasing=tuple(phasing),
        baselined_by=ctx.metadata.actor,
    )
    return await _run(executor, ctx, project_id, command, status_code=201)


async def request_change(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    *,
    category: CostCategory,
    amount: Money,
    reason: str,
) -> Outcome:
    """Request a budget change for a category (201, the change request under a new id)."""
    await _open_project(facts, project_id)
    change_id = new_id()
    command = domain.RequestChange(change_id, category, amount, reason, ctx.metadata.actor)
    return await _run(executor, ctx, project_id, command, views.change_request_view(change_id), 201)


async def approve_change(
    executor: Executor, facts: BudgetFacts, ctx: CommandContext, project_id: UUID, change_id: UUID
) -> Outcome:
    """Approve a change request as the acting user, who is not its requester (the change request)."""
    await _open_project(facts, project_id)
    command = domain.ApproveChange(change_id, ctx.metadata.actor)
    return await _run(executor, ctx, project_id, command, views.change_request_view(change_id))


async def reject_change(
    executor: Executor, facts: BudgetFacts, ctx: CommandContext, project_id: UUID, change_id: UUID, reason: str
) -> Outcome:
    """Reject a change request as the acting user, who is not its requester (the change request)."""
    await _open_project(facts, project_id)
    command = domain.RejectChange(change_id, ctx.metadata.actor, reason)
    return await _run(executor, ctx, project_id, command, views.change_request_view(change_id))


# --- funding ------------------------------------------------------------------------------------------------


async def add_funding_source(
    executor: Executor, facts: BudgetFacts, ctx: CommandContext, project_id: UUID, *, name: str, kind: FundingKind
) -> Outcome:
    """Add a funding source (201, the source under a new id)."""
    await _open_project(facts, project_id)
    source_id = new_id()
    command = domain.AddFundingSource(source_id, name, kind)
    return await _run(executor, ctx, project_id, command, views.funding_source_view(source_id), 201)


async def secure_funding(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    source_id: UUID,
    *,
    amount: Money,
    available_on: date,
) -> Outcome:
    """Secure a tranche from a source, available from ``available_on`` (201, the tranche under a new id)."""
    await _open_project(facts, project_id)
    tranche_id = new_id()
    command = domain.SecureFunding(source_id, tranche_id, amount, available_on)
    return await _run(executor, ctx, project_id, command, views.tranche_view(tranche_id), 201)


async def withdraw_funding(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    tranche_id: UUID,
    *,
    withdrawn_on: date,
    reason: str,
) -> Outcome:
    """Withdraw a tranche from ``withdrawn_on`` on (the tranche)."""
    await _open_project(facts, project_id)
    command = domain.WithdrawFunding(tranche_id, withdrawn_on, reason)
    return await _run(executor, ctx, project_id, command, views.tranche_view(tranche_id))


async def reschedule_funding(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    tranche_id: UUID,
    *,
    available_on: date,
    reason: str,
) -> Outcome:
    """Move the date a tranche becomes available (the tranche)."""
    await _open_project(facts, project_id)
    command = domain.RescheduleFunding(tranche_id, available_on, reason)
    return await _run(executor, ctx, project_id, command, views.tranche_view(tranche_id))


async def funding_on(executor: Executor, clock: Clock, project_id: UUID, on: date | None) -> dict[str, Any]:
    """Funding available on ``on`` (today by ``clock`` when None) and the tranches it counts; 404 without a
    budget."""
    state, _ = await executor.state_of(domain.BUDGET, domain.stream_id(project_id))
    return views.funding_view(project_id, state, on or clock.now().date())


# --- commitments and the overrun policy ---------------------------------------------------------------------


async def commit(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    *,
    kind: CommitmentKind,
    vendor: str,
    reference: str,
    category: CostCategory,
    milestone_id: UUID | None,
    amount: Money,
    expected_invoices: Sequence[InvoiceExpectation],
) -> Outcome:
    """Commit a purchase order or subcontract against a category and optionally one of the project's planned
    milestones; an overrun follows the project's policy (201, the commitment under a new id)."""
    project = await _open_project(facts, project_id)
    commitment_id = new_id()
    command = domain.Commit(
        commitment_id,
        kind,
        vendor,
        reference,
        category,
        milestone_id,
        project.milestones,
        amount,
        tuple(expected_invoices),
        ctx.metadata.actor,
    )
    return await _run(executor, ctx, project_id, command, views.commitment_view(commitment_id), 201)


async def approve_commitment(
    executor: Executor, facts: BudgetFacts, ctx: CommandContext, project_id: UUID, commitment_id: UUID
) -> Outcome:
    """Approve a commitment awaiting approval as the acting user, who is not its requester (the commitment)."""
    await _open_project(facts, project_id)
    command = domain.ApproveCommitment(commitment_id, ctx.metadata.actor)
    return await _run(executor, ctx, project_id, command, views.commitment_view(commitment_id))


async def refuse_commitment(
    executor: Executor, facts: BudgetFacts, ctx: CommandContext, project_id: UUID, commitment_id: UUID, reason: str
) -> Outcome:
    """Refuse a commitment awaiting approval as the acting user, who is not its requester (the commitment)."""
    await _open_project(facts, project_id)
    command = domain.RefuseCommitment(commitment_id, ctx.metadata.actor, reason)
    return await _run(executor, ctx, project_id, command, views.commitment_view(commitment_id))


async def adjust_commitment(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    commitment_id: UUID,
    *,
    amount: Money,
    expected_invoices: Sequence[InvoiceExpectation],
    reason: str,
) -> Outcome:
    """Change a commitment's amount and expected invoices (the commitment)."""
    await _open_project(facts, project_id)
    command = domain.AdjustCommitment(commitment_id, amount, tuple(expected_invoices), reason)
    return await _run(executor, ctx, project_id, command, views.commitment_view(commitment_id))


async def cancel_commitment(
    executor: Executor, facts: BudgetFacts, ctx: CommandContext, project_id: UUID, commitment_id: UUID, reason: str
) -> Outcome:
    """Cancel a commitment, releasing its amount (the commitment)."""
    await _open_project(facts, project_id)
    command = domain.CancelCommitment(commitment_id, reason)
    return await _run(executor, ctx, project_id, command, views.commitment_view(commitment_id))


async def set_overrun_policy(
    executor: Executor, facts: BudgetFacts, ctx: CommandContext, project_id: UUID, policy: OverrunPolicy
) -> Outcome:
    """Set the project's overrun policy: a stricter one at once, a looser one requested (the budget)."""
    await _open_project(facts, project_id)
    return await _run(executor, ctx, project_id, domain.SetOverrunPolicy(policy, ctx.metadata.actor))


async def approve_overrun_policy(
    executor: Executor, facts: BudgetFacts, ctx: CommandContext, project_id: UUID
) -> Outcome:
    """Approve the looser overrun policy requested, as someone other than who requested it (the budget)."""
    await _open_project(facts, project_id)
    return await _run(executor, ctx, project_id, domain.ApproveOverrunPolicy(ctx.metadata.actor))
