"""The projects service's use cases: one function per command.

Each gathers the facts its command needs (through :class:`GroupingFacts`), builds the domain command (new ids, the
acting user from the context, a date left out = today by the executor's clock), runs it through the executor in one
transaction and returns the outcome with the view the command answers (:mod:`projects.views`). Routes, background
tasks and any other caller go through these functions.

A gate decision also asks the reporting service for its figures as of the decision date (:class:`Reporting`): the
one synchronous call from this service to another. The design keeps commands free of such calls, and this one is
made before the command's transaction and never decides anything: whatever reporting does (down, slow, an error, a
malformed answer), the decision is recorded, with ``figures.unavailable`` saying why they are missing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol

from projects import domain, views
from shared.commands import CommandContext, CommandOutcome, Executor, by_state, run_on
from shared.contracts.projects import Channel, GateFigures, GateOutcome, KpiDirection, PartnerKind, Rag
from shared.errors import InvalidCommandError, NotFoundError
from shared.ids import new_id
from shared.money import LARGEST, Money, quantize

log = logging.getLogger(__name__)

Outcome = CommandOutcome[Any]
GroupingKind = Literal["portfolio", "programme"]

# --- ports --------------------------------------------------------------------------------------------------


class GroupingFacts(Protocol):
    """What registering a project or creating a programme needs to know about portfolios and programmes."""

    async def portfolio_of(self, kind: GroupingKind, grouping_id: str) -> str | None:
        """The portfolio of the portfolio or programme ``grouping_id`` (a portfolio's is itself); None if it does
        not exist."""
        ...


class ReportingUnavailableError(Exception):
    """The reporting service gave no usable answer; the message says why (it is recorded on the decision)."""


class Reporting(Protocol):
    """The reporting service's project report (its HTTP API, called with the service's own token)."""

    async def project_report(self, project_id: uuid.UUID, as_of: date) -> object:
        """The project report as of ``as_of``, decoded from JSON as it came; ReportingUnavailableError saying why
        when reporting cannot answer (not configured, unreachable, 4xx/5xx, too long, not JSON)."""
        ...


REPORTING_TIMEOUT_SECONDS = 2.0
"""Longest a gate decision waits for reporting's figures (``PMO_REPORTING_TIMEOUT_SECONDS``)."""


def _today(executor: Executor, day: date | None) -> date:
    return day or executor.clock.now().date()


async def _on_project(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    command: domain.Command,
    view: views.View = views.project_view,
    *,
    status_code: int = 200,
    new_stream: bool = False,
) -> Outcome:
    return await run_on(
        executor,
        ctx,
        domain.PROJECT,
        domain.stream_id(project_id),
        command,
        by_state(view),
        status_code=status_code,
        new_stream=new_stream,
    )


async def _existing(facts: GroupingFacts, kind: GroupingKind, grouping_id: str, field: str | None = None) -> str:
    """The portfolio of an existing grouping; NotFoundError naming ``field`` if it does not exist."""
    portfolio = await facts.portfolio_of(kind, grouping_id)
    if portfolio is None:
        raise NotFoundError(f"{kind} {grouping_id} does not exist", field=field)
    return portfolio


# --- portfolios and programmes ------------------------------------------------------------------------------


async def create_portfolio(
    executor: Executor, ctx: CommandContext, *, portfolio_id: str, name: str, description: str
) -> Outcome:
    """Create a portfolio (201); its id is a slug chosen by the caller."""
    return await executor.execute(
        ctx,
        aggregate=domain.GROUPING,
        stream_id=domain.portfolio_stream(portfolio_id),
        command=domain.CreatePortfolio(portfolio_id, name, description),
        respond=lambda s, e, v: views.portfolio_view(portfolio_id, name, description),
        status_code=201,
    )


