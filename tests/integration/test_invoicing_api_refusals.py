"""The invoicing service over HTTP refusing input: bad invoices as 422 problems, duplicates, stale ``If-Match``
and idempotent retries, each appending nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.invoicing import (
    ISSUED,
    invoice_body,
    line_body,
)
from tests.support.invoicing_api import (
    PAUL,
    commitment_known,
    invoicing_client,
    receive,
)
from tests.support.money import money
from tests.support.stored import event_count, scalar

pytestmark = pytest.mark.integration


@pytest.fixture
async def invoicing(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with invoicing_client(infra) as client:
        yield client


# --- bad input --------------------------------------------------------------------------------------------------


async def test_bad_invoices_are_422_problems_naming_the_field_and_append_nothing(invoicing, kafka) -> None:
    pid, sheet_id = uuid.uuid4(), uuid.uuid4()
    await commitment_known(invoicing, kafka, pid)
    good = line_body("4000.00", str(sheet_id))

    def body(**overrides: Any) -> dict[str, Any]:
        return invoice_body(str(pid), good, **overrides)

    czk_line = {  # no test records a CZK rate: an invoice in it cannot be booked in the project's EUR
        **good,
        "unit_price": money("4000.00", "CZK"),
        "amount": money("4000.00", "CZK"),
        "tax": money("800.00", "CZK"),
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
            "a currency with no exchange rate in force on its issue date",
            invoice_body(str(pid), czk_line, currency="CZK", total=money("4800.00", "CZK")),
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
