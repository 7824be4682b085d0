"""Stage-gate decisions and the reporting figures they keep (:class:`Reporting`, read by :func:`gate_figures`).

A gate decision asks the reporting service for its figures as of the decision date: the one synchronous call from
this service to another. The design keeps commands free of such calls, and this one is made before the command's
transaction and never decides anything: whatever reporting does (down, slow, an error, a malformed answer), the
decision is recorded, with ``figures.unavailable`` saying why they are missing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Protocol

from projects import domain, views
from projects.handlers.running import Outcome, on_project, today
from shared.commands import CommandContext, Executor
from shared.contracts.projects import GateFigures, GateOutcome
from shared.ids import new_id
from shared.money import LARGEST, quantize

log = logging.getLogger(__name__)


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
    day = today(executor, decided_on)
    command = domain.RecordGateDecision(decision_id, gate, decision, rationale, ctx.metadata.actor, day)
    state, _ = await executor.state_of(domain.PROJECT, domain.stream_id(project_id))
    domain.decide(state, command, executor.clock.now())  # the refusal, if any, without waiting for reporting
    figures = await gate_figures(reporting, project_id, day, state.currency, timeout)
    view = views.gate_decision_view(decision_id)
    return await on_project(executor, ctx, project_id, replace(command, figures=figures), view, status_code=201)


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
