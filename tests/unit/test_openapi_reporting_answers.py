"""The reporting service's reports and explanations answer exactly what its OpenAPI document says: each answer, made
by the code the route calls (handlers, views, explanations) over a project with every kind of fact, validates
against the 2xx schema documented for its operation, read strictly (no property the document does not name: every
object closed). The routes return these answers as they are (``response_model=None``: the documented model is
never applied to them), so the JSON stays what it was."""

from __future__ import annotations

import copy
import importlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

from reporting import explanations, handlers, views
from reporting.api import report_models
from reporting.domain.ledger import Fact
from reporting.handlers import ReportingFacts
from shared.contracts import projects as p
from shared.contracts import resources as r
from tests.support.money import eur
from tests.support.reporting import (
    PID,
    baseline,
    committed,
    expense_approved,
    expense_claimed,
    fact,
    funding_planned,
    goods_received,
    invoice_approved,
    invoice_matched,
    invoice_paid,
    invoice_received,
    item,
    milestone,
    pmb,
    progress,
    reached,
    registered,
    secured,
    started,
    work,
)
from tests.unit.test_reporting_handlers import FakeFacts

DAY = date(2027, 3, 15)
KPI, MATCHED, UNDER_BACKED = uuid.UUID(int=701), uuid.UUID(int=702), uuid.UUID(int=703)
RESOURCE = uuid.UUID(int=704)


