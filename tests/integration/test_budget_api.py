"""The budget service over HTTP against the real PostgreSQL and Kafka, fed by the projects service's topic."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from budget.bootstrap import create_app
from budget.settings import Settings
from shared.kafka import KafkaOptions, from_record
from tests.support import auth_header, eventually, read_topic
from tests.support.clock import TODAY
from tests.support.money import money
from tests.support.projects import milestone_body, register

pytestmark = pytest.mark.integration
PAUL = auth_header("paul.finance", "finance")


@pytest.fixture
async def budget(infra) -> AsyncIterator[httpx.AsyncClient]:
    schema = f"t_budget_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    headers = auth_header("fiona.finance", "finance")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://budget", headers=headers) as c,
    ):
        c.app = app  # type: ignore[attr-defined]
        yield c
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await app.state.runtime.engine.dispose()


def baseline_body(total: str = "100000.00", labour: str = "60000.00", sub: str = "40000.00") -> dict[str, Any]:
    return {
        "total": money(total),
        "categories": [
            {"category": "labour", "amount": money(labour)},
            {"category": "subcontracting", "amount": money(sub)},
        ],
    }


async def known_project(client: httpx.AsyncClient, budget: httpx.AsyncClient) -> tuple[str, str]:
    """A project registered on the projects service, with one milestone, once the budget service knows both."""
    project = await register(client, planned_start=str(TODAY - timedelta(30)))
    pid = project["project_id"]
    milestone = await client.post(f"/projects/{pid}/milestones", json=milestone_body(due_date=str(TODAY)))
    assert milestone.status_code == 201
    mid = milestone.json()["milestone_id"]

    async def known() -> None:
        async with budget.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
            found = (
                await conn.execute(text("SELECT count(*) FROM known_milestones WHERE milestone_id = :m"), {"m": mid})
            ).scalar()
        assert found == 1

    await eventually(known, timeout=30)
    return pid, mid


async def test_a_baseline_is_refused_for_an_unknown_project_and_accepted_once_its_registration_is_consumed(
    client, budget
) -> None:
    project = await register(client)
    pid = project["project_id"]
    # Straight after registration the budget service may not know it yet; a project nobody registered never is.
    unknown = await budget.post(f"/budgets/{uuid.uuid4()}/baseline", json=baseline_body())
    assert unknown.status_code == 404 and "not known to the budget service" in unknown.json()["detail"]

    async def accepted() -> httpx.Response:
        response = await budget.post(f"/budgets/{pid}/baseline", json=baseline_body())
        assert response.status_code == 201, response.text
        return response

    response = await eventually(accepted, timeout=30)
    assert response.json()["bac"] == money("100000.00")
    assert response.headers["etag"] == '"1"'


EXPECTED_EVENTS = [
    "budget-baselined",
    "budget-change-requested",
    "budget-change-approved",
    "funding-source-added",
    "funding-secured",
    "funding-secured",
    "funding-withdrawn",
    "budget-committed",
    "budget-committed",
    "overrun-policy-set",
]
"""What the budget's life below publishes, in order."""


async def test_budget_life_with_change_funding_commitments_and_its_events_on_kafka(client, budget, kafka) -> None:
    pid, mid = await known_project(client, budget)
    base = f"/budgets/{pid}"
    await baseline_phased_on_the_milestone_once(budget, base, mid)
    await a_change_approved_by_someone_other_than_its_requester(budget, base)
    await funding_counted_by_date_until_a_tranche_is_withdrawn(budget, base)
    await commitments_warned_then_blocked_past_the_category_budget(budget, base, mid)
    await the_budget_shows_the_overrun_and_lists_the_commitments(budget, base, mid)
    await its_events_are_on_kafka_in_order(kafka, pid)


async def baseline_phased_on_the_milestone_once(budget: httpx.AsyncClient, base: str, mid: str) -> None:
    body = baseline_body()
    body["phasing"] = [{"milestone_id": mid, "amount": money("100000.00")}]
    assert (await budget.post(f"{base}/baseline", json=body)).status_code == 201
    again = await budget.post(f"{base}/baseline", json=baseline_body())
    assert again.status_code == 409


async def a_change_approved_by_someone_other_than_its_requester(budget: httpx.AsyncClient, base: str) -> None:
    change = (
        await budget.post(
            f"{base}/change-requests",
            json={
                "category": "subcontracting",
                "amount": money("5000.00"),
                "reason": "extra module",
            },
            headers=PAUL,
        )
    ).json()
    assert change["requested_by"] == "paul.finance"  # the acting user, from the token
    own = await budget.post(f"{base}/change-requests/{change['change_id']}/approve", json={}, headers=PAUL)
    assert own.status_code == 409 and "other than its requester" in own.json()["detail"]
    approved = await budget.post(f"{base}/change-requests/{change['change_id']}/approve", json={})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"


async def funding_counted_by_date_until_a_tranche_is_withdrawn(budget: httpx.AsyncClient, base: str) -> None:
    source = (await budget.post(f"{base}/funding-sources", json={"name": "Client", "kind": "client"})).json()
    t1 = (
        await budget.post(
            f"{base}/funding-sources/{source['source_id']}/tranches",
            json={"amount": money("60000.00"), "available_on": str(TODAY - timedelta(1))},
        )
    ).json()
    await budget.post(
        f"{base}/funding-sources/{source['source_id']}/tranches",
        json={"amount": money("45000.00"), "available_on": str(TODAY + timedelta(60))},
    )
    funding = (await budget.get(f"{base}/funding", params={"on": str(TODAY)})).json()
    assert funding["available"] == money("60000.00")
    later = (await budget.get(f"{base}/funding", params={"on": str(TODAY + timedelta(60))})).json()
    assert later["available"] == money("105000.00")
    withdrawn = await budget.post(
        f"{base}/tranches/{t1['tranche_id']}/withdraw",
        json={"withdrawn_on": str(TODAY), "reason": "client delayed payment"},
    )
    assert withdrawn.status_code == 200
    assert (await budget.get(f"{base}/funding", params={"on": str(TODAY)})).json()["available"] == money("0.00")