async def create_programme(
    executor: Executor,
    facts: GroupingFacts,
    ctx: CommandContext,
    *,
    portfolio_id: str,
    programme_id: str,
    name: str,
    description: str,
) -> Outcome:
    """Create a programme inside an existing portfolio (201)."""
    await _existing(facts, "portfolio", portfolio_id)
    return await executor.execute(
        ctx,
        aggregate=domain.GROUPING,
        stream_id=domain.programme_stream(programme_id),
        command=domain.CreateProgramme(programme_id, portfolio_id, name, description),
        respond=lambda s, e, v: views.programme_view(programme_id, portfolio_id, name, description),
        status_code=201,
    )


# --- projects -----------------------------------------------------------------------------------------------


async def register_project(
    executor: Executor,
    facts: GroupingFacts,
    ctx: CommandContext,
    *,
    code: str,
    name: str,
    objectives: str,
    sponsor: str,
    manager: str,
    planned_start: date,
    planned_end: date,
    currency: str,
    portfolio_id: str | None,
    programme_id: str | None,
) -> Outcome:
    """Register a project (201, status ``proposed``), registered by the acting user. A portfolio given must exist;
    a programme given must exist and belong to the portfolio given, which defaults to the programme's."""
    if portfolio_id is not None:
        await _existing(facts, "portfolio", portfolio_id, field="portfolio_id")
    if programme_id is not None:
        owner = await _existing(facts, "programme", programme_id, field="programme_id")
        if portfolio_id is not None and owner != portfolio_id:
            raise InvalidCommandError(
                f"programme {programme_id} belongs to portfolio {owner}, not {portfolio_id}", field="programme_id"
            )
        portfolio_id = owner
    project_id = domain.ProjectId(new_id())
    command = domain.RegisterProject(
        project_id=project_id,
        portfolio_id=portfolio_id,
        programme_id=programme_id,
        code=code,
        name=name,
        objectives=objectives,
        sponsor=sponsor,
        manager=manager,
        planned_start=planned_start,
        planned_end=planned_end,
        currency=currency,
        registered_by=ctx.metadata.actor,
    )
    return await _on_project(executor, ctx, project_id, command, status_code=201, new_stream=True)


async def approve_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, approved_on: date | None, note: str
) -> Outcome:
    """proposed -> approved, by the acting user."""
    command = domain.ApproveProject(ctx.metadata.actor, _today(executor, approved_on), note)
    return await _on_project(executor, ctx, project_id, command)


async def start_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, started_on: date | None
) -> Outcome:
    """approved -> active."""
    return await _on_project(executor, ctx, project_id, domain.StartProject(_today(executor, started_on)))


async def put_project_on_hold(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, reason: str, on: date | None
) -> Outcome:
    """active -> on_hold, with a reason."""
    return await _on_project(executor, ctx, project_id, domain.PutProjectOnHold(reason, _today(executor, on)))


async def resume_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, on: date | None, note: str
) -> Outcome:
    """on_hold -> active."""
    return await _on_project(executor, ctx, project_id, domain.ResumeProject(_today(executor, on), note))


async def complete_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, completed_on: date | None, note: str
) -> Outcome:
    """active -> completed, once every milestone is reached or missed."""
    command = domain.CompleteProject(_today(executor, completed_on), note)
    return await _on_project(executor, ctx, project_id, command)


async def terminate_project(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, *, reason: str, on: date | None
) -> Outcome:
    """Any open state -> terminated (final), with a reason."""
    return await _on_project(executor, ctx, project_id, domain.TerminateProject(reason, _today(executor, on)))


