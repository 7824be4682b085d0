"""The budget's money model over HTTP against the real PostgreSQL and Kafka: exchange rates recorded and read back,
a USD commitment on a EUR project booked at the recorded rate and published with ``booked``, planned funding, an
estimate to complete on the topic, and bad input refused naming the field with nothing appended."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared.kafka import KafkaOptions, from_record
from tests.integration.test_budget_api import baseline_body, budget, known_project
from tests.support import auth_header, eventually, read_topic
from tests.support.clock import TODAY
from tests.support.money import money

pytestmark = pytest.mark.integration
__all__ = ["budget"]  # the fixture, shared with test_budget_api

RATE_DAY = TODAY - timedelta(10)
PAUL = auth_header("paul.finance", "finance")
PAT = auth_header("pat.pmo", "pmo")


async def events_of(budget: httpx.AsyncClient, stream_id: str) -> list[str]:
    """The names of the events the budget service stored on ``stream_id``, in order."""
    async with budget.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = await conn.execute(
            text("SELECT name FROM events WHERE stream_id = :s ORDER BY version"), {"s": stream_id}
        )
        return [r.name for r in rows]


async def on_topic(kafka: KafkaOptions, key: str, count: int) -> list[Any]:
    """The events published on ``pmo.budget.v1`` under ``key``, once there are ``count``."""

    async def arrived() -> list[Any]:
        records = [r for r in await read_topic(kafka, "pmo.budget.v1", expect=0, timeout=1) if r.key == key.encode()]
        assert len(records) >= count
        return records

    records = await eventually(arrived, timeout=30)
    return [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]


async def test_a_rate_is_recorded_replaced_read_back_in_force_or_inverted_and_published(
    budget: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    source = f"ECB reference rate {uuid.uuid4().hex[:6]}"  # tells this test's records apart on the shared topic
    url = f"/exchange-rates/USD/EUR/{RATE_DAY}"
    first = await budget.put(url, json={"rate": "0.9215", "source": source})
    assert first.status_code == 200, first.text
    assert first.json() == {
        "base": "USD",
        "quote": "EUR",
        "effective_on": str(RATE_DAY),
        "rate": "0.9215",
        "source": source,
        "recorded": True,
        "replaces_rate": None,
        "version": 1,
    }
    again = await budget.put(url, json={"rate": "0.92150", "source": source})
    assert again.status_code == 200 and again.json()["recorded"] is False
    assert await events_of(budget, "fx-USD-EUR") == ["exchange-rate-recorded"]  # nothing appended
    replaced = await budget.put(url, json={"rate": "0.92", "source": source}, headers=PAT)  # the PMO may too
    assert replaced.status_code == 200 and replaced.json()["replaces_rate"] == "0.9215"
    viewer = await budget.put(url, json={"rate": "0.93", "source": source}, headers=auth_header("vic", "viewer"))
    assert viewer.status_code == 403

    in_force = await budget.get("/exchange-rates", params={"base": "USD", "quote": "EUR", "on": str(TODAY)})
    assert in_force.status_code == 200
    assert (in_force.json()["rate"], in_force.json()["effective_on"], in_force.json()["source"]) == (
        "0.92",
        str(RATE_DAY),
        source,
    )
    inverse = (await budget.get("/exchange-rates", params={"base": "EUR", "quote": "USD", "on": str(TODAY)})).json()
    assert inverse["inverse_of"] == {"base": "USD", "quote": "EUR", "rate": "0.92"}
    assert inverse["rate"].startswith("1.08695652173913043478")  # 1 / 0.92
    before = await budget.get(
        "/exchange-rates", params={"base": "USD", "quote": "EUR", "on": str(RATE_DAY - timedelta(1))}
    )
    assert before.status_code == 404 and before.headers["content-type"] == "application/problem+json"
    history = (await budget.get("/exchange-rates/USD/EUR")).json()
    assert history["total"] == 1 and history["items"][0]["rate"] == "0.92"
    assert history["items"][0]["replaces_rate"] == "0.9215" and history["items"][0]["recorded_by"] == "pat.pmo"

    events = [e for e in await on_topic(kafka, "fx:USD-EUR", 2) if e.data["source"] == source]
    assert [(e.name, e.data["rate"], e.data["replaces_rate"]) for e in events] == [
        ("exchange-rate-recorded", "0.9215", None),
        ("exchange-rate-recorded", "0.92", "0.9215"),
    ]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/exchange-rates/USD/EUR/2027-03-01", {"rate": "0", "source": "ECB"}, "rate"),
        ("/exchange-rates/USD/EUR/2027-03-01", {"rate": "-1.2", "source": "ECB"}, "rate"),
        ("/exchange-rates/USD/EUR/2027-03-01", {"rate": 1.08, "source": "ECB"}, "rate"),
        ("/exchange-rates/USD/EUR/2027-03-01", {"rate": "1e3", "source": "ECB"}, "rate"),
        ("/exchange-rates/USD/EUR/2027-03-01", {"rate": "1000000000", "source": "ECB"}, "rate"),
        ("/exchange-rates/USD/EUR/2027-03-01", {"rate": "1.0000000000001", "source": "ECB"}, "rate"),
        ("/exchange-rates/USD/EUR/2027-03-01", {"rate": "1.08", "source": ""}, "source"),
        ("/exchange-rates/USD/EUR/2027-03-01", {"rate": "1.08", "source": "x" * 201}, "source"),
        ("/exchange-rates/USD/USD/2027-03-01", {"rate": "1", "source": "ECB"}, "quote_currency"),
        ("/exchange-rates/XXX/EUR/2027-03-01", {"rate": "1.08", "source": "ECB"}, "base"),
        ("/exchange-rates/USD/EUR/2300-01-01", {"rate": "1.08", "source": "ECB"}, "effective_on"),
    ],
)
async def test_a_bad_rate_is_422_naming_the_field_and_appends_nothing(
    budget: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = await budget.put(path, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"] == field for e in response.json()["errors"]), response.json()
    async with budget.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        assert (await conn.execute(text("SELECT count(*) FROM events"))).scalar() == 0


async def test_a_usd_commitment_on_a_eur_project_is_booked_at_the_recorded_rate_and_published_with_it(
    client: httpx.AsyncClient, budget: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    pid, _ = await known_project(client, budget)
    base = f"/budgets/{pid}"
    assert (await budget.post(f"{base}/baseline", json=baseline_body())).status_code == 201
    po = {"kind": "purchase_order", "vendor": "Globex Inc.", "category": "subcontracting", "expected_invoices": []}

    no_rate = await budget.post(
        f"{base}/commitments", json={**po, "reference": "PO-US-0", "amount": money("10.00", "USD")}
    )
    assert no_rate.status_code == 422 and no_rate.json()["errors"][0]["field"] == "amount.currency"
    assert "no USD->EUR rate in force on" in no_rate.json()["detail"]
    assert await events_of(budget, f"budget-{pid}") == ["budget-baselined"]

    source = "ECB reference rate"
    assert (await budget.put(f"/exchange-rates/USD/EUR/{RATE_DAY}", json={"rate": "0.92", "source": source})).is_success
    committed = await budget.post(
        f"{base}/commitments",
        json={
            **po,
            "reference": "PO-US-1",
            "amount": money("43000.00", "USD"),
            "expected_invoices": [{"on": str(TODAY + timedelta(30)), "amount": money("43000.00", "USD")}],
        },
    )
    assert committed.status_code == 201, committed.text
    # 43,000.00 USD x 0.92 = 39,560.00 EUR: within the 40,000.00 subcontracting budget though 43,000 is not
    assert committed.json()["booked"] == money("39560.00") and committed.json()["overrun"] is None
    view = (await budget.get(base)).json()
    sub = next(c for c in view["categories"] if c["category"] == "subcontracting")
    assert (sub["committed"], sub["remaining"]) == (money("39560.00"), money("440.00"))
    await budget.put(f"{base}/overrun-policy", json={"policy": "block"})
    blocked = await budget.post(f"{base}/commitments", json={**po, "reference": "PO-EU-2", "amount": money("440.01")})
    assert blocked.status_code == 409  # 39,560.00 + 440.01 passes the budget by 0.01

    events = await on_topic(kafka, pid, 3)
    assert [e.name for e in events] == ["budget-baselined", "budget-committed", "overrun-policy-set"]
    assert events[1].data["amount"] == money("43000.00", "USD")
    assert events[1].data["booked"] == {
        "amount": money("39560.00"),
        "original": money("43000.00", "USD"),
        "rate": "0.92",
        "rate_on": str(RATE_DAY),
        "source": source,
    }


async def test_funding_is_planned_secured_in_another_currency_and_withdrawn(
    client: httpx.AsyncClient, budget: httpx.AsyncClient
) -> None:
    pid, _ = await known_project(client, budget)
    base = f"/budgets/{pid}"
    assert (await budget.post(f"{base}/baseline", json=baseline_body())).status_code == 201
    await budget.put(f"/exchange-rates/EUR/USD/{RATE_DAY}", json={"rate": "1.25", "source": "ECB"})
    source = (await budget.post(f"{base}/funding-sources", json={"name": "US client", "kind": "client"})).json()
    planned = await budget.post(
        f"{base}/funding-sources/{source['source_id']}/planned-tranches",
        json={"amount": money("50000.00", "USD"), "expected_on": str(TODAY + timedelta(30))},
    )
    assert planned.status_code == 201, planned.text
    assert planned.json()["status"] == "planned" and planned.json()["booked"] == money("40000.00")  # 50,000 / 1.25
    tranche = planned.json()["tranche_id"]
    dropped = (
        await budget.post(
            f"{base}/funding-sources/{source['source_id']}/planned-tranches",
            json={"amount": money("7000.00"), "expected_on": str(TODAY + timedelta(60))},
        )
    ).json()
    funding = (await budget.get(f"{base}/funding", params={"on": str(TODAY + timedelta(90))})).json()
    assert funding["available"] == money("0.00") and funding["planned"] == money("47000.00")

    secured = await budget.post(
        f"{base}/tranches/{tranche}/secure", json={"amount": money("45000.00", "USD"), "available_on": str(TODAY)}
    )
    assert secured.status_code == 200 and secured.json()["status"] == "secured", secured.text
    withdrawn = await budget.post(
        f"{base}/tranches/{dropped['tranche_id']}/withdraw",
        json={"withdrawn_on": str(TODAY), "reason": "the second call was cancelled"},
    )
    assert withdrawn.status_code == 200
    funding = (await budget.get(f"{base}/funding", params={"on": str(TODAY)})).json()
    assert funding["available"] == money("36000.00") and funding["planned"] == money("0.00")  # 45,000 / 1.25
    again = await budget.post(
        f"{base}/tranches/{tranche}/secure", json={"amount": money("45000.00", "USD"), "available_on": str(TODAY)}
    )
    assert again.status_code == 409
    names = await events_of(budget, f"budget-{pid}")
    assert names[-4:] == ["funding-planned", "funding-planned", "funding-secured", "funding-withdrawn"]


async def test_an_estimate_to_complete_by_the_manager_or_the_pmo_reaches_the_topic(
    client: httpx.AsyncClient, budget: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    pid, _ = await known_project(client, budget)  # managed by max.manager
    base = f"/budgets/{pid}"
    assert (await budget.post(f"{base}/baseline", json=baseline_body())).status_code == 201
    month = TODAY.strftime("%Y-%m")
    body = {
        "categories": [
            {"category": "labour", "amount": money("30000.00")},
            {"category": "materials", "amount": money("12500.50")},
        ],
        "months": [{"month": month, "amount": money("42500.50")}],
        "note": "after the design review",
    }
    not_adding_up = await budget.post(
        f"{base}/estimates", json={**body, "months": [{"month": month, "amount": money("42500.49")}]}, headers=PAT
    )
    assert not_adding_up.status_code == 422 and not_adding_up.json()["errors"][0]["field"] == "months"
    future = await budget.post(f"{base}/estimates", json={**body, "as_of": str(TODAY + timedelta(1))}, headers=PAT)
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "as_of"
    bad_month = await budget.post(
        f"{base}/estimates", json={**body, "months": [{"month": "2027-13", "amount": money("42500.50")}]}, headers=PAT
    )
    assert bad_month.status_code == 422 and bad_month.json()["errors"][0]["field"].startswith("months.0.month")
    not_the_manager = await budget.post(f"{base}/estimates", json=body, headers=PAUL)
    assert not_the_manager.status_code == 403
    assert await events_of(budget, f"budget-{pid}") == ["budget-baselined"]  # nothing appended

    by_manager = await budget.post(
        f"{base}/estimates", json=body, headers=auth_header("max.manager", "resource-manager")
    )
    assert by_manager.status_code == 201, by_manager.text
    assert by_manager.json()["total"] == money("42500.50") and by_manager.json()["as_of"] == str(TODAY)
    by_pmo = await budget.post(f"{base}/estimates", json={**body, "note": "revised"}, headers=PAT)
    assert by_pmo.status_code == 201
    listed = (await budget.get(f"{base}/estimates")).json()
    assert listed["total"] == 2 and [e["note"] for e in listed["items"]] == ["revised", "after the design review"]
    assert listed["items"][1]["submitted_by"] == "max.manager"

    events = await on_topic(kafka, pid, 3)
    submitted = [e for e in events if e.name == "estimate-to-complete-submitted"]
    assert len(submitted) == 2 and submitted[0].data["total"] == money("42500.50")
    assert submitted[0].data["months"] == [{"month": month, "amount": money("42500.50")}]


async def test_the_query_tables_with_rates_bookings_and_estimates_are_rebuilt_equal_from_the_event_table(
    client: httpx.AsyncClient, budget: httpx.AsyncClient
) -> None:
    from budget.bootstrap import AGGREGATES
    from budget.tables import TABLES

    pid, _ = await known_project(client, budget)
    base = f"/budgets/{pid}"
    assert (await budget.post(f"{base}/baseline", json=baseline_body())).status_code == 201
    for day, rate in ((RATE_DAY - timedelta(5), "0.91"), (RATE_DAY, "0.9"), (RATE_DAY, "0.92")):
        assert (await budget.put(f"/exchange-rates/USD/EUR/{day}", json={"rate": rate, "source": "ECB"})).is_success
    po = {"kind": "purchase_order", "vendor": "Globex Inc.", "category": "materials", "reference": "PO-R"}
    assert (await budget.post(f"{base}/commitments", json={**po, "amount": money("100.00", "USD")})).status_code == 201
    source = (await budget.post(f"{base}/funding-sources", json={"name": "Grant", "kind": "grant"})).json()
    planned = f"{base}/funding-sources/{source['source_id']}/planned-tranches"
    assert (
        await budget.post(planned, json={"amount": money("10.00", "USD"), "expected_on": str(TODAY)})
    ).status_code == 201
    body = {"categories": [{"category": "labour", "amount": money("5.00")}]}
    body["months"] = [{"month": TODAY.strftime("%Y-%m"), "amount": money("5.00")}]
    assert (await budget.post(f"{base}/estimates", json=body, headers=PAT)).status_code == 201

    runtime = budget.app.state.runtime  # type: ignore[attr-defined]

    async def snapshot() -> dict[str, list[Any]]:
        async with runtime.engine.connect() as conn:
            return {
                t: [tuple(r) for r in await conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2, 3"))] for t in TABLES
            }

    live = await snapshot()
    assert len(live["exchange_rates"]) == 2 and len(live["estimates"]) == 1
    assert await runtime.executor.rebuild(AGGREGATES, TABLES) == 2  # the budget and the USD-EUR pair
    assert await snapshot() == live
