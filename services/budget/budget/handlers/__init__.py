"""The budget's use cases: one function per command (and per read that needs the aggregate's state).

Each gathers the facts its command needs through :class:`BudgetFacts` (the project must be known to this service
and open; its currency and milestones for the commands that check them; the exchange rate in force when an amount is
in another currency than the project's), builds the domain command with the acting user from the command context,
runs it through the executor port (one command, one transaction) and returns the
:class:`~shared.commands.CommandOutcome` whose body is the view of :mod:`budget.views`. Routes, background tasks
and other callers go through these functions, never through the routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from budget import domain, views
from budget.handlers.streams import cached
from shared.auth import ForbiddenError
from shared.commands import Clock, CommandContext, CommandOutcome, Executor, by_state, run_on
from shared.contracts.budget import (
    CategoryAmount,
    CategoryEstimate,
    CommitmentKind,
    CostCategory,
    FundingKind,
    InvoiceExpectation,
    OverrunPolicy,
    PhaseAmount,
)
from shared.contracts.common import MonthAmount
from shared.errors import NotFoundError
from shared.identity import same_person
from shared.ids import new_id
from shared.money import Money

Outcome = CommandOutcome[Any]


class BudgetFacts(Protocol):
    """What the budget's commands read besides their own stream: the projects this service learnt from
    ``pmo.projects.v1``, the exchange rates recorded here and the day a budget was baselined."""

    async def known_project(self, project_id: UUID) -> domain.KnownProject | None:
        """The project's currency, status, manager and planned milestones; None for a project never seen
        registered."""
        ...

    async def rate_in_force(self, base: str, quote: str, on: date) -> domain.RateInForce | None:
        """The rate converting ``base`` into ``quote`` on ``on`` (:func:`budget.domain.in_force`); None without
        one."""
        ...

    async def baselined_on(self, project_id: UUID) -> date | None:
        """The day the project's budget was baselined; None without a baseline."""
        ...


async def _open_project(facts: BudgetFacts, project_id: UUID) -> domain.KnownProject:
    return domain.open_project(project_id, await facts.known_project(project_id))


async def _rate(facts: BudgetFacts, amount: Money, currency: str, on: date) -> domain.RateInForce | None:
    """The rate booking ``amount`` in ``currency`` on ``on``; None when it is in that currency already."""
    if amount.currency == currency:
        return None
    return await facts.rate_in_force(amount.currency, currency, on)


def _today(executor: Executor) -> date:
    return executor.clock.now().date()


