"""The invoicing service over HTTP approving and paying invoices: approval rules, payments, queries and the
separation of duties between who receives, approves and pays."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.kafka import KafkaOptions, from_record
from tests.support import auth_header
from tests.support.invoicing import (
    DUE,
    TODAY,
    invoice_body,
    line_body,
)
from tests.support.invoicing_api import (
    AFTER_DUE,
    PAUL,
    RITA,
    commitment_known,
    invoicing_client,
    invoicing_records,
    receive,
    sheet_approved,
    sheet_consumed,
)
from tests.support.money import money
from tests.support.stored import event_count

pytestmark = pytest.mark.integration


@pytest.fixture
async def invoicing(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with invoicing_client(infra) as client:
        yield client


# --- the life of an invoice: approval, payments, queries ------------------------------------------------------


async def test_approval_rules_payments_and_queries(invoicing, kafka) -> None:
    pid, iid = await a_mismatched_invoice_received_by_rita(invoicing, kafka)
    base = f"/invoices/{iid}"
    await approval_is_refused_to_a_service_without_a_reason_to_its_receiver_and_with_smuggled_fields(invoicing, base)
    await paul_approves_it_with_an_override(invoicing, base)
    erp = auth_header("erp", "service")  # pays: neither the receiver (rita) nor the approver (paul)
    await a_payment_above_what_is_due_is_refused_and_a_partial_one_recorded(invoicing, base, erp)
    await queries_find_it_by_project_vendor_status_and_due_date_and_judge_it_overdue(invoicing, pid, iid)
    await the_rest_is_paid(invoicing, base, erp)
    await both_payments_are_published(kafka, pid)


async def a_mismatched_invoice_received_by_rita(
    invoicing: httpx.AsyncClient, kafka: KafkaOptions
) -> tuple[uuid.UUID, str]:
    pid, sheet_id = uuid.uuid4(), uuid.uuid4()
    await commitment_known(invoicing, kafka, pid)
    body = invoice_body(str(pid), line_body("4000.00", str(sheet_id)))
    invoice = await receive(invoicing, body)
    iid = invoice["invoice_id"]
    assert invoice["status"] == "mismatched"
    return pid, iid


async def approval_is_refused_to_a_service_without_a_reason_to_its_receiver_and_with_smuggled_fields(
    invoicing: httpx.AsyncClient, base: str
) -> None:
    as_service = await invoicing.post(f"{base}/approve", json={}, headers=auth_header("erp", "service"))
    assert as_service.status_code == 403
    no_reason = await invoicing.post(f"{base}/approve", json={}, headers=PAUL)
    assert no_reason.status_code == 409 and no_reason.headers["content-type"] == "application/problem+json"
    assert no_reason.json()["errors"][0]["field"] == "override_reason"
    own = await invoicing.post(f"{base}/approve", json={"override_reason": "sheet signed on paper"})
    assert own.status_code == 409 and "other than whoever received it" in own.json()["detail"]
    smuggled = await invoicing.post(f"{base}/approve", json={"override_reason": "x", "approved_by": "rita"})
    assert smuggled.status_code == 422
    assert await event_count(invoicing) == 2


async def paul_approves_it_with_an_override(invoicing: httpx.AsyncClient, base: str) -> None:
    approved = await invoicing.post(f"{base}/approve", json={"override_reason": "sheet signed on paper"}, headers=PAUL)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["approved_by"] == "paul.finance"
    assert approved.headers["etag"] == '"3"'


async def a_payment_above_what_is_due_is_refused_and_a_partial_one_recorded(
    invoicing: httpx.AsyncClient, base: str, erp: dict[str, str]
) -> None:
    before = await event_count(invoicing)
    above = await invoicing.post(
        f"{base}/payments", json={"amount": money("4800.01"), "paid_on": str(TODAY)}, headers=erp
    )
    assert above.status_code == 422 and above.headers["content-type"] == "application/problem+json"
    assert above.json()["errors"][0]["field"] == "amount" and "4800.00" in above.json()["detail"]
    assert await event_count(invoicing) == before
    partial = await invoicing.post(
        f"{base}/payments", json={"amount": money("1800.00"), "paid_on": str(TODAY), "reference": "B-1"}, headers=erp
    )
    assert partial.status_code == 201, partial.text
    assert partial.json()["status"] == "partially_paid" and partial.json()["amount_due"] == money("3000.00")


async def queries_find_it_by_project_vendor_status_and_due_date_and_judge_it_overdue(
    invoicing: httpx.AsyncClient, pid: uuid.UUID, iid: str
) -> None:
    listed = (await invoicing.get("/invoices", params={"project_id": str(pid), "vendor": " ACME "})).json()
    assert listed["total"] == 1 and listed["items"][0]["invoice_id"] == iid
    assert (await invoicing.get("/invoices", params={"status": "partially_paid", "project_id": str(pid)})).json()[
        "total"
    ] == 1
    assert (await invoicing.get("/invoices", params={"project_id": str(pid), "due_before": str(DUE)})).json()[
        "total"
    ] == 0
    late = (
        await invoicing.get("/invoices", params={"project_id": str(pid), "overdue": "true", "on": str(AFTER_DUE)})
    ).json()
    assert late["total"] == 1 and late["items"][0]["overdue"] is True
    viewer = auth_header("vera", "viewer")
    summary = (
        await invoicing.get(f"/projects/{pid}/invoicing-summary", params={"on": str(AFTER_DUE)}, headers=viewer)
    ).json()
    (eur,) = summary["currencies"]
    assert (eur["invoiced"], eur["backed"], eur["backing_ratio"], eur["below_target"]) == (
        money("4000.00"),
        money("0.00"),
        "0.0000",
        True,
    )
    assert (eur["open"], eur["overdue"], eur["overdue_invoices"]) == (money("3000.00"), money("3000.00"), 1)
    assert summary["backing_target"] == "0.90" and summary["tolerance"] == "0.02"


async def the_rest_is_paid(invoicing: httpx.AsyncClient, base: str, erp: dict[str, str]) -> None:
    full = await invoicing.post(
        f"{base}/payments", json={"amount": money("3000.00"), "paid_on": str(TODAY)}, headers=erp
    )
    assert full.status_code == 201 and full.json()["status"] == "paid"
    doc = (await invoicing.get(base)).json()
    assert [p["amount"] for p in doc["payments"]] == [money("1800.00"), money("3000.00")]
    assert doc["overdue"] is False and doc["amount_due"] == money("0.00")


async def both_payments_are_published(kafka: KafkaOptions, pid: uuid.UUID) -> None:
    records = await invoicing_records(kafka, pid, expected=5)
    paid = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records][-2:]
    assert [e.name for e in paid] == ["invoice-paid", "invoice-paid"]
    assert (paid[0].data["amount"], paid[0].data["total_paid"], paid[0].data["remaining"]) == (
        money("1800.00"),
        money("1800.00"),
        money("3000.00"),
    )
    assert paid[1].data["remaining"] == money("0.00") and paid[1].data["fully_paid"] is True
    assert paid[0].metadata.actor == "erp"


# --- separation of duties ---------------------------------------------------------------------------------------


async def test_one_finance_user_cannot_receive_approve_and_pay_an_invoice_alone(invoicing, kafka) -> None:
    pid, sheet_id = uuid.uuid4(), uuid.uuid4()
    fiona, fiona_fullwidth = auth_header("fiona.finance", "finance"), auth_header("\uff46iona.finance", "finance")
    await commitment_known(invoicing, kafka, pid, amount="60000.00")
    await sheet_approved(invoicing, kafka, pid, sheet_id, "55440.00")
    await sheet_consumed(invoicing, sheet_id)
    invoice = await receive(invoicing, invoice_body(str(pid), line_body("55440.00", str(sheet_id))), headers=fiona)
    assert invoice["status"] == "matched" and invoice["total"] == money("66528.00")
    base = f"/invoices/{invoice['invoice_id']}"

    for same in (fiona, fiona_fullwidth):
        own = await invoicing.post(f"{base}/approve", json={}, headers=same)
        assert own.status_code == 409 and own.json()["title"] == "Separation of duties", own.text
    approved = await invoicing.post(f"{base}/approve", json={}, headers=PAUL)
    assert approved.status_code == 200 and approved.json()["approved_by"] == "paul.finance"
    payment = {"amount": money("66528.00"), "paid_on": str(TODAY)}
    for name, who in (("approver", PAUL), ("receiver", fiona)):
        refused = await invoicing.post(f"{base}/payments", json=payment, headers=who)
        assert refused.status_code == 409 and refused.json()["title"] == "Separation of duties", (name, refused.text)
    paid = await invoicing.post(f"{base}/payments", json=payment, headers=RITA)
    assert paid.status_code == 201 and paid.json()["status"] == "paid", paid.text
