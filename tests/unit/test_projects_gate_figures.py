"""A gate decision keeps reporting's figures as of its date: the handler asks a fake reporting service (answering,
too slow, answering garbage, down) and records the decision whatever it does; the HTTP adapter against httpx's mock
transport (refusals, bounded answers, its own service token)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import jwt
import pytest

from projects import handlers
from projects.reporting_client import ReportingOverHttp, service_token
from projects.settings import Settings
from shared.auth import DEVELOPMENT_SECRET
from shared.contracts import projects as ev
from shared.errors import SeparationOfDutiesError
from tests.support.fakes import InMemoryExecutor, acting_as
from tests.support.projects import (
    APPROVE,
    PID,
    START,
    STREAM,
    TODAY,
    Scenario,
    active,
    executor_after,
    registration,
)

# --- handlers: the gate decision's figures ----------------------------------------------------------------------


def report(**overrides: Any) -> dict[str, Any]:
    """Reporting's project report as of TODAY (its JSON shape), figures hand-chosen: AC 50,000, BAC 200,000, CPI 0.8
    so EAC (CPI) 250,000 and VAC -50,000; funding available 150,000; risks 2 % and 31 %."""

    def money(value: str | None) -> dict[str, Any]:
        return {"value": value, "kind": "money", "reason": None if value else "undefined"}

    document: dict[str, Any] = {
        "project_id": str(PID),
        "currency": "EUR",
        "as_of": TODAY.isoformat(),
        "known_at": None,
        "figures": {
            "ac": money("50000.00"),
            "bac": money("200000.00"),
            "eac_cpi": money("250000.00"),
            "vac": money("-50000.00"),
            "cpi": {"value": "0.8000", "kind": "ratio", "reason": None},
            "spi": {"value": None, "kind": "ratio", "reason": "no planned value yet"},
        },
        "underfunding_risk": [{"probability": "0.0200"}, {"probability": "0.3100"}],
        "budget": {"categories": [], "funding_available": "150000.00", "spent": "50000.00"},
    }
    document.update(overrides)
    return document


@dataclass
class FakeReporting:
    """Answers with ``answer`` (or raises it, or waits ``delay`` seconds first); counts the questions."""

    answer: Any = field(default_factory=report)
    delay: float = 0.0
    asked: list[tuple[uuid.UUID, date]] = field(default_factory=list)

    async def project_report(self, project_id: uuid.UUID, as_of: date) -> object:
        self.asked.append((project_id, as_of))
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def decide_gate(reporting: FakeReporting, executor: InMemoryExecutor | None = None, by: str = "dora") -> Any:
    executor = executor or executor_after(active())
    outcome = await handlers.record_gate_decision(
        executor,
        reporting,
        acting_as(by),
        PID,
        gate="G3",
        decision=ev.GateOutcome.CONTINUE,
        rationale="on track",
        decided_on=None,
        timeout=0.2,
    )
    decided = executor.appended(STREAM)[-1]
    assert isinstance(decided, ev.GateDecided)
    return outcome, decided


async def test_a_gate_decision_keeps_reportings_figures_as_of_its_date() -> None:
    reporting = FakeReporting()
    outcome, decided = await decide_gate(reporting)
    assert reporting.asked == [(PID, TODAY)]
    assert decided.figures == ev.GateFigures(
        as_of=TODAY,
        currency="EUR",
        ac=Decimal("50000.00"),
        bac=Decimal("200000.00"),
        eac=Decimal("250000.00"),
        vac=Decimal("-50000.00"),
        cpi=Decimal("0.8000"),
        spi=None,
        funding_available=Decimal("150000.00"),
        underfunding_risk=Decimal("0.3100"),  # the highest of 2 % and 31 %
    )
    assert outcome.body["figures"]["eac"] == "250000.00" and outcome.body["figures"]["unavailable"] is None
    assert outcome.body["snapshot"]["milestones_planned"] == 2  # the project's own figures, beside reporting's


async def test_a_jpy_projects_figures_are_rounded_to_whole_yen() -> None:
    s = Scenario().given(registration(currency="JPY"), APPROVE, START)
    answer = report(currency="JPY", budget={"funding_available": "1200000.00"}, underfunding_risk=[])
    _, decided = await decide_gate(FakeReporting(answer), executor_after(s))
    assert decided.figures.model_dump(mode="json")["funding_available"] == "1200000"
    assert decided.figures.underfunding_risk is None  # no milestone at stake


async def test_reporting_too_slow_leaves_the_figures_unavailable_and_the_decision_recorded() -> None:
    outcome, decided = await decide_gate(FakeReporting(delay=5))
    assert outcome.status_code == 201 and outcome.body["project_status"] == "active"
    assert decided.figures == ev.GateFigures(
        as_of=TODAY, currency="EUR", unavailable="reporting did not answer within 0.2 s"
    )


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (["not", "an", "object"], "the answer is not a JSON object"),
        (report(figures="nothing"), "figures is not a JSON object"),
        (report(currency="USD"), "its currency is 'USD', not the project's EUR"),
        (report(as_of="2027-06-14"), "it is as of '2027-06-14', not 2027-06-15"),
        (report(budget={"funding_available": 150000.5}), "budget.funding_available is not a decimal string"),
        (report(budget={"funding_available": "1e9"}), "budget.funding_available is not a decimal string"),
        (report(underfunding_risk=[{"probability": "1.5"}]), "probability is outside 0..1"),
        (report(underfunding_risk={"a": 1}), "underfunding_risk is not a list"),
    ],
)
async def test_a_garbled_answer_leaves_the_figures_unavailable_saying_why(answer: Any, why: str) -> None:
    _, decided = await decide_gate(FakeReporting(answer))
    assert decided.figures is not None and decided.figures.ac is None
    assert decided.figures.unavailable is not None
    assert (
        decided.figures.unavailable.startswith("reporting's answer is malformed: ")
        and why in decided.figures.unavailable
    )


async def test_reporting_down_or_refusing_leaves_the_figures_unavailable_with_its_reason() -> None:
    _, decided = await decide_gate(FakeReporting(handlers.ReportingUnavailableError("reporting answered 503")))
    assert decided.figures is not None and decided.figures.unavailable == "reporting answered 503"
    _, decided = await decide_gate(FakeReporting(RuntimeError("a bug on the way")))
    assert decided.figures is not None and decided.figures.unavailable == "asking reporting failed (RuntimeError)"


async def test_a_refused_decision_is_refused_before_reporting_is_asked() -> None:
    reporting = FakeReporting()
    executor = executor_after(active())
    before = executor.appended(STREAM)
    with pytest.raises(SeparationOfDutiesError, match="manages project"):
        await decide_gate(reporting, executor, by="max")
    assert reporting.asked == [] and executor.appended(STREAM) == before


# --- the HTTP adapter ----------------------------------------------------------------------------------------------


def adapter(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> ReportingOverHttp:
    options: dict[str, Any] = {"timeout": 2.0, "transport": httpx.MockTransport(handler)} | kwargs
    return ReportingOverHttp("http://reporting:8000/", "the-token", **options)


async def test_the_adapter_asks_for_the_report_as_of_the_date_with_its_token() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=report())

    document = await adapter(answer).project_report(PID, TODAY)
    assert document == report()
    (request,) = seen
    assert str(request.url) == f"http://reporting:8000/reports/projects/{PID}?as_of=2027-06-15"
    assert request.headers["Authorization"] == "Bearer the-token"


@pytest.mark.parametrize(
    ("respond", "why"),
    [
        (lambda r: httpx.Response(404, json={"detail": "unknown"}), "reporting answered 404 Not Found"),
        (lambda r: httpx.Response(500, text="boom"), "reporting answered 500 Internal Server Error"),
        (lambda r: httpx.Response(200, text="<html>"), "reporting's answer is not JSON"),
        (lambda r: httpx.Response(200, content=b"[" + b"1," * 600 + b"1]"), "longer than 1000 bytes"),
    ],
)
async def test_the_adapter_says_why_reporting_gave_no_usable_answer(
    respond: Callable[[httpx.Request], httpx.Response], why: str
) -> None:
    with pytest.raises(handlers.ReportingUnavailableError, match=why):
        await adapter(respond, max_bytes=1000).project_report(PID, TODAY)


async def test_the_adapter_says_when_reporting_cannot_be_reached_or_is_not_configured() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(handlers.ReportingUnavailableError, match=r"cannot be reached \(ConnectError\)"):
        await adapter(unreachable).project_report(PID, TODAY)
    with pytest.raises(handlers.ReportingUnavailableError, match="did not answer within 2 s"):
        await adapter(slow).project_report(PID, TODAY)
    with pytest.raises(handlers.ReportingUnavailableError, match="PMO_REPORTING_URL"):
        await ReportingOverHttp(None, "t", timeout=2).project_report(PID, TODAY)


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": "postgresql+asyncpg://x/y", "kafka_bootstrap_servers": "k:9092"}
    return Settings(**(values | overrides))


def test_the_service_signs_its_own_short_lived_service_token_with_its_secret() -> None:
    secret = "s" * 40
    token = service_token(_settings(jwt_secret=secret, jwt_issuer="corp", jwt_audience="pmo"))
    assert token is not None
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience="pmo", issuer="corp")
    assert claims["sub"] == "projects-service" and claims["roles"] == ["service"]
    assert claims["exp"] - claims["iat"] == 60
    development = service_token(_settings(env="development"))
    assert development is not None and jwt.decode(
        development, DEVELOPMENT_SECRET, algorithms=["HS256"], audience="pmo-api"
    )
    assert service_token(_settings(jwks_file="/keys.json")) is None  # an identity provider's keys: nothing to sign with
    assert service_token(_settings()) is None  # production without a secret


def test_the_reporting_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="reporting_url"):
        _settings(reporting_url="file:///etc/passwd")
    assert _settings(reporting_url="http://reporting:8000").reporting_url == "http://reporting:8000"
