"""The invoicing service over HTTP matching invoices to the work and commitments it consumes: an invoice before its
work sheet, work billed twice, a wider tolerance, credit notes and corrected work sheets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from invoicing.bootstrap import AGGREGATES
from invoicing.tables import TABLES
from shared.contracts import resources
from shared.kafka import from_record
from tests.support import eventually
from tests.support.invoicing import (
    TODAY,
    invoice_body,
    line_body,
    work_sheet_approval_reversed,
    work_sheet_approved,
)
from tests.support.invoicing_api import (
    MATCHER,
    PAUL,
    checks,
    commitment_known,
    invoicing_client,
    invoicing_records,
    nothing_left_to_match,
    receive,
    sheet_approved,
    sheet_consumed,
    status_becomes,
)
from tests.support.money import money
from tests.support.publishing import publish

pytestmark = pytest.mark.integration


@pytest.fixture
async def invoicing(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with invoicing_client(infra) as client:
        yield client


# --- the invoice that arrives before its work sheet ------------------------------------------------------------


async def test_an_invoice_received_before_its_work_sheet_is_approved_turns_matched_when_the_approval_arrives(
    invoicing, kafka
) -> None:
    pid, sheet_id = uuid.uuid4(), uuid.uuid4()
    cid = await commitment_known(invoicing, kafka, pid)
    invoice = await receive(invoicing, invoice_body(str(pid), line_body("4000.00", str(sheet_id))))
    iid = invoice["invoice_id"]
    assert invoice["status"] == "mismatched" and invoice["received_by"] == "rita.finance"
    assert checks(invoice) == [("work-not-approved", 1), ("under-backed", 1)]
    assert invoice["match"]["commitment_id"] == str(cid)
    assert invoice["match"]["lines"][0]["backed"] == money("0.00")

    await nothing_left_to_match(invoicing)  # the check once received found nothing new

    approval_id = await sheet_approved(invoicing, kafka, pid, sheet_id, "4000.00")
    doc = await status_becomes(invoicing, iid, "matched")
    assert doc["match"]["matched_by"] == MATCHER and doc["match"]["discrepancies"] == []
    assert doc["match"]["backed"] == money("4000.00") and doc["match"]["commitment_remaining"] == money("10000.00")
    assert doc["version"] == 3

    records = await invoicing_records(kafka, pid, expected=3)
    events = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
    assert [e.name for e in events] == ["invoice-received", "invoice-mismatched", "invoice-matched"]
    headers = dict(records[2].headers)
    assert headers["ce_type"] == b"pmo.invoicing.invoice-matched.v1"
    assert headers["ce_source"] == b"/pmo/invoicing" and headers["ce_subject"] == f"invoice-{iid}".encode()
    assert headers["ce_actor"] == MATCHER.encode() and headers["ce_causationid"] == str(approval_id).encode()
    assert dict(records[0].headers)["ce_actor"] == b"rita.finance"
    received, mismatched, matched = (e.data for e in events)
    # exact decimals: strings with their currency, never floats
    assert received["lines"][0]["quantity"] == "1" and received["lines"][0]["tax_rate"] == "0.20"
    assert received["total"] == money("4800.00") and received["tax"] == money("800.00")
    assert mismatched["discrepancies"][1]["over_by"] == money("4000.00")
    assert matched["backed"] == money("4000.00") and matched["tolerance"] == "0.02"
    assert matched["lines"][0]["shortfall"] == money("0.00")


# --- facts that change: work billed twice, rejection, tolerance, credit notes ----------------------------------


async def test_work_billed_twice_is_freed_when_the_first_invoice_is_rejected(invoicing, kafka) -> None:
    pid, sheet_id = uuid.uuid4(), uuid.uuid4()
    await commitment_known(invoicing, kafka, pid)
    await sheet_approved(invoicing, kafka, pid, sheet_id, "4000.00")
    await sheet_consumed(invoicing, sheet_id)
    first = await receive(invoicing, invoice_body(str(pid), line_body("4000.00", str(sheet_id))))
    assert first["status"] == "matched"
    second = await receive(invoicing, invoice_body(str(pid), line_body("4000.00", str(sheet_id))))
    assert second["status"] == "mismatched"
    twice = second["match"]["discrepancies"][0]
    assert (twice["check"], twice["other_invoice_id"], twice["sheet_id"]) == (
        "billed-twice",
        first["invoice_id"],
        str(sheet_id),
    )
    assert ("above-commitment", None) not in checks(second)  # 4000 + 4000 within the 10000 committed

    rejected = await invoicing.post(
        f"/invoices/{first['invoice_id']}/reject", json={"reason": "sent twice"}, headers=PAUL
    )
    assert rejected.status_code == 200 and rejected.json()["rejected_by"] == "paul.finance"
    doc = await status_becomes(invoicing, second["invoice_id"], "matched")
    assert doc["match"]["matched_by"] == MATCHER

    summary = (await invoicing.get(f"/projects/{pid}/invoicing-summary")).json()
    (eur,) = summary["currencies"]
    assert (eur["invoices"], eur["invoiced"], eur["backed"], eur["backing_ratio"]) == (
        1,
        money("4000.00"),
        money("4000.00"),
        "1.0000",
    )
    assert summary["invoices_by_status"] == {"matched": 1, "rejected": 1}


async def test_a_wider_tolerance_or_a_credit_note_turns_an_under_backed_invoice_matched(invoicing, kafka) -> None:
    pid, s1, s2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await commitment_known(invoicing, kafka, pid)
    await sheet_approved(invoicing, kafka, pid, s1, "3880.00")  # 3 % short of 4000.00
    await sheet_approved(invoicing, kafka, pid, s2, "3500.00")
    await sheet_consumed(invoicing, s1)
    await sheet_consumed(invoicing, s2)
    await an_invoice_3_percent_short_turns_matched_when_the_tolerance_widens_to_5_percent(invoicing, pid, s1)
    await an_invoice_billing_500_too_much_turns_matched_when_credited_500(invoicing, pid, s2)
    await rebuilding_the_query_tables_from_the_event_table_gives_the_same_rows(invoicing)


async def an_invoice_3_percent_short_turns_matched_when_the_tolerance_widens_to_5_percent(
    invoicing: httpx.AsyncClient, pid: uuid.UUID, sheet_id: uuid.UUID
) -> None:
    short = await receive(invoicing, invoice_body(str(pid), line_body("4000.00", str(sheet_id))))
    assert checks(short) == [("under-backed", 1)]
    assert short["match"]["discrepancies"][0]["over_by"] == money("120.00")

    wider = await invoicing.put(f"/projects/{pid}/invoicing-tolerance", json={"tolerance": "0.05"}, headers=PAUL)
    assert wider.status_code == 200 and wider.json()["tolerance"] == "0.05"
    too_wide = await invoicing.put(f"/projects/{pid}/invoicing-tolerance", json={"tolerance": "0.2"}, headers=PAUL)
    assert too_wide.status_code == 422 and too_wide.json()["errors"][0]["field"] == "tolerance"
    doc = await status_becomes(invoicing, short["invoice_id"], "matched")
    assert doc["match"]["tolerance"] == "0.05"


async def an_invoice_billing_500_too_much_turns_matched_when_credited_500(
    invoicing: httpx.AsyncClient, pid: uuid.UUID, sheet_id: uuid.UUID
) -> None:
    over = await receive(invoicing, invoice_body(str(pid), line_body("4000.00", str(sheet_id))))
    assert over["status"] == "mismatched"
    bad = await invoicing.post(
        f"/invoices/{over['invoice_id']}/credit-notes",
        json={"number": "CN-1", "issued_on": str(TODAY), "reason": "x", "lines": [{"line": 2, **_credit("1.00")}]},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "lines.0.line"
    credited = await invoicing.post(
        f"/invoices/{over['invoice_id']}/credit-notes",
        json={
            "number": "CN-1",
            "issued_on": str(TODAY),
            "reason": "two days billed twice",
            "lines": [{"line": 1, **_credit("500.00")}],
        },
    )
    assert credited.status_code == 201, credited.text
    doc = credited.json()
    assert doc["status"] == "matched" and doc["invoiced"] == money("3500.00")
    assert doc["credited"] == money("600.00") and doc["amount_due"] == money("4200.00")
    assert doc["credit_notes"][0]["number"] == "CN-1"


async def rebuilding_the_query_tables_from_the_event_table_gives_the_same_rows(invoicing: httpx.AsyncClient) -> None:
    """The query tables are a function of the event table."""
    runtime = invoicing.app.state.runtime  # type: ignore[attr-defined]

    async def snapshot() -> list[Any]:
        async with runtime.engine.connect() as conn:
            rows = []
            for sql in (
                "SELECT * FROM invoices ORDER BY invoice_id",
                "SELECT * FROM invoice_citations ORDER BY invoice_id, line, sheet_id",
                "SELECT * FROM project_policies ORDER BY project_id",
            ):
                rows += [tuple(r) for r in await conn.execute(text(sql))]
            return rows

    live = await snapshot()
    assert await runtime.executor.rebuild(AGGREGATES, TABLES) == 3  # two invoices and the project's policy
    assert await snapshot() == live


async def test_a_corrected_work_sheet_matches_its_invoices_again(invoicing, kafka) -> None:
    pid, sheet_id = uuid.uuid4(), uuid.uuid4()
    await commitment_known(invoicing, kafka, pid)
    first = work_sheet_approved(pid, sheet_id, "4000.00")
    await publish(kafka, "resources", resources.TOPIC, [first], f"resource-{first.resource_id}")
    await sheet_consumed(invoicing, sheet_id)
    invoice = await receive(invoicing, invoice_body(str(pid), line_body("4000.00", str(sheet_id))))
    assert invoice["status"] == "matched"

    # the sheet is corrected to 3000.00: its first approval is reversed, then the correction approved
    corrected = work_sheet_approved(pid, sheet_id, "3000.00", version=2).model_copy(
        update={"resource_id": first.resource_id, "replaces_version": 1}
    )
    for event in (work_sheet_approval_reversed(first, superseded_by=2), corrected):
        await publish(kafka, "resources", resources.TOPIC, [event], f"resource-{first.resource_id}")

    async def rematched() -> dict[str, Any]:
        doc = (await invoicing.get(f"/invoices/{invoice['invoice_id']}")).json()
        assert checks(doc) == [("under-backed", 1)] and doc["match"]["backed"] == money("3000.00")
        return dict(doc)

    doc = await eventually(rematched, timeout=30)
    assert doc["status"] == "mismatched" and doc["match"]["lines"][0]["shortfall"] == money("1000.00")


def _credit(amount: str, rate: str = "0.20") -> dict[str, Any]:
    from decimal import Decimal

    return {"amount": money(amount), "tax": money(str((Decimal(amount) * Decimal(rate)).quantize(Decimal("0.01"))))}
