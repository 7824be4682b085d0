"""The invoicing service over HTTP against the real PostgreSQL and Kafka, fed with work sheets approved on
``pmo.resources.v1`` and commitments on ``pmo.budget.v1`` (produced here as those services publish them)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from invoicing.bootstrap import AGGREGATES, create_app
from invoicing.settings import Settings
from invoicing.tables import TABLES
from shared.contracts import budget, resources
from shared.kafka import KafkaOptions, from_record
from tests.support import auth_header, eventually, read_topic
from tests.support.invoicing import (
    DUE,
    ISSUED,
    TODAY,
    budget_committed,
    invoice_body,
    line_body,
    work_sheet_approval_reversed,
    work_sheet_approved,
)
from tests.support.money import money
from tests.support.publishing import publish
from tests.support.stored import event_count, scalar

pytestmark = pytest.mark.integration
RITA = auth_header("rita.finance", "finance")  # receives the invoices (the fixture's default)
PAUL = auth_header("paul.finance", "finance")
MATCHER = "system:invoicing-matcher"
AFTER_DUE = DUE + timedelta(days=4)


@pytest.fixture
async def invoicing(infra) -> AsyncIterator[httpx.AsyncClient]:
    schema = f"t_invoicing_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        matcher_poll_interval=0.05,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://invoicing", headers=RITA) as c,
    ):
        c.app = app  # type: ignore[attr-defined]
        yield c
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await app.state.runtime.engine.dispose()


async def commitment_known(
    client: httpx.AsyncClient, kafka: KafkaOptions, project_id: uuid.UUID, amount: str = "10000.00"
) -> uuid.UUID:
    """A commitment PO-1 with Acme on the project, published on pmo.budget.v1 and consumed."""
    cid = uuid.uuid4()
    await publish(kafka, "budget", budget.TOPIC, [budget_committed(project_id, cid, amount)], f"budget-{project_id}")

    async def consumed() -> None:
        assert await scalar(client, "SELECT count(*) FROM known_commitments WHERE commitment_id = :c", c=cid) == 1

    await eventually(consumed, timeout=30)
    return cid


async def sheet_approved(
    client: httpx.AsyncClient, kafka: KafkaOptions, project_id: uuid.UUID, sheet_id: uuid.UUID, cost: str
) -> uuid.UUID:
    """``work-sheet-approved`` published on pmo.resources.v1; returns its event id."""
    event = work_sheet_approved(project_id, sheet_id, cost)
    (event_id,) = await publish(kafka, "resources", resources.TOPIC, [event], f"resource-{event.resource_id}")
    return event_id


async def sheet_consumed(client: httpx.AsyncClient, sheet_id: uuid.UUID) -> None:
    async def consumed() -> None:
        assert await scalar(client, "SELECT count(*) FROM approved_sheets WHERE sheet_id = :s", s=sheet_id) == 1

    await eventually(consumed, timeout=30)


async def receive(client: httpx.AsyncClient, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = await client.post("/invoices", json=body, **kwargs)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/invoices/{response.json()['invoice_id']}"
    return dict(response.json())


async def status_becomes(client: httpx.AsyncClient, invoice_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        doc = (await client.get(f"/invoices/{invoice_id}")).json()
        assert doc["status"] == status, doc["status"]
        return dict(doc)

    return await eventually(check, timeout=30)


async def nothing_left_to_match(client: httpx.AsyncClient) -> None:
    async def empty() -> None:
        assert await scalar(client, "SELECT count(*) FROM rematch_queue") == 0

    await eventually(empty, timeout=30)


def checks(doc: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(d["check"], d["line"]) for d in doc["match"]["discrepancies"]]


async def invoicing_records(kafka: KafkaOptions, project_id: uuid.UUID, expected: int) -> list[Any]:
    async def on_topic() -> list[Any]:
        records = [
            r
            for r in await read_topic(kafka, "pmo.invoicing.v1", expect=0, timeout=1)
            if r.key == str(project_id).encode()
        ]
        assert len(records) == expected, [dict(r.headers)["ce_type"] for r in records]
        return records

    return await eventually(on_topic, timeout=30)


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


# --- bad input --------------------------------------------------------------------------------------------------


async def test_bad_invoices_are_422_problems_naming_the_field_and_append_nothing(invoicing, kafka) -> None:
    pid, sheet_id = uuid.uuid4(), uuid.uuid4()
    await commitment_known(invoicing, kafka, pid)
    good = line_body("4000.00", str(sheet_id))

    def body(**overrides: Any) -> dict[str, Any]:
        return invoice_body(str(pid), good, **overrides)

    usd_line = {
        **good,
        "unit_price": money("4000.00", "USD"),
        "amount": money("4000.00", "USD"),
        "tax": money("800.00", "USD"),
    }
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("amount is not quantity x price", body(lines=[{**good, "amount": money("3999.00")}]), "lines.0.amount"),
        ("lines do not add up", body(total=money("4799.99")), "total"),
        (
            "tax rate out of range",
            body(lines=[{**good, "tax_rate": "0.6", "tax": money("2400.00")}]),
            "lines.0.tax_rate",
        ),
        ("tax not amount x rate", body(lines=[{**good, "tax": money("801.00")}]), "lines.0.tax"),
        ("float amount", body(lines=[{**good, "amount": {"amount": 4000.0, "currency": "EUR"}}]), "lines.0.amount"),
        ("too many decimals", body(lines=[{**good, "unit_price": money("4000.001")}]), "lines.0.unit_price"),
        (
            "currency unlike the commitment's",
            invoice_body(str(pid), usd_line, currency="USD", total=money("4800.00", "USD")),
            "currency",
        ),
        ("due before issued", body(due_on=str(ISSUED - timedelta(days=1))), "due_on"),
        ("nothing billed", body(lines=[{**good, "bills": []}]), "lines.0.bills"),
        ("no lines", body(lines=[]), "lines"),
        ("unknown field", body(approved_by="me"), "approved_by"),
    ]
    for name, payload, field in cases:
        response = await invoicing.post("/invoices", json=payload)
        assert response.status_code == 422, (name, response.text)
        assert response.headers["content-type"] == "application/problem+json", name
        fields = [e["field"] for e in response.json()["errors"]]
        assert any(f == field or f.startswith(field + ".") for f in fields), (name, fields)
    assert await event_count(invoicing) == 0
    assert await scalar(invoicing, "SELECT count(*) FROM invoices") == 0


async def test_duplicates_stale_if_match_and_idempotent_retries(invoicing, kafka) -> None:
    pid = uuid.uuid4()
    body = invoice_body(str(pid), line_body("1000.00", str(uuid.uuid4())), number="INV-2027-0117")
    first = await receive(invoicing, body)
    assert await event_count(invoicing) == 2

    again = await invoicing.post("/invoices", json={**body, "number": " inv-2027-0117 ", "vendor": "ACME"})
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert again.json()["errors"][0]["field"] == "number"
    assert await event_count(invoicing) == 2
    other_vendor = await invoicing.post("/invoices", json={**body, "vendor": "globex"})
    assert other_vendor.status_code == 201

    iid = first["invoice_id"]
    stale = await invoicing.post(
        f"/invoices/{iid}/dispute", json={"reason": "where is the work?"}, headers={**PAUL, "If-Match": '"1"'}
    )
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    disputed = await invoicing.post(
        f"/invoices/{iid}/dispute", json={"reason": "where is the work?"}, headers={**PAUL, "If-Match": '"2"'}
    )
    assert disputed.status_code == 200 and disputed.headers["etag"] == '"3"'

    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    retried = invoice_body(str(pid), line_body("500.00", str(uuid.uuid4())))
    one = await invoicing.post("/invoices", json=retried, headers=key)
    two = await invoicing.post("/invoices", json=retried, headers=key)
    assert one.status_code == two.status_code == 201
    assert two.headers["idempotent-replayed"] == "true" and two.json() == one.json()
    assert two.headers["location"] == one.headers["location"]
    reused = await invoicing.post("/invoices", json={**retried, "number": "other"}, headers=key)
    assert reused.status_code == 422
    assert await scalar(invoicing, "SELECT count(*) FROM invoices WHERE project_id = :p", p=pid) == 3


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