async def record_gate_decision(
    executor: Executor,
    reporting: Reporting,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    gate: str,
    decision: GateOutcome,
    rationale: str,
    decided_on: date | None,
    timeout: float = REPORTING_TIMEOUT_SECONDS,
) -> Outcome:
    """A stage-gate decision by the acting user (201), answered with the decision and the project's status. It keeps
    reporting's figures as of the decision date (:func:`gate_figures`); a decision the project refuses is refused
    before reporting is asked."""
    decision_id = new_id()
    day = _today(executor, decided_on)
    command = domain.RecordGateDecision(decision_id, gate, decision, rationale, ctx.metadata.actor, day)
    state, _ = await executor.state_of(domain.PROJECT, domain.stream_id(project_id))
    domain.decide(state, command, executor.clock.now())  # the refusal, if any, without waiting for reporting
    figures = await gate_figures(reporting, project_id, day, state.currency, timeout)
    view = views.gate_decision_view(decision_id)
    return await _on_project(executor, ctx, project_id, replace(command, figures=figures), view, status_code=201)


async def gate_figures(
    reporting: Reporting, project_id: uuid.UUID, as_of: date, currency: str, timeout: float = REPORTING_TIMEOUT_SECONDS
) -> GateFigures:
    """Reporting's figures for the project as of ``as_of``, or figures marked ``unavailable`` with the reason:
    never an error, so that reporting never blocks a decision."""
    try:
        async with asyncio.timeout(timeout):
            document = await reporting.project_report(project_id, as_of)
        return figures_from_report(document, as_of, currency)
    except TimeoutError:
        why = f"reporting did not answer within {timeout:g} s"
    except ReportingUnavailableError as exc:
        why = str(exc)
    except MalformedReportError as exc:
        why = f"reporting's answer is malformed: {exc}"
    except Exception as exc:  # a decision is never blocked by reporting, whatever went wrong on the way
        log.exception("asking reporting for project %s's figures failed", project_id)
        why = f"asking reporting failed ({type(exc).__name__})"
    log.warning("gate decision on project %s recorded without reporting's figures: %s", project_id, why)
    return GateFigures(as_of=as_of, currency=currency, unavailable=why)


class MalformedReportError(ValueError):
    """Reporting's answer is not the project report expected (the message names what is wrong)."""


