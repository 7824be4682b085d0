"""Every reported figure can be explained back to its events: underfunding risk, the category table, invoice
backing, KPI attainment and utilisation, besides the EVM figures (facts through Kafka and the real consumers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.contracts import budget as b
from shared.contracts import projects as p
from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.clock import TODAY
from tests.support.money import eur
from tests.support.reporting import (
    PID,
    baseline,
    fact,
    for_project,
    invoice_matched,
    invoice_received,
    milestone,
    publish_facts,
    registered,
    secured,
    started,
    work,
)

pytestmark = pytest.mark.integration

VIEWER = auth_header("vera.viewer", "viewer")


@pytest.fixture
async def reporting(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncExitStack() as stack:
        yield await service_client(stack, "reporting", infra, VIEWER)


def kpi_facts(kpi_id: uuid.UUID) -> list[Any]:
    definition = dict(name="Reach", unit="%", target=Decimal(80), direction=p.KpiDirection.AT_LEAST)
    review = TODAY - timedelta(days=1)
    return [
        fact(p.KpiDefined(project_id=PID, kpi_id=kpi_id, review_date=review, **definition), TODAY - timedelta(days=20)),
        *(
            fact(
                p.KpiMeasured(
                    project_id=PID,
                    kpi_id=kpi_id,
                    value=Decimal(value),
                    review_date=review,
                    measured_on=TODAY - timedelta(days=days),
                    target_met=Decimal(value) >= 80,
                    note="",
                    **definition,
                ),
                TODAY - timedelta(days=days),
            )
            for value, days in (("60", 10), ("75", 3))
        ),
    ]


def commitment(amount: str, on: date) -> Any:
    return fact(
        b.BudgetCommitted(
            project_id=PID,
            commitment_id=uuid.uuid4(),
            kind=b.CommitmentKind.PURCHASE_ORDER,
            vendor="ACME",
            reference="PO-1",
            category=b.CostCategory.LABOUR,
            milestone_id=None,
            amount=eur(amount),
            expected_invoices=[b.InvoiceExpectation(on=on, amount=eur(amount))],
            overrun=None,
            policy=b.OverrunPolicy.WARN,
            requested_by="f",
            approved_by=None,
        ),
        TODAY - timedelta(days=15),
    )


async def test_each_reported_figure_is_explained_by_its_events(reporting: httpx.AsyncClient, kafka: Any) -> None:
    pid, kpi_id, invoice_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    start = TODAY - timedelta(days=40)
    due = TODAY + timedelta(days=20)
    history = [
        registered(start - timedelta(days=2)),
        started(start),
        baseline("100000.00", on=start - timedelta(days=1)),
        milestone(1, "60000.00", due, recorded=start - timedelta(days=1)),
        secured("20000.00", TODAY - timedelta(days=5), recorded=start),
        commitment("15000.00", TODAY + timedelta(days=10)),
        work("30000.00", TODAY - timedelta(days=7)),
        invoice_received(invoice_id, "10000.00", TODAY + timedelta(days=30), TODAY - timedelta(days=6)),
        invoice_matched(invoice_id, "10000.00", "8000.00", TODAY - timedelta(days=6), matched=False),
        *kpi_facts(kpi_id),
    ]
    at = datetime.now(UTC) - timedelta(days=50)
    facts = [for_project(f, pid, at + timedelta(seconds=i)) for i, f in enumerate(history)]
    await publish_facts(kafka, facts)
    ids = {str(f.event_id) for f in facts}
    base = f"/reports/projects/{pid}/explain"

    async def explained(path: str) -> dict[str, Any]:
        answer = await reporting.get(f"{base}/{path}", headers=VIEWER)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def everything_arrived() -> None:  # from four topics, each at its own pace
        report = (await reporting.get(f"/reports/projects/{pid}", headers=VIEWER)).json()
        assert report.get("kpis") and report["kpis"][0]["latest"] == "75", report
        assert report["budget"]["funding_available"] == "20000.00"
        assert report["invoices"]["backed"] == "8000.00"
        assert report["figures"]["ac"]["value"] == "30000.00"
        assert report["budget"]["categories"][0]["committed"] == "15000.00"

    await eventually(everything_arrived, timeout=120)
    report = (await reporting.get(f"/reports/projects/{pid}", headers=VIEWER)).json()
    milestone_id = report["underfunding_risk"][0]["milestone_id"]

    risk = await explained(f"risk/{milestone_id}")
    assert risk["probability"] == report["underfunding_risk"][0]["probability"]
    assert risk["computed_from"]["available"] == "20000.00"
    assert risk["computed_from"]["commitments_due"] == "15000.00"
    kinds = {e["type"] for e in risk["events"]}
    assert {"work-sheet-approved", "milestone-planned", "budget-committed", "funding-secured"} <= kinds
    assert {e["event_id"] for e in risk["events"]} <= ids

    labour = await explained("categories/labour")
    row = next(c for c in report["budget"]["categories"] if c["category"] == "labour")
    assert {k: labour["computed_from"][k] for k in ("budget", "committed", "actual", "remaining")} == {
        k: row[k] for k in ("budget", "committed", "actual", "remaining")
    }
    assert {"budget-baselined", "budget-committed", "work-sheet-approved"} <= {e["type"] for e in labour["events"]}

    backing = await explained("invoice-backing")
    assert backing["computed_from"]["backing_ratio"] == report["invoices"]["backing_ratio"]
    assert [e["type"] for e in backing["invoices"][0]["events"]] == ["invoice-received", "invoice-mismatched"]

    kpi = await explained(f"kpis/{kpi_id}")
    assert kpi["computed_from"]["latest"] == "75"
    assert [e["what"].split(" on ")[0] for e in kpi["events"]] == ["measured 60", "measured 75"]

    assert (await reporting.get(f"{base}/risk/{uuid.uuid4()}", headers=VIEWER)).status_code == 404
    assert (await reporting.get(f"{base}/categories/travel", headers=VIEWER)).status_code == 404
    nobody = await reporting.get(
        "/reports/utilisation/explain", params={"resource_id": str(uuid.uuid4()), "week": "2027-W05"}, headers=VIEWER
    )
    assert nobody.status_code == 404
    bad_week = await reporting.get(
        "/reports/utilisation/explain", params={"resource_id": str(uuid.uuid4()), "week": "2027-W53"}, headers=VIEWER
    )
    assert bad_week.status_code == 422