def now() -> datetime:
    return datetime(2027, 4, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as env:  # settings are read, nothing is connected
        env.setenv("PMO_ENV", "development")
        env.setenv("PMO_DATABASE_URL", "postgresql+asyncpg://unused/unused")
        env.setenv("PMO_KAFKA_BOOTSTRAP_SERVERS", "unused:9092")
        app: FastAPI = importlib.import_module("reporting.bootstrap").create_app()
        return app.openapi()


def closed(node: Any) -> Any:
    """``node`` (a JSON Schema) with every object closed to the properties it names."""
    if isinstance(node, list):
        return [closed(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: closed(v) for k, v in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def assert_documented(document: dict[str, Any], operation_id: str, answer: Any) -> None:
    """``answer`` (as the route returns it, through JSON) validates against the operation's documented 200."""
    found = [
        op for item_ in document["paths"].values() for op in item_.values() if op.get("operationId") == operation_id
    ]
    assert len(found) == 1, operation_id
    schema = found[0]["responses"]["200"]["content"]["application/json"]["schema"]
    components = closed(copy.deepcopy(document["components"]))
    validator = Draft202012Validator({**schema, "components": components})
    errors = [f"{list(e.absolute_path)}: {e.message}"[:300] for e in validator.iter_errors(jsonable(answer))]
    assert errors == [], operation_id


def jsonable(answer: Any) -> Any:
    """The answer as FastAPI sends it (``jsonable_encoder``, as for ``response_model=None``)."""
    return jsonable_encoder(answer)


def kpi_facts() -> list[Fact]:
    definition = dict(name="Reach", unit="%", target=Decimal(80), direction=p.KpiDirection.AT_LEAST)
    review = date(2027, 3, 31)
    measured = p.KpiMeasured(
        project_id=PID,
        kpi_id=KPI,
        value=Decimal(75),
        review_date=review,
        measured_on=date(2027, 3, 10),
        target_met=False,
        note="",
        **definition,
    )
    defined = p.KpiDefined(project_id=PID, kpi_id=KPI, review_date=review, **definition)
    return [fact(defined, date(2027, 1, 5)), fact(measured, date(2027, 3, 10))]


def history(*, with_pmb: bool) -> list[Fact]:
    """A project with every kind of fact a report shows: milestones reached, in progress and not yet due, costs of
    every kind, a commitment, funding secured and planned, invoices matched and under-backed (approved, half paid), a
    KPI measured; with or without an approved performance baseline (one milestone outside it)."""
    facts = [
        registered(),
        started(),
        baseline("100000.00"),
        milestone(1, "30000.00", date(2027, 2, 28)),
        milestone(2, "50000.00", date(2027, 5, 31)),
        milestone(3, "20000.00", date(2027, 9, 30)),
        reached(1, "30000.00", date(2027, 3, 1)),
        progress(2, "25", date(2027, 3, 10)),
        work("35000.00", date(2027, 3, 5)),
        work("2000.00", date(2027, 3, 6), kind=r.ResourceKind.SUBCONTRACTOR),
        expense_claimed(uuid.UUID(int=705), eur("120.00"), date(2027, 3, 3)),
        expense_approved(uuid.UUID(int=705), date(2027, 3, 5)),
        goods_received(uuid.UUID(int=706), eur("900.00"), date(2027, 3, 6)),
        committed(uuid.UUID(int=707), eur("15000.00"), [(date(2027, 4, 30), "15000.00")]),
        secured("40000.00", date(2027, 2, 1)),
        funding_planned(uuid.UUID(int=708), "30000.00", date(2027, 5, 1)),
        invoice_received(MATCHED, "1000.00", date(2027, 4, 10), date(2027, 3, 8), tax="200.00"),
        invoice_matched(MATCHED, "1000.00", "1000.00", date(2027, 3, 8), matched=True),
        invoice_received(UNDER_BACKED, "3000.00", date(2027, 3, 12), date(2027, 3, 9)),
        invoice_matched(UNDER_BACKED, "3000.00", "2000.00", date(2027, 3, 9), matched=False),
        invoice_approved(UNDER_BACKED, "3000.00", date(2027, 3, 10)),
        invoice_paid(UNDER_BACKED, "1500.00", "1500.00", date(2027, 3, 11)),
        *kpi_facts(),
    ]
    if with_pmb:
        items = [
            item(1, "30000.00", date(2027, 1, 4), date(2027, 2, 28)),
            item(2, "50000.00", date(2027, 3, 1), date(2027, 5, 31)),
        ]
        facts.append(pmb(1, date(2027, 1, 4), items, reserve="20000.00", recorded=date(2027, 1, 6)))
    return facts


class WithResources(FakeFacts):
    """The fake facts with one person registered and allocated, and the events about her."""

    def __init__(self, facts: list[Fact]) -> None:
        super().__init__(facts)
        registered_ = r.ResourceRegistered(
            resource_id=RESOURCE,
            kind=r.ResourceKind.PERSON,
            vendor_id=None,
            role="dev",
            department="it",
            weekly_capacity_hours=Decimal(40),
            currency="EUR",
            registered_on=date(2027, 1, 4),
        )
        allocated = r.ResourceAllocated(
            resource_id=RESOURCE,
            allocation_id=uuid.uuid4(),
            project_id=PID,
            milestone_id=None,
            hours_per_week=Decimal(24),
            starts_on=date(2027, 3, 1),
            ends_on=date(2027, 3, 31),
            over_allocated=False,
            over_allocation=[],
        )
        self.people = [fact(registered_, date(2027, 1, 4)), fact(allocated, date(2027, 2, 20))]

    async def resource_facts(self, known_at: datetime | None, *, sheets: bool = True) -> list[Fact]:
        return self.people

    async def resource_events(self, resource_id: uuid.UUID, known_at: datetime | None) -> list[Any]:
        return [
            SimpleNamespace(event_id=f.event_id, name=f.name, recorded_at=f.recorded_at, data=f.data)
            for f in self.people
        ]


def ledger(*, with_pmb: bool = True) -> ReportingFacts:
    return cast(ReportingFacts, WithResources(history(with_pmb=with_pmb)))


async def project_report(facts: ReportingFacts) -> Any:
    return (await handlers.project_report(facts, now, PID, DAY, None))[1]


async def portfolio_report(facts: ReportingFacts) -> Any:
    known = datetime(2027, 3, 20, tzinfo=UTC)
    return (await handlers.portfolio_report(facts, now, None, as_of=DAY, portfolio_id="pf", programme_id=None,
                                            known_at=known, currency="USD"))[2]  # fmt: skip


ANSWERS: dict[str, Callable[[ReportingFacts], Awaitable[Any]]] = {
    "getProjectReport": project_report,
    "getPortfolioReport": portfolio_report,
    "explainMilestoneRisk": lambda f: explanations.explain_risk(f, now, PID, uuid.UUID(int=2), DAY, None),
    "explainCategory": lambda f: explanations.explain_category(f, now, PID, "labour", DAY, None),
    "explainInvoiceBacking": lambda f: explanations.explain_invoice_backing(f, now, PID, DAY, None),
    "explainKpi": lambda f: explanations.explain_kpi(f, now, PID, KPI, DAY, None),
    "explainUtilisation": lambda f: explanations.explain_utilisation(f, now, RESOURCE, "2027-W11", None),
    "explainPlannedValueByItem": lambda f: explanations.explain_planned_value(f, now, PID, DAY, None),
    "explainActualCostByKind": lambda f: explanations.explain_actual_cost(f, now, PID, DAY, None),
}


@pytest.mark.parametrize("operation_id", sorted(ANSWERS))
async def test_each_report_and_explanation_answers_exactly_its_documented_schema(
    document: dict[str, Any], operation_id: str
) -> None:
    answer = await ANSWERS[operation_id](ledger())
    assert_documented(document, operation_id, answer)


async def test_the_report_shows_every_part_the_schema_describes() -> None:
    """The world above is rich enough that the schema check sees every list filled and nullable values set."""
    report = await project_report(ledger())
    assert report["underfunding_risk"] and report["kpis"] and report["conditions"]
    assert report["invoices"]["without_backing"] and report["budget"]["categories"]
    portfolio = await portfolio_report(ledger())
    assert portfolio["projects"] and portfolio["rollup"]["unconverted"] and portfolio["underfunding_risk"]["to_secure"]
    costs = await explanations.explain_actual_cost(ledger(), now, PID, DAY, None)
    assert all(costs["by_kind"].values()), costs["by_kind"]


async def test_planned_value_without_a_performance_baseline_is_documented_too(document: dict[str, Any]) -> None:
    """Without an approved PMB the explanation has no ``items``: the other branch of its documented choice."""
    answer = await explanations.explain_planned_value(ledger(with_pmb=False), now, PID, DAY, None)
    assert "items" not in answer
    assert_documented(document, "explainPlannedValueByItem", answer)


async def test_a_field_the_document_does_not_name_fails_the_check(document: dict[str, Any]) -> None:
    """The check reads strictly: an answer with one more field (or one missing) does not pass."""
    answer = await project_report(ledger())
    with pytest.raises(AssertionError):
        assert_documented(document, "getProjectReport", {**answer, "surprise": 1})
    with pytest.raises(AssertionError):
        assert_documented(document, "getProjectReport", {k: v for k, v in answer.items() if k != "kpis"})


def test_the_reported_figures_are_the_ones_the_report_computes() -> None:
    """``ProjectFigures`` names each of :data:`reporting.views.FIGURES` (the one list of figures)."""
    assert list(report_models.ProjectFigures.model_fields) == list(views.FIGURES)


@pytest.mark.parametrize(("path", "operation_id"), [
    ("/reports/projects/{project_id}", "getProjectReport"),
    ("/reports/portfolio", "getPortfolioReport"),
    ("/reports/projects/{project_id}/s-curve", "getSCurve"),
    ("/reports/utilisation", "getUtilisationReport"),
])  # fmt: skip
def test_a_report_also_served_as_csv_documents_both_media_types(
    document: dict[str, Any], path: str, operation_id: str
) -> None:
    operation = document["paths"][path]["get"]
    assert operation["operationId"] == operation_id
    content = operation["responses"]["200"]["content"]
    assert content["application/json"]["schema"]["$ref"].startswith("#/components/schemas/")
    assert content["text/csv"]["schema"]["type"] == "string"
    assert "csv" in {p["name"]: p for p in operation["parameters"]}["format"]["schema"]["pattern"]