_DECIMAL = re.compile(r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$", re.ASCII)
_RISK_LIMIT = 1000
"""Underfunding risks read from one report at most (one per open milestone)."""


def figures_from_report(document: object, as_of: date, currency: str) -> GateFigures:
    """The gate figures in reporting's project report (``GET /reports/projects/{id}?as_of=``): AC, BAC, EAC (the
    CPI one: ``eac_cpi``), VAC, CPI, SPI from ``figures.<name>.value`` (null when reporting says undefined), the
    funding available from ``budget.funding_available`` and the underfunding risk as the highest ``probability``
    of ``underfunding_risk`` (null when no milestone is at stake). Amounts are rounded to ``currency`` (the
    project's, which the report must be in, as of the same date); MalformedReportError otherwise."""
    report = _object(document, "the answer")
    if report.get("currency") != currency:
        raise MalformedReportError(f"its currency is {report.get('currency')!r}, not the project's {currency}")
    if report.get("as_of") != as_of.isoformat():
        raise MalformedReportError(f"it is as of {report.get('as_of')!r}, not {as_of.isoformat()}")
    figures = _object(report.get("figures"), "figures")

    def figure(name: str) -> Decimal | None:
        return _number(_object(figures.get(name), f"figures.{name}").get("value"), f"figures.{name}.value")

    def amount(value: Decimal | None) -> Decimal | None:
        return None if value is None else quantize(value, currency)

    funding = _number(_object(report.get("budget"), "budget").get("funding_available"), "budget.funding_available")
    risks = report.get("underfunding_risk")
    if not isinstance(risks, list) or len(risks) > _RISK_LIMIT:
        raise MalformedReportError(f"underfunding_risk is not a list of at most {_RISK_LIMIT}")
    probabilities = [
        _number(_object(r, f"underfunding_risk.{i}").get("probability"), f"underfunding_risk.{i}.probability")
        for i, r in enumerate(risks)
    ]
    known = [p for p in probabilities if p is not None]
    if any(not 0 <= p <= 1 for p in known):
        raise MalformedReportError("an underfunding risk's probability is outside 0..1")
    return GateFigures(
        as_of=as_of,
        currency=currency,
        ac=amount(figure("ac")),
        bac=amount(figure("bac")),
        eac=amount(figure("eac_cpi")),
        vac=amount(figure("vac")),
        cpi=figure("cpi"),
        spi=figure("spi"),
        funding_available=amount(funding),
        underfunding_risk=max(known) if known else None,
    )


def _object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise MalformedReportError(f"{where} is not a JSON object")
    return value


def _number(value: object, where: str) -> Decimal | None:
    """A decimal from a JSON string in plain notation (or null); MalformedReportError for anything else."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DECIMAL.match(value):
        raise MalformedReportError(f"{where} is not a decimal string")
    number = Decimal(value)
    if abs(number) >= LARGEST:
        raise MalformedReportError(f"{where} is out of range")
    return number


# --- milestones ---------------------------------------------------------------------------------------------


def _milestone_view(milestone_id: uuid.UUID) -> views.View:
    return views.part_view("milestones", milestone_id, "milestone_id")


async def plan_milestone(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    name: str,
    due_date: date,
    planned_value: Money,
    acceptance_criteria: str,
) -> Outcome:
    """Plan a milestone (201), answered with the milestone."""
    milestone_id = domain.MilestoneId(new_id())
    command = domain.PlanMilestone(milestone_id, name, due_date, planned_value, acceptance_criteria)
    return await _on_project(executor, ctx, project_id, command, _milestone_view(milestone_id), status_code=201)


async def reschedule_milestone(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    due_date: date,
    reason: str,
) -> Outcome:
    """Move a milestone's due date, keeping the previous one and the reason."""
    command = domain.RescheduleMilestone(milestone_id, due_date, reason)
    return await _on_project(executor, ctx, project_id, command, _milestone_view(milestone_id))


async def report_milestone_progress(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    percent_complete: Decimal,
    as_of: date | None,
    correction_reason: str | None,
) -> Outcome:
    """Report a milestone's percent complete."""
    command = domain.ReportMilestoneProgress(milestone_id, percent_complete, _today(executor, as_of), correction_reason)
    return await _on_project(executor, ctx, project_id, command, _milestone_view(milestone_id))


async def mark_milestone_reached(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    *,
    reached_on: date | None,
    acceptance_note: str,
) -> Outcome:
    """Mark a milestone reached, accepted by the acting user."""
    command = domain.MarkMilestoneReached(
        milestone_id, _today(executor, reached_on), ctx.metadata.actor, acceptance_note
    )
    return await _on_project(executor, ctx, project_id, command, _milestone_view(milestone_id))


async def mark_milestone_missed(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, milestone_id: uuid.UUID, *, reason: str
) -> Outcome:
    """Mark a milestone whose due date has passed as missed."""
    command = domain.MarkMilestoneMissed(milestone_id, reason)
    return await _on_project(executor, ctx, project_id, command, _milestone_view(milestone_id))


# --- performance measurement baselines ----------------------------------------------------------------------


def _baseline_view(version: int | None) -> views.View:
    """The baseline version ``version`` (None: the latest) as a command on it answers."""
    return lambda state, v: views.baseline_view(state.baselines[(version or len(state.baselines)) - 1])


async def propose_baseline(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    effective_on: date,
    items: Sequence[domain.PlannedItem],
    management_reserve: Money,
    reason: str,
) -> Outcome:
    """Propose the next version of the project's PMB (201), by the acting user, answered with the version (its
    total computed from the items)."""
    command = domain.ProposeBaseline(
        new_id(), effective_on, tuple(items), management_reserve, reason, ctx.metadata.actor
    )
    return await _on_project(executor, ctx, project_id, command, _baseline_view(None), status_code=201)


async def approve_baseline(executor: Executor, ctx: CommandContext, project_id: uuid.UUID, version: int) -> Outcome:
    """Approve a proposed baseline version, by the acting user (never its proposer): in force from its
    ``effective_on``."""
    command = domain.ApproveBaseline(version, ctx.metadata.actor)
    return await _on_project(executor, ctx, project_id, command, _baseline_view(version))


async def reject_baseline(
    executor: Executor, ctx: CommandContext, project_id: uuid.UUID, version: int, *, reason: str
) -> Outcome:
    """Reject a proposed baseline version, by the acting user, with a reason."""
    command = domain.RejectBaseline(version, ctx.metadata.actor, reason)
    return await _on_project(executor, ctx, project_id, command, _baseline_view(version))


# --- status reports, KPIs, partners --------------------------------------------------------------------------


async def file_status_report(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    meeting_date: date,
    schedule: Rag,
    cost: Rag,
    scope: Rag,
    quality: Rag,
    resources: Rag,
    narrative: str,
    decisions: Sequence[str] = (),
    risks: Sequence[str] = (),
    next_steps: Sequence[str] = (),
    overall: Rag | None = None,
    override_reason: str | None = None,
) -> Outcome:
    """File a weekly status report (201), answered with the report."""
    report_id = new_id()
    command = domain.FileStatusReport(
        report_id,
        meeting_date,
        schedule,
        cost,
        scope,
        quality,
        resources,
        narrative,
        tuple(decisions),
        tuple(risks),
        tuple(next_steps),
        overall,
        override_reason,
    )
    view = views.part_view("status_reports", report_id, "report_id")
    return await _on_project(executor, ctx, project_id, command, view, status_code=201)


async def define_kpi(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    name: str,
    unit: str,
    target: Decimal,
    direction: KpiDirection,
    review_date: date,
) -> Outcome:
    """Define a KPI (201), answered with the KPI."""
    kpi_id = new_id()
    command = domain.DefineKpi(kpi_id, name, unit, target, direction, review_date)
    view = views.part_view("kpis", kpi_id, "kpi_id")
    return await _on_project(executor, ctx, project_id, command, view, status_code=201)


async def measure_kpi(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    kpi_id: uuid.UUID,
    *,
    value: Decimal,
    measured_on: date | None,
    note: str,
) -> Outcome:
    """Record a KPI measurement (201), answered with the KPI and its measurements."""
    command = domain.MeasureKpi(kpi_id, value, _today(executor, measured_on), note)
    view = views.part_view("kpis", kpi_id, "kpi_id")
    return await _on_project(executor, ctx, project_id, command, view, status_code=201)


async def register_partner(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    name: str,
    kind: PartnerKind,
    organisation: str,
    role: str,
) -> Outcome:
    """Register a partner or stakeholder (201), answered with the partner."""
    partner_id = new_id()
    command = domain.RegisterPartner(partner_id, name, kind, organisation, role)
    view = views.part_view("partners", partner_id, "partner_id")
    return await _on_project(executor, ctx, project_id, command, view, status_code=201)


def _communication_view(communication_id: uuid.UUID) -> views.View:
    return views.part_view("communications", communication_id, "communication_id")


async def log_communication(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    *,
    partner_id: uuid.UUID,
    on: date,
    channel: Channel,
    summary: str,
    follow_up_due: date | None,
) -> Outcome:
    """Log a communication with a partner (201), answered with the communication."""
    communication_id = new_id()
    command = domain.LogCommunication(communication_id, partner_id, on, channel, summary, follow_up_due)
    view = _communication_view(communication_id)
    return await _on_project(executor, ctx, project_id, command, view, status_code=201)


async def close_follow_up(
    executor: Executor,
    ctx: CommandContext,
    project_id: uuid.UUID,
    communication_id: uuid.UUID,
    *,
    closed_on: date | None,
    note: str,
) -> Outcome:
    """Close a communication's follow-up."""
    command = domain.CloseFollowUp(communication_id, _today(executor, closed_on), note)
    return await _on_project(executor, ctx, project_id, command, _communication_view(communication_id))
