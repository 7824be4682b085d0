"""The invoicing service's money model over HTTP against the real PostgreSQL and Kafka, fed with the facts other
services publish (projects and milestones on ``pmo.projects.v1``, exchange rates and commitments on
``pmo.budget.v1``, work sheets on ``pmo.resources.v1``): an NZD invoice on a SEK project booked at the recorded rate;
goods received and an invoice citing them matched three ways; an expense claimed, approved by another person and
reimbursed; refusals that append nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from invoicing.bootstrap import create_app
from invoicing.settings import Settings
from shared.contracts import budget, projects, resources
from shared.kafka import KafkaOptions, from_record
from shared.money import Money
from tests.support import auth_header, eventually, read_topic
from tests.support.invoicing import DUE, ISSUED, TODAY, budget_committed, work_sheet_approved
from tests.support.money import money
from tests.support.publishing import publish
from tests.support.stored import event_count, scalar

pytestmark = pytest.mark.integration
RITA = auth_header("rita.finance", "finance")
PAUL = auth_header("paul.finance", "finance")
MAX = auth_header("max.manager", "resource-manager")  # the project's manager, no pmo or finance role
ROB = auth_header("rob.rm", "resource-manager")  # neither pmo, finance nor the project's manager
CLEO = auth_header("cleo.consultant", "resource-manager")
RATE_FROM = TODAY - timedelta(days=30)
# Exchange rates are facts about no project: every test publishing them on the shared topic feeds every consumer.
# These tests use pairs nobody else records (NZD->SEK, NOK->CHF), so the rate in force is the one published here.


@pytest.fixture
async def invoicing(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    schema = f"t_invoicing_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        matcher_poll_interval=0.05,
        expense_receipt_threshold=Decimal("50"),
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


async def until(client: httpx.AsyncClient, sql: str, expected: Any, **params: Any) -> None:
    async def check() -> None:
        assert await scalar(client, sql, **params) == expected

    await eventually(check, timeout=30)


async def project_known(
    client: httpx.AsyncClient, kafka: KafkaOptions, currency: str = "EUR"
) -> tuple[uuid.UUID, uuid.UUID]:
    """A project managed by max.manager with one milestone, published on pmo.projects.v1 and consumed."""
    pid, mid = uuid.uuid4(), uuid.uuid4()
    registered = projects.ProjectRegistered(
        project_id=pid,
        portfolio_id=None,
        programme_id=None,
        code=f"P-{pid.hex[:6]}",
        name="Campaign",
        objectives="Reach",
        sponsor="sam.sponsor",
        manager="max.manager",
        planned_start=TODAY - timedelta(days=90),
        planned_end=TODAY + timedelta(days=200),
        currency=currency,
        registered_by="pia.pmo",
    )
    planned = projects.MilestonePlanned(
        project_id=pid,
        milestone_id=mid,
        name="Launch",
        due_date=TODAY + timedelta(days=60),
        planned_value=Money.of("50000.00", currency),
        acceptance_criteria="Live",
    )
    for event in (registered, planned):
        await publish(kafka, "projects", projects.TOPIC, [event], f"project-{pid}")
    await until(client, "SELECT count(*) FROM known_milestones WHERE milestone_id = :m", 1, m=mid)
    return pid, mid


async def rate_known(client: httpx.AsyncClient, kafka: KafkaOptions, base: str, quote: str, rate: str) -> None:
    """``exchange-rate-recorded`` base->quote from 30 days ago, published on pmo.budget.v1 (key fx:...)."""
    event = budget.ExchangeRateRecorded(
        base=base, quote=quote, rate=Decimal(rate), effective_on=RATE_FROM, source="ECB", recorded_by="paul.finance"
    )
    await publish(kafka, "budget", budget.TOPIC, [event], f"exchange-rate-{base}-{quote}")
    await until(
        client,
        "SELECT count(*) FROM known_rates WHERE base = :b AND quote = :q AND rate = :r",
        1,
        b=base,
        q=quote,
        r=Decimal(rate),
    )


async def commitment_known(
    client: httpx.AsyncClient, kafka: KafkaOptions, pid: uuid.UUID, amount: str = "10000.00", currency: str = "EUR"
) -> uuid.UUID:
    cid = uuid.uuid4()
    event = budget_committed(pid, cid, amount, currency=currency)
    await publish(kafka, "budget", budget.TOPIC, [event], f"budget-{pid}")
    await until(client, "SELECT count(*) FROM known_commitments WHERE commitment_id = :c", 1, c=cid)
    return cid


def nzd_line(amount: str, *, sheets: tuple[str, ...] = (), receipts: tuple[str, ...] = ()) -> dict[str, Any]:
    tax = (Decimal(amount) * Decimal("0.10")).quantize(Decimal("0.01"))
    return {
        "description": "Services",
        "quantity": "1",
        "unit_price": money(amount, "NZD"),
        "amount": money(amount, "NZD"),
        "tax_rate": "0.10",
        "tax": money(str(tax), "NZD"),
        "bills": [{"sheet_id": s} for s in sheets],
        "receipts": list(receipts),
    }


def eur_line(amount: str, *, receipts: tuple[str, ...]) -> dict[str, Any]:
    tax = (Decimal(amount) * Decimal("0.20")).quantize(Decimal("0.01"))
    return {
        "description": "Licences",
        "quantity": "1",
        "unit_price": money(amount),
        "amount": money(amount),
        "tax_rate": "0.20",
        "tax": money(str(tax)),
        "receipts": list(receipts),
    }


def body(pid: uuid.UUID, currency: str, *lines: dict[str, Any], issued_on: date = ISSUED) -> dict[str, Any]:
    gross = sum(Decimal(li["amount"]["amount"]) + Decimal(li["tax"]["amount"]) for li in lines)
    return {
        "project_id": str(pid),
        "vendor": "acme",
        "number": f"INV-{uuid.uuid4().hex[:8]}",
        "issued_on": str(issued_on),
        "due_on": str(DUE),
        "currency": currency,
        "commitment_reference": "PO-1",
        "lines": list(lines),
        "total": money(str(gross), currency),
    }


async def records_of(kafka: KafkaOptions, pid: uuid.UUID, expected: int) -> list[Any]:
    async def on_topic() -> list[Any]:
        found = [
            r for r in await read_topic(kafka, "pmo.invoicing.v1", expect=0, timeout=1) if r.key == str(pid).encode()
        ]
        assert len(found) == expected, [dict(r.headers)["ce_type"] for r in found]
        return found

    records = await eventually(on_topic, timeout=30)
    return [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]


async def settled_records_of(kafka: KafkaOptions, pid: uuid.UUID, last: str) -> list[Any]:
    """The project's records on the invoicing topic once ``last`` is among them and two reads a second apart agree."""
    seen: list[int] = []

    async def on_topic() -> list[Any]:
        found = [
            r for r in await read_topic(kafka, "pmo.invoicing.v1", expect=0, timeout=1) if r.key == str(pid).encode()
        ]
        types = [dict(r.headers)["ce_type"].decode() for r in found]
        assert any(t.endswith(f".{last}.v1") for t in types), types
        seen.append(len(found))
        assert len(seen) > 1 and seen[-1] == seen[-2], types
        return found

    records = await eventually(on_topic, timeout=30)
    return [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]