async def _run(
    executor: Executor,
    ctx: CommandContext,
    project_id: UUID,
    command: domain.Command,
    view: views.View = views.budget_view,
    status_code: int = 200,
) -> Outcome:
    return await run_on(
        cached(executor),
        ctx,
        domain.BUDGET,
        domain.stream_id(project_id),
        command,
        by_state(view),
        status_code=status_code,
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
    """Secure a tranche from a source, available from ``available_on``, in any currency (booked at the rate in
    force on ``available_on`` when not the project's) (201, the tranche under a new id)."""
    project = await _open_project(facts, project_id)
    tranche_id = new_id()
    rate = await _rate(facts, amount, project.currency, available_on)
    command = domain.SecureFunding(source_id, tranche_id, amount, available_on, rate)
    return await _run(executor, ctx, project_id, command, views.tranche_view(tranche_id), 201)


async def plan_funding(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    source_id: UUID,
    *,
    amount: Money,
    expected_on: date,
) -> Outcome:
    """Plan a tranche from a source, expected on ``expected_on``, in any currency (booked at the rate in force on
    ``expected_on``); it never counts as available until secured (201, the tranche under a new id)."""
    project = await _open_project(facts, project_id)
    tranche_id = new_id()
    rate = await _rate(facts, amount, project.currency, expected_on)
    command = domain.PlanFunding(source_id, tranche_id, amount, expected_on, ctx.metadata.actor, rate)
    return await _run(executor, ctx, project_id, command, views.tranche_view(tranche_id), 201)


async def secure_planned_funding(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    tranche_id: UUID,
    *,
    amount: Money,
    available_on: date,
) -> Outcome:
    """Secure a planned tranche for the amount and date actually secured (``funding-secured`` under the planned
    tranche's id) (the tranche)."""
    project = await _open_project(facts, project_id)
    rate = await _rate(facts, amount, project.currency, available_on)
    command = domain.SecurePlannedFunding(tranche_id, amount, available_on, rate)
    return await _run(executor, ctx, project_id, command, views.tranche_view(tranche_id))


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
    """Withdraw a tranche, secured or planned, from ``withdrawn_on`` on (the tranche)."""
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
    """Move the date a tranche becomes available (or, planned, is expected); its booking stays (the tranche)."""
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
    milestones, in any currency (booked at the rate in force today when not the project's); an overrun of the booked
    amount follows the project's policy (201, the commitment under a new id)."""
    project = await _open_project(facts, project_id)
    commitment_id = new_id()
    today = _today(executor)
    rate = await _rate(facts, amount, project.currency, today)
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
        today,
        rate,
    )
    return await _run(executor, ctx, project_id, command, views.commitment_view(commitment_id), 201)


async def approve_commitment(
    executor: Executor, facts: BudgetFacts, ctx: CommandContext, project_id: UUID, commitment_id: UUID
) -> Outcome:
    """Approve a commitment awaiting approval as the acting user, who is not its requester; one in another currency
    is booked at the rate in force today (the commitment)."""
    project = await _open_project(facts, project_id)
    today = _today(executor)
    rate = None
    try:
        state, _ = await executor.state_of(domain.BUDGET, domain.stream_id(project_id))
    except NotFoundError:
        pass  # no budget: the command says so
    else:
        pending = state.commitments.get(commitment_id)
        if pending is not None:
            rate = await _rate(facts, pending.amount, project.currency, today)
    command = domain.ApproveCommitment(commitment_id, ctx.metadata.actor, today, rate)
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
    """Change a commitment's amount (in its currency, booked at the rate in force today when not the project's) and
    expected invoices (the commitment)."""
    project = await _open_project(facts, project_id)
    today = _today(executor)
    rate = await _rate(facts, amount, project.currency, today)
    command = domain.AdjustCommitment(commitment_id, amount, tuple(expected_invoices), reason, today, rate)
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


# --- estimates to complete ----------------------------------------------------------------------------------


async def submit_estimate(
    executor: Executor,
    facts: BudgetFacts,
    ctx: CommandContext,
    project_id: UUID,
    *,
    as_of: date | None,
    categories: Sequence[CategoryEstimate],
    months: Sequence[MonthAmount],
    note: str,
    for_any_project: bool,
) -> Outcome:
    """Submit the estimate to complete as of ``as_of`` (today when None), as the project's manager, or as anyone
    ``for_any_project`` (the PMO, the director); its total is the sum of its categories (201, the estimate).

    Raises :class:`~shared.auth.ForbiddenError` (403) for another caller."""
    project = await _open_project(facts, project_id)
    if not for_any_project and not same_person(ctx.metadata.actor, project.manager):
        raise ForbiddenError(f"the estimate to complete of project {project_id} is submitted by its manager or the PMO")
    baselined_on = await facts.baselined_on(project_id)
    if baselined_on is None:
        raise domain.NoBaselineError("the project has no budget baseline yet")
    command = domain.SubmitEstimate(
        estimate_id=new_id(),
        as_of=as_of or _today(executor),
        categories=tuple(categories),
        months=tuple(months),
        note=note,
        submitted_by=ctx.metadata.actor,
        baselined_on=baselined_on,
    )
    return await _run(executor, ctx, project_id, command, views.estimate_view, 201)


# --- exchange rates -----------------------------------------------------------------------------------------


async def record_exchange_rate(
    executor: Executor,
    ctx: CommandContext,
    *,
    base: str,
    quote: str,
    effective_on: date,
    rate: Decimal,
    source: str,
) -> Outcome:
    """Record that from ``effective_on`` on 1 ``base`` = ``rate`` ``quote`` (replacing the rate of that date; the
    same rate from the same source again appends nothing) (200, the rate with ``recorded`` and ``replaces_rate``)."""
    command = domain.RecordExchangeRate(base, quote, effective_on, rate, source, ctx.metadata.actor)
    return await run_on(
        executor,
        ctx,
        domain.EXCHANGE_RATE,
        domain.fx_stream(base, quote),
        command,
        views.exchange_rate_answer(effective_on),
    )


async def exchange_rate_on(facts: BudgetFacts, clock: Clock, base: str, quote: str, on: date | None) -> dict[str, Any]:
    """The rate converting ``base`` into ``quote`` on ``on`` (today by ``clock`` when None), recorded or inverted;
    404 when there is none."""
    day = on or clock.now().date()
    rate = await facts.rate_in_force(base, quote, day)
    if rate is None:
        raise NotFoundError(f"no {base}->{quote} rate (nor a {quote}->{base} one) is in force on {day.isoformat()}")
    return views.rate_in_force_view(rate, day)
