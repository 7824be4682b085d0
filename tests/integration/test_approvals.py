"""The approvals inbox over real Kafka and PostgreSQL: requests of every kind published as their services publish
them appear in ``GET /approvals`` for a caller whose role may decide them and whose scope holds the project, never
for their requester (however spelt) nor for whom separation of duties excludes (the project's manager at a gate,
the person whose work a sheet is), nor for a caller of another portfolio; they disappear once decided (a corrected
sheet comes back until its new version is decided); filters, paging and bounded parameters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text

from reporting.bootstrap import SPEC, create_app
from reporting.settings import Settings
from shared import migrations
from shared.auth import mint_token
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.db import create_engine
from shared.events import DomainEvent, EventMetadata, RecordedEvent
from shared.kafka import KafkaOptions, ensure_topics, new_producer, to_record
from tests.support import eventually
from tests.support.clock import TODAY
from tests.unit import test_approvals_rules as build

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
PF_A, PF_B = f"appr-a-{RUN}", f"appr-b-{RUN}"
P, Q = uuid.uuid4(), uuid.uuid4()
CHANGE, OTHER_CHANGE, COMMITMENT, RESOURCE, SHEET, INVOICE, MATCHED = (uuid.uuid4() for _ in range(7))
REQUESTED = TODAY - timedelta(days=3)
ALL_KINDS = {
    "project-approval",
    "budget-change",
    "commitment",
    "overrun-policy",
    "work-sheet",
    "invoice-override",
    "baseline-approval",
    "gate-decision",
}


SERVICES = {
    "projects": (p.TOPIC, p.REGISTRY),
    "budget": (b.TOPIC, b.REGISTRY),
    "resources": (r.TOPIC, r.REGISTRY),
    "invoicing": (i.TOPIC, i.REGISTRY),
}


def caller(subject: str, role: str, *portfolios: str) -> dict[str, str]:
    token = mint_token(subject, [role], portfolios=portfolios) if portfolios else mint_token(subject, [role])
    return {"Authorization": f"Bearer {token}"}


DIRECTOR = caller("dave.director", "director")  # every portfolio


async def from_the_end(infra: Any, kafka: KafkaOptions, schema: str) -> None:
    """A migrated reporting schema whose read models start at the topics' current end: the service consumes this
    test's events only, not the history other tests left on the shared topics (a catch-up of minutes on a loaded
    machine)."""
    engine = create_engine(infra.database_url, schema, pool_size=1)
    # On a fresh Kafka (PMO_TEST_INFRA=containers) no test has created the topics yet: create them as the services
    # do, so that each has an end to start from.
    await ensure_topics(kafka, sorted({topic for projection in SPEC.projections for topic in projection.topics}))
    reader = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await reader.start()
    try:
        await migrations.prepare(engine, "reporting", schema, apply=True)
        rows = []
        for projection in SPEC.projections:
            for topic in projection.topics:
                partitions = reader.partitions_for_topic(topic)
                if not partitions:
                    await reader._client.force_metadata_update()
                    partitions = reader.partitions_for_topic(topic) or set()
                ends = await reader.end_offsets([TopicPartition(topic, n) for n in partitions])
                rows += [{"c": projection.name, "t": tp.topic, "p": tp.partition, "o": o} for tp, o in ends.items()]
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES (:c, :t, :p, :o)"),
                rows,
            )
    finally:
        await reader.stop()
        await engine.dispose()


@pytest.fixture(scope="module")
async def reporting(infra: Any, kafka: KafkaOptions) -> AsyncIterator[httpx.AsyncClient]:
    schema = f"t_reporting_{uuid.uuid4().hex[:8]}"
    await from_the_end(infra, kafka, schema)
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        full_evaluation_interval=3600,
    )
    app = create_app(settings)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        yield await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reporting", headers=DIRECTOR)
        )


async def publish(kafka: KafkaOptions, on: date, *events: DomainEvent) -> None:
    """The events as their services publish them (CloudEvents keyed by their partition key: the project, or the
    resource for a resource's registration), recorded at noon on ``on``."""
    producer = new_producer(kafka)
    await producer.start()
    try:
        for event in events:
            service, topic = next((s, t) for s, (t, reg) in SERVICES.items() if (event.event_name, 1) in reg)
            recorded = RecordedEvent(
                event_id=uuid.uuid4(),
                stream_id=f"test-{uuid.uuid4()}",
                stream_type="test",
                version=1,
                position=0,
                name=event.event_name,
                schema_version=event.event_version,
                partition_key=event.partition_key,
                data=event.model_dump(mode="json"),
                metadata=EventMetadata("tester", "approvals-test"),
                recorded_at=datetime(on.year, on.month, on.day, 12, tzinfo=UTC),
            )
            key, value, headers = to_record(service, recorded)
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def inbox(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/approvals", params={"limit": 500, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [i for i in response.json()["items"] if i["project"]["project_id"] in (str(P), str(Q))]


def kinds(items: list[dict[str, Any]], project: uuid.UUID = P) -> set[str]:
    return {i["kind"] for i in items if i["project"]["project_id"] == str(project)}


async def test_requests_appear_for_their_deciders_only_and_disappear_once_decided(
    reporting: httpx.AsyncClient, kafka: KafkaOptions
) -> None:
    await publish(
        kafka,
        REQUESTED,
        *(
            build.registered(P, PF_A, manager="mia.manager", registrant="rita.registrant"),
            build.registered(Q, PF_B, manager="max.manager", registrant="rita.registrant"),
            build.change_requested(P, CHANGE, "fred.finance"),
            build.change_requested(Q, OTHER_CHANGE, "gina.finance", amount="500.00"),
            build.commitment_awaiting(P, COMMITMENT, "fred.finance"),
            build.policy_requested(P, "fred.finance"),
            build.resource_registered(RESOURCE, "wanda.worker"),
            build.sheet_submitted(P, RESOURCE, SHEET, "sam.service"),
            build.invoice_received(P, INVOICE, "fred.finance"),
            build.invoice_match(P, INVOICE, matched=False),
            build.invoice_received(P, MATCHED, "fred.finance"),
            build.invoice_match(P, MATCHED, matched=True),
            build.baseline_proposed(P, 1, "dora.director"),
            build.put_on_hold(P),
        ),
    )

    async def all_in() -> list[dict[str, Any]]:
        items = await inbox(reporting, DIRECTOR, portfolio_id=PF_A)
        assert kinds(items) == ALL_KINDS, kinds(items)
        return items

    items = await eventually(all_in, timeout=30)
    assert len(items) == len(ALL_KINDS)  # the matched invoice waits for nothing; Q is in another portfolio
    by_kind = {i["kind"]: i for i in items}
    change = by_kind["budget-change"]
    assert change["item_id"] == f"budget-change:{CHANGE}"
    assert change["amount"] == {"amount": "12000.00", "currency": "EUR"}
    assert change["requested_by"] == "fred.finance" and change["age_days"] >= 2 and change["age_hours"] >= 60
    assert change["project"]["code"] == f"AP-{P.hex[:6]}" and change["project"]["portfolio_id"] == PF_A
    assert change["what"] == "labour budget change: a second test team"
    assert change["deciders"] == ["director", "finance"]
    assert [(a["action"], a["method"], a["path"], a["service"]) for a in change["actions"]] == [
        ("approve", "POST", f"/budgets/{P}/change-requests/{CHANGE}/approve", "budget"),
        ("reject", "POST", f"/budgets/{P}/change-requests/{CHANGE}/reject", "budget"),
    ]
    invoice = by_kind["invoice-override"]
    assert invoice["what"] == "invoice INV-42 from Acme: 1 discrepancies (under-backed)"
    assert invoice["actions"][0]["path"] == f"/invoices/{INVOICE}/approve"
    sheet = by_kind["work-sheet"]
    assert sheet["amount"] is None and sheet["requested_by"] == "sam.service"
    assert sheet["actions"][0]["path"] == f"/resources/{RESOURCE}/work-sheets/{SHEET}/approve"
    assert by_kind["baseline-approval"]["actions"][0]["path"] == f"/projects/{P}/baselines/1/approve"
    assert by_kind["gate-decision"]["actions"] == [
        {"action": "decide", "method": "POST", "path": f"/projects/{P}/gate-decisions", "service": "projects"}
    ]

    finance = {"budget-change", "commitment", "overrun-policy", "invoice-override"}
    expected = {
        "finance of A": (caller("fiona.finance", "finance", PF_A), finance, set()),
        "the requester": (caller("fred.finance", "finance", PF_A), set(), set()),
        "the requester spelt otherwise": (caller("FRED.Finance", "finance", PF_A), set(), set()),
        "finance of B": (caller("bob.finance", "finance", PF_B), set(), {"budget-change"}),
        "finance of both": (caller("fiona.finance", "finance", PF_A, PF_B), finance, {"budget-change"}),
        "the requester of B's change": (caller("gina.finance", "finance", PF_A, PF_B), finance, set()),
        "resource manager of A": (caller("rosa.rm", "resource-manager", PF_A), {"work-sheet"}, set()),
        "the person whose work it is": (caller("wanda.worker", "resource-manager", PF_A), set(), set()),
        "resource manager of B": (caller("ron.rm", "resource-manager", PF_B), set(), set()),
        "the baseline's proposer": (
            caller("dora.director", "director"),
            ALL_KINDS - {"baseline-approval"},
            {"budget-change", "project-approval"},
        ),
        "the manager at the gate": (
            caller("mia.manager", "director"),
            ALL_KINDS - {"gate-decision", "project-approval"},
            {"budget-change", "project-approval"},
        ),
        "the registrant": (
            caller("rita.registrant", "director"),
            ALL_KINDS - {"gate-decision", "project-approval"},
            {"budget-change"},
        ),
        "pmo of A": (caller("paula.pmo", "pmo", PF_A), set(), set()),
        "viewer of A": (caller("vic.viewer", "viewer", PF_A), set(), set()),
        "a machine client": (caller("erp", "service"), set(), set()),
    }
    for who, (headers, on_p, on_q) in expected.items():
        seen = await inbox(reporting, headers)
        assert (kinds(seen, P), kinds(seen, Q)) == (on_p, on_q), who

    # filters and paging
    fiona = caller("fiona.finance", "finance", PF_A, PF_B)
    assert [i["item_id"] for i in await inbox(reporting, fiona, kind="commitment")] == [f"commitment:{COMMITMENT}"]
    assert kinds(await inbox(reporting, fiona, project_id=str(Q)), Q) == {"budget-change"}
    assert kinds(await inbox(reporting, fiona, project_id=str(Q)), P) == set()
    assert kinds(await inbox(reporting, fiona, portfolio_id=PF_B), P) == set()
    page = (await reporting.get("/approvals", params={"portfolio_id": PF_A, "limit": 3, "offset": 6})).json()
    assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (8, 2, 3, 6)
    whole = (await reporting.get("/approvals", params={"portfolio_id": PF_A})).json()["items"]
    assert [i["item_id"] for i in page["items"]] == [i["item_id"] for i in whole[6:]]
    assert [i["requested_at"] for i in whole] == sorted(i["requested_at"] for i in whole)

    # decisions take the items away; a rejected sheet's correction comes back until it is decided
    await publish(
        kafka,
        TODAY,
        *(
            build.change_decided(P, CHANGE, approved=True),
            build.change_decided(Q, OTHER_CHANGE, approved=False),
            build.commitment_refused(P, COMMITMENT),
            build.policy_set(P),
            build.sheet_rejected(P, RESOURCE, SHEET, 1),
            build.invoice_approved(P, INVOICE),
            build.approved(P),
            build.baseline_rejected(P, 1),
            build.resumed(P),
        ),
    )

    async def all_decided() -> None:
        items = await inbox(reporting, DIRECTOR)
        assert (kinds(items, P), kinds(items, Q)) == (set(), {"project-approval"}), items

    await eventually(all_decided, timeout=30)
    await publish(kafka, TODAY, build.sheet_submitted(P, RESOURCE, SHEET, "sam.service", version=2))

    async def corrected() -> None:
        items = await inbox(reporting, caller("rosa.rm", "resource-manager", PF_A))
        assert [(i["kind"], i["what"]) for i in items] == [("work-sheet", "work sheet 2027-W09: 8 hours (version 2)")]

    await eventually(corrected, timeout=30)
    await publish(kafka, TODAY, build.sheet_approved(P, RESOURCE, SHEET, 2))

    async def approved() -> None:
        assert await inbox(reporting, caller("rosa.rm", "resource-manager", PF_A)) == []

    await eventually(approved, timeout=30)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
        ({"kind": "everything"}, "kind"),
        ({"project_id": "not-a-uuid"}, "project_id"),
        ({"portfolio_id": "x" * 65}, "portfolio_id"),
    ],
)
async def test_out_of_bounds_parameters_are_refused_naming_them(
    reporting: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await reporting.get("/approvals", params=params)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert any(e["field"] == field for e in response.json()["errors"]), response.json()