# --- an invoice in another currency than the project's --------------------------------------------------------------


async def test_an_invoice_in_another_currency_is_booked_at_the_recorded_rate_and_matched_in_the_projects(
    invoicing: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    pid, _ = await project_known(invoicing, kafka, "SEK")
    await rate_known(invoicing, kafka, "NZD", "SEK", "6.2345")
    await commitment_known(invoicing, kafka, pid, "100000.00", "SEK")
    sheet_id = uuid.uuid4()
    approved = work_sheet_approved(pid, sheet_id, "24938.00", currency="SEK")  # 4000.00 NZD x 6.2345 SEK of work
    await publish(kafka, "resources", resources.TOPIC, [approved], f"resource-{approved.resource_id}")
    await until(invoicing, "SELECT count(*) FROM approved_sheets WHERE sheet_id = :s", 1, s=sheet_id)

    before = await event_count(invoicing)
    too_early = body(pid, "NZD", nzd_line("4000.00", sheets=(str(sheet_id),)), issued_on=RATE_FROM - timedelta(1))
    refused = await invoicing.post("/invoices", json=too_early)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "currency"
    assert f"no NZD->SEK rate in force on {RATE_FROM - timedelta(1)}" in refused.json()["detail"]
    assert await event_count(invoicing) == before

    response = await invoicing.post("/invoices", json=body(pid, "NZD", nzd_line("4000.00", sheets=(str(sheet_id),))))
    assert response.status_code == 201, response.text
    invoice = response.json()
    assert invoice["currency"] == "NZD" and invoice["net"] == money("4000.00", "NZD")
    assert invoice["booked"]["amount"] == money("24938.00", "SEK") and invoice["booked"]["rate"] == "6.2345"
    assert invoice["booked"]["rate_on"] == str(RATE_FROM)
    assert invoice["status"] == "matched", invoice["match"]
    sek = money("24938.00", "SEK")
    assert invoice["match"]["backed"] == sek and invoice["match"]["invoiced"] == sek
    assert invoice["match"]["commitment_remaining"] == money("100000.00", "SEK")

    received, matched = (e.data for e in await records_of(kafka, pid, expected=2))
    assert received["booked"] == {
        "amount": sek,
        "original": money("4000.00", "NZD"),
        "rate": "6.2345",
        "rate_on": str(RATE_FROM),
        "source": "ECB",
    }
    assert matched["backed"] == sek

    summary = (await invoicing.get(f"/projects/{pid}/invoicing-summary")).json()
    by_currency = {c["currency"]: c for c in summary["currencies"]}
    assert by_currency["SEK"]["invoiced"] == sek and by_currency["SEK"]["backing_ratio"] == "1.0000"
    assert by_currency["NZD"]["open"] == money("4400.00", "NZD")


# --- goods received and an invoice citing them --------------------------------------------------------------------


async def test_an_invoice_citing_goods_received_later_turns_matched_and_a_second_one_is_billed_twice(
    invoicing: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    pid, _ = await project_known(invoicing, kafka)
    cid = await commitment_known(invoicing, kafka, pid)
    before = await event_count(invoicing)
    receipt = {
        "commitment_id": str(cid),
        "category": "materials",
        "description": "20 design licences",
        "amount": money("2000.00"),
        "received_on": str(TODAY - timedelta(days=1)),
    }
    forbidden = await invoicing.post(f"/projects/{pid}/receipts", json=receipt, headers=ROB)
    assert forbidden.status_code == 403
    unknown = await invoicing.post(f"/projects/{uuid.uuid4()}/receipts", json=receipt)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "project_id"
    assert "not arrived" in unknown.json()["detail"]
    wrong = await invoicing.post(f"/projects/{pid}/receipts", json=receipt | {"commitment_id": str(uuid.uuid4())})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "commitment_id"
    assert await event_count(invoicing) == before

    # An invoice citing a receipt that is not recorded: backed by nothing.
    not_recorded = str(uuid.uuid4())
    first = await invoicing.post("/invoices", json=body(pid, "EUR", eur_line("2000.00", receipts=(not_recorded,))))
    assert first.status_code == 201 and first.json()["status"] == "mismatched"
    assert [d["check"] for d in first.json()["match"]["discrepancies"]] == ["not-received", "above-receipt"]

    recorded = await invoicing.post(f"/projects/{pid}/receipts", json=receipt, headers=MAX)  # the project's manager
    assert recorded.status_code == 201, recorded.text
    receipt_id = recorded.json()["receipt_id"]
    assert recorded.headers["location"] == f"/projects/{pid}/receipts/{receipt_id}"
    assert recorded.json()["received_by"] == "max.manager" and recorded.json()["booked"] is None

    cited = await invoicing.post("/invoices", json=body(pid, "EUR", eur_line("1980.00", receipts=(receipt_id,))))
    assert cited.status_code == 201
    assert cited.json()["status"] == "matched", cited.json()["match"]  # 20.00 short of 1980.00: within 2 %
    assert cited.json()["match"]["backed"] == money("1980.00")

    # 20.00 of the receipt is left: a second invoice of 500.00 on it is above what was received.
    second = await invoicing.post("/invoices", json=body(pid, "EUR", eur_line("500.00", receipts=(receipt_id,))))
    assert second.json()["status"] == "mismatched"
    above = second.json()["match"]["discrepancies"][0]
    assert (
        above["check"] == "above-receipt" and above["backed"] == money("20.00") and above["over_by"] == money("480.00")
    )

    # Rejecting the first citing invoice frees the receipt: the second is matched again, now backed by 500.00.
    rejected = await invoicing.post(f"/invoices/{cited.json()['invoice_id']}/reject", json={"reason": "duplicate"})
    assert rejected.status_code == 200

    async def rematched() -> None:
        doc = (await invoicing.get(f"/invoices/{second.json()['invoice_id']}")).json()
        assert doc["status"] == "matched" and doc["match"]["backed"] == money("500.00"), doc["match"]

    await eventually(rematched, timeout=30)

    listed = (await invoicing.get(f"/projects/{pid}/receipts")).json()
    assert listed["total"] == 1 and listed["items"][0]["amount"] == money("2000.00")
    reversed_ = await invoicing.post(
        f"/projects/{pid}/receipts/{receipt_id}/reverse", json={"reason": "returned to the vendor"}
    )
    assert reversed_.status_code == 200 and reversed_.json()["status"] == "reversed"

    async def not_received() -> None:
        doc = (await invoicing.get(f"/invoices/{second.json()['invoice_id']}")).json()
        assert doc["status"] == "mismatched"
        assert doc["match"]["discrepancies"][0]["check"] == "not-received"

    await eventually(not_received, timeout=30)
    # What the commands wrote is exact: three invoices received, one rejected, one receipt recorded and reversed.
    # How many times the matcher re-matched in between is not: it matches an invoice again whenever a fact it
    # depends on changed (the receipt, the commitment's remaining amount), and coalesces what changed while it was
    # busy; what holds is that every outcome differs from the one before it and the last is the invoice's state.
    events = await settled_records_of(kafka, pid, last="goods-receipt-reversed")
    names = [e.name for e in events]
    assert [n for n in names if not n.startswith("invoice-m")] == [
        "invoice-received",
        "goods-received",
        "invoice-received",
        "invoice-received",
        "invoice-rejected",
        "goods-receipt-reversed",
    ]
    outcomes: dict[str, list[tuple[str, Any]]] = {}
    for e in events:
        if e.name in {"invoice-matched", "invoice-mismatched"}:
            outcomes.setdefault(e.data["invoice_id"], []).append((e.name, {**e.data, "matched_by": None}))
    for invoice_id, seen in outcomes.items():
        assert all(a != b for a, b in pairwise(seen)), (invoice_id, seen)
    assert outcomes[second.json()["invoice_id"]][-1][0] == "invoice-mismatched"
    # mismatched on receipt (nothing received), matched once the goods were (perhaps after another mismatch with other
    # discrepancies: a fact it depends on changed in between), mismatched again at last
    second_outcomes = [n for n, _ in outcomes[second.json()["invoice_id"]]]
    assert second_outcomes[0] == "invoice-mismatched" and "invoice-matched" in second_outcomes, second_outcomes
    assert outcomes[cited.json()["invoice_id"]][0][0] == "invoice-matched"


# --- an expense claimed, approved by another person and reimbursed ------------------------------------------------


async def test_an_expense_claimed_approved_by_another_person_and_reimbursed(
    invoicing: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    pid, mid = await project_known(invoicing, kafka, "NOK")
    await rate_known(invoicing, kafka, "NOK", "CHF", "0.0868")  # only the inverse of CHF->NOK is recorded
    base = f"/projects/{pid}/expenses"
    claim = {
        "category": "travel",
        "description": "Flight to the client",
        "amount": money("434.00", "CHF"),
        "incurred_on": str(TODAY - timedelta(days=2)),
        "receipt_reference": "AF-0042",
        "milestone_id": str(mid),
    }
    before = await event_count(invoicing)
    no_receipt = await invoicing.post(base, json=claim | {"receipt_reference": None}, headers=CLEO)
    assert no_receipt.status_code == 422 and no_receipt.json()["errors"][0]["field"] == "receipt_reference"
    other_milestone = await invoicing.post(base, json=claim | {"milestone_id": str(uuid.uuid4())}, headers=CLEO)
    assert other_milestone.status_code == 422 and other_milestone.json()["errors"][0]["field"] == "milestone_id"
    smuggled = await invoicing.post(base, json=claim | {"claimant": "someone.else"}, headers=CLEO)
    assert smuggled.status_code == 422
    unknown = await invoicing.post(f"/projects/{uuid.uuid4()}/expenses", json=claim, headers=CLEO)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "project_id"
    as_viewer = await invoicing.post(base, json=claim, headers=auth_header("vic", "viewer"))
    assert as_viewer.status_code == 403
    assert await event_count(invoicing) == before

    claimed = await invoicing.post(base, json=claim, headers=CLEO)
    assert claimed.status_code == 201, claimed.text
    expense = claimed.json()
    eid = expense["expense_id"]
    # 434.00 CHF / 0.0868 = 5000.00 NOK (above the threshold of 50: the receipt reference is required).
    assert expense["claimant"] == "cleo.consultant" and expense["status"] == "claimed"
    assert expense["in_project_currency"] == money("5000.00", "NOK")

    own = await invoicing.post(f"{base}/{eid}/approve", json={}, headers=CLEO)
    assert own.status_code == 403  # cleo is neither pmo, finance nor the project's manager
    not_allowed = await invoicing.post(f"{base}/{eid}/approve", json={}, headers=ROB)
    assert not_allowed.status_code == 403
    self_approval = await invoicing.post(
        f"{base}/{eid}/approve", json={}, headers=auth_header("cleo.consultant", "pmo")
    )
    assert self_approval.status_code == 409 and self_approval.json()["title"] == "Separation of duties"
    assert await event_count(invoicing) == before + 1

    approved = await invoicing.post(f"{base}/{eid}/approve", json={}, headers=MAX)
    assert approved.status_code == 200 and approved.json()["approved_by"] == "max.manager"
    early = await invoicing.post(f"{base}/{eid}/reimburse", json={"paid_on": str(TODAY - timedelta(days=5))})
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "paid_on"
    paid = await invoicing.post(f"{base}/{eid}/reimburse", json={"reference": "PAY-77"}, headers=PAUL)
    assert paid.status_code == 200 and paid.json()["status"] == "reimbursed"

    listed = (await invoicing.get(base, params={"status": "reimbursed"})).json()
    assert listed["total"] == 1 and listed["items"][0]["expense_id"] == eid
    one = await invoicing.get(f"{base}/{eid}")
    assert one.status_code == 200 and one.json()["payment_reference"] == "PAY-77"
    assert (await invoicing.get(f"/projects/{uuid.uuid4()}/expenses/{eid}")).status_code == 404

    events = await records_of(kafka, pid, expected=3)
    assert [e.name for e in events] == ["expense-claimed", "expense-approved", "expense-reimbursed"]
    claimed_event = events[0].data
    assert claimed_event["claimant"] == "cleo.consultant"
    assert claimed_event["booked"]["amount"] == money("5000.00", "NOK") and claimed_event["booked"]["rate_on"] == str(
        RATE_FROM
    )
    assert events[1].metadata.actor == "max.manager" and events[2].data["recorded_by"] == "paul.finance"