async def commitments_warned_then_blocked_past_the_category_budget(
    budget: httpx.AsyncClient, base: str, mid: str
) -> None:
    po = {
        "kind": "subcontract",
        "vendor": "Acme",
        "reference": "PO-1",
        "category": "subcontracting",
        "milestone_id": mid,
        "amount": money("40000.00"),
        "expected_invoices": [{"on": str(TODAY + timedelta(30)), "amount": money("40000.00")}],
    }
    first = await budget.post(f"{base}/commitments", json=po)
    assert first.status_code == 201 and first.json()["overrun"] is None
    overrun = await budget.post(
        f"{base}/commitments", json={**po, "reference": "PO-2", "amount": money("10000.00"), "expected_invoices": []}
    )
    assert overrun.status_code == 201
    assert overrun.json()["overrun"]["over_by"] == money("5000.00")  # 50000 committed vs 45000 budget
    await budget.put(f"{base}/overrun-policy", json={"policy": "block"})
    blocked = await budget.post(
        f"{base}/commitments", json={**po, "reference": "PO-3", "amount": money("1.00"), "expected_invoices": []}
    )
    assert blocked.status_code == 409 and blocked.headers["content-type"] == "application/problem+json"


async def the_budget_shows_the_overrun_and_lists_the_commitments(
    budget: httpx.AsyncClient, base: str, mid: str
) -> None:
    view = (await budget.get(base)).json()
    sub = next(c for c in view["categories"] if c["category"] == "subcontracting")
    assert (sub["budget"], sub["committed"], sub["remaining"]) == (
        money("45000.00"),
        money("50000.00"),
        money("-5000.00"),
    )
    assert view["bac"] == money("105000.00")
    listed = (await budget.get(f"{base}/commitments", params={"vendor": "Acme", "milestone_id": mid})).json()
    assert listed["total"] == 2


async def its_events_are_on_kafka_in_order(kafka: KafkaOptions, pid: str) -> None:
    expected = EXPECTED_EVENTS

    async def on_topic() -> list[Any]:
        records = [r for r in await read_topic(kafka, "pmo.budget.v1", expect=0, timeout=1) if r.key == pid.encode()]
        assert len(records) == len(expected)
        return records

    records = await eventually(on_topic, timeout=30)
    events = [from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers) for r in records]
    assert [e.name for e in events] == expected
    assert all(
        dict(r.headers)["ce_type"] == f"pmo.budget.{n}.v1".encode() for r, n in zip(records, expected, strict=True)
    )
    committed = events[expected.index("budget-committed") + 1].data
    assert committed["overrun"]["over_by"] == money("5000.00") and committed["amount"] == money("10000.00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (baseline_body(labour="1.00"), "categories"),
        ({**baseline_body(), "total": {"amount": "100000.001", "currency": "EUR"}}, "total"),
        ({**baseline_body(), "total": {"amount": 100000.0, "currency": "EUR"}}, "total"),
        ({**baseline_body(), "categories": [{"category": "bribes", "amount": money("1.00")}]}, "categories.0.category"),
        ({**baseline_body(), "total": {"amount": "100000.00", "currency": "USD"}}, "total.currency"),
    ],
)
async def test_bad_baselines_are_422_naming_the_field_and_append_nothing(client, budget, body, field) -> None:
    pid, _ = await known_project(client, budget)
    response = await budget.post(f"/budgets/{pid}/baseline", json=body)
    assert response.status_code == 422, response.text
    assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()
    assert (await budget.get(f"/budgets/{pid}")).status_code == 404


async def test_a_looser_overrun_policy_needs_a_second_finance_user(client, budget) -> None:
    pid, _ = await known_project(client, budget)
    base = f"/budgets/{pid}"
    assert (await budget.post(f"{base}/baseline", json=baseline_body())).status_code == 201
    strict = await budget.put(f"{base}/overrun-policy", json={"policy": "require_approval"}, headers=PAUL)
    assert strict.status_code == 200 and strict.json()["policy"] == "require_approval"  # stricter: at once
    loose = await budget.put(f"{base}/overrun-policy", json={"policy": "warn"})  # fiona
    assert loose.status_code == 200 and loose.json()["policy"] == "require_approval"
    assert loose.json()["policy_change_requested"] == {"policy": "warn", "requested_by": "fiona.finance"}
    po = {"kind": "purchase_order", "vendor": "Acme", "reference": "PO-X", "category": "materials"}
    big = await budget.post(f"{base}/commitments", json={**po, "amount": money("5000000.00"), "expected_invoices": []})
    assert big.status_code == 201 and big.json()["status"] == "awaiting_approval", big.text
    fullwidth_fiona = auth_header("\uff46iona.finance", "finance")
    own = await budget.post(f"{base}/overrun-policy/approve", json={}, headers=fullwidth_fiona)
    assert own.status_code == 409 and own.json()["title"] == "Separation of duties"
    approved = await budget.post(f"{base}/overrun-policy/approve", json={}, headers=PAUL)
    assert approved.status_code == 200 and approved.json()["policy"] == "warn", approved.text
    assert approved.json()["policy_change_requested"] is None
