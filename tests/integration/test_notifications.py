"""Notifications over real Kafka and PostgreSQL, with a real HTTP receiver and a real SMTP receiver started here.

The receiver checks every request's Standard Webhooks signature with the subscription's secret. It answers 500
twice to the first event of project P, then 200: the delivery is retried and delivered, and P's later events wait
for it (order per project) while Q's flow. A redeliver sends a delivery again with the same ``webhook-id``. An alert
reaches the subscription that names its rule and portfolio, and is e-mailed to the person whose preferences and
scope take it. Stopping the service mid-way (the receiver down, deliveries pending) and starting it again on the
same schema loses nothing and writes no delivery twice."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from reporting import bootstrap
from reporting.notifications import signing
from reporting.settings import Settings
from shared.auth import mint_token
from shared.contracts import alerts as a
from shared.contracts import projects as p
from shared.events import DomainEvent
from shared.money import Money
from tests.support import auth_header, eventually
from tests.support.clock import TODAY
from tests.support.publishing import publish

pytestmark = pytest.mark.integration

DIRECTOR = auth_header("dora.director", "director")
CATCH_UP = 30.0
FAST = {
    "webhook_allow_loopback": True,
    "webhook_backoff_seconds": 0.05,
    "webhook_backoff_max_seconds": 0.2,
    "webhook_timeout_seconds": 3.0,
    "notification_poll_seconds": 0.05,
    "evaluation_interval": 0.5,
    "full_evaluation_interval": 3600,
}


@dataclass
class Receiver:
    """A plain asyncio HTTP/1.1 server: records every request, answers what ``answer`` says."""

    secrets: list[str] = field(default_factory=list)
    """The secrets of the subscriptions pointing here: a request is valid when one of them signs it."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    """Event id -> how many more times to answer 500."""
    down: bool = False
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            payload = json.loads(body)
            valid = any(
                signing.verify(
                    secret,
                    headers["webhook-id"],
                    headers["webhook-timestamp"],
                    body,
                    headers["webhook-signature"],
                    int(time.time()),
                )
                for secret in self.secrets
            )
            event_id = payload["id"]
            status = 200
            if self.down:
                status = 503
            elif self.failures.get(event_id, 0) > 0:
                self.failures[event_id] -= 1
                status = 500
            if not valid:
                status = 401
            self.requests.append(
                {
                    "id": headers["webhook-id"],
                    "event_id": event_id,
                    "payload": payload,
                    "status": status,
                    "valid": valid,
                    "host": headers.get("host"),
                }
            )
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()

    def delivered(self, project: str) -> list[str]:
        """Event ids of ``project`` answered 200, in the order they arrived."""
        return [
            r["event_id"]
            for r in self.requests
            if r["status"] == 200 and r["payload"]["data"].get("project_id") == project
        ]

    def tried(self, project: str) -> list[str]:
        return [r["event_id"] for r in self.requests if r["payload"]["data"].get("project_id") == project]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    server.close()
    await server.wait_closed()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def mailbox() -> Any:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port  # type: ignore[attr-defined]
    yield box
    controller.stop()


async def _reporting(stack: AsyncExitStack, infra: Any, schema: str, prefix: str, **extra: Any) -> httpx.AsyncClient:
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=prefix,
        **{**FAST, **extra},
    )
    app = bootstrap.create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reporting", headers=DIRECTOR)
    )
    client.app = app  # type: ignore[attr-defined]
    return client


async def _positioned(client: httpx.AsyncClient) -> None:
    """Wait until the notification consumer holds a position on every partition of the topics the tests publish on
    (it starts at their end: what is published before is not its business)."""
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]

    async def positioned() -> None:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT topic, count(*) AS n FROM consumer_offsets WHERE consumer = :c GROUP BY topic"),
                {"c": "reporting.notifications"},
            )
            found = {r.topic: r.n for r in rows}
        assert found.get(p.TOPIC, 0) >= 3 and found.get(a.TOPIC, 0) >= 3, found

    await eventually(positioned, timeout=60)


def _registered(pid: uuid.UUID, portfolio: str) -> DomainEvent:
    return p.ProjectRegistered(
        project_id=pid,
        portfolio_id=portfolio,
        programme_id=None,
        code=f"N-{pid.hex[:6]}",
        name="Notified",
        objectives="",
        sponsor="s",
        manager="m",
        planned_start=TODAY,
        planned_end=TODAY + timedelta(300),
        currency="EUR",
    )


def _milestones(pid: uuid.UUID, count: int, start: int = 1) -> list[DomainEvent]:
    return [
        p.MilestonePlanned(
            project_id=pid,
            milestone_id=uuid.uuid4(),
            name=f"M{n}",
            due_date=TODAY + timedelta(30 * n),
            planned_value=Money.of("1000.00", "EUR"),
            acceptance_criteria="",
        )
        for n in range(start, start + count)
    ]


async def _subscribe(client: httpx.AsyncClient, receiver: Receiver, **body: Any) -> dict[str, Any]:
    answer = await client.post(
        "/webhooks/subscriptions", json={"url": f"http://127.0.0.1:{receiver.port}/hooks", **body}
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    receiver.secrets.append(created["secret"])
    assert answer.headers["location"] == f"/webhooks/subscriptions/{created['subscription_id']}"
    return created


async def test_webhooks_signed_retried_in_order_redelivered_and_alerts_mailed(
    infra: Any, kafka: Any, receiver: Receiver, mailbox: Any
) -> None:
    async with AsyncExitStack() as stack:
        client = await _reporting(
            stack,
            infra,
            f"t_reporting_{uuid.uuid4().hex[:8]}",
            f"test-{uuid.uuid4().hex[:8]}",
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_starttls=False,
            smtp_from="pmo@example.com",
        )
        portfolio = f"nf-{uuid.uuid4().hex[:8]}"

        # refusals: each a 422 naming its field, nothing stored
        for body, named in (
            ({"url": "http://169.254.169.254/latest", "event_types": ["pmo.projects.milestone-planned"]}, "url"),
            ({"url": "http://[::ffff:169.254.169.254]/", "event_types": ["pmo.projects.milestone-planned"]}, "url"),
            ({"url": "gopher://example.com/x", "event_types": ["pmo.projects.milestone-planned"]}, "url"),
            ({"url": "http://u:p@example.com/x", "event_types": ["pmo.projects.milestone-planned"]}, "url"),
            ({"url": "https://example.com/x", "event_types": ["pmo.projects.milestone-printed"]}, "event_types.0"),
            ({"url": "https://example.com/x", "alert_rules": ["sunny-weather"]}, "alert_rules.0"),
        ):
            refused = await client.post("/webhooks/subscriptions", json=body)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert named in refused.text
        viewer = {"Authorization": f"Bearer {mint_token('vic.viewer', ['viewer'])}"}
        forbidden = await client.post(
            "/webhooks/subscriptions",
            json={"url": "https://example.com/x", "event_types": ["pmo.projects.milestone-planned"]},
            headers=viewer,
        )
        assert forbidden.status_code == 403
        assert (await client.get("/webhooks/subscriptions")).json()["total"] == 0

        events = await _subscribe(
            client,
            receiver,
            event_types=["pmo.projects.project-registered", "pmo.projects.milestone-planned"],
            portfolio_id=portfolio,
        )
        receiver.secrets.append(events["secret"])
        assert events["secret"].startswith("whsec_")
        listed = (await client.get("/webhooks/subscriptions")).json()
        assert listed["total"] == 1 and "secret" not in listed["items"][0]
        elsewhere = await _subscribe(
            client, receiver, event_types=["pmo.projects.milestone-planned"], portfolio_id="some-other-portfolio"
        )
        alerts_sub = await _subscribe(client, receiver, alert_rules=["underfunding-risk"], portfolio_id=portfolio)
        person = {"Authorization": f"Bearer {mint_token('paula.pmo', ['pmo'], portfolios=[portfolio])}"}
        saved = await client.put(
            "/notifications/preferences",
            json={"email": "paula@example.com", "alert_rules": ["underfunding-risk"], "severities": ["critical"]},
            headers=person,
        )
        assert saved.status_code == 200, saved.text
        # a pmo user of one portfolio subscribes to hers only, and sees only those subscriptions
        for extra in ({}, {"portfolio_id": "some-other-portfolio"}):
            refused = await client.post(
                "/webhooks/subscriptions",
                json={"url": "https://example.com/x", "event_types": ["pmo.projects.milestone-planned"], **extra},
                headers=person,
            )
            assert refused.status_code == 422 and "portfolio_id" in refused.text, refused.text
        theirs = (await client.get("/webhooks/subscriptions", headers=person)).json()
        assert [i["subscription_id"] for i in theirs["items"]] == [
            events["subscription_id"],
            alerts_sub["subscription_id"],
        ]
        hidden = await client.get(f"/webhooks/subscriptions/{elsewhere['subscription_id']}", headers=person)
        assert hidden.status_code == 404

        await _positioned(client)
        pid, qid = uuid.uuid4(), uuid.uuid4()
        p_events = [_registered(pid, portfolio), *_milestones(pid, 4)]
        first = await publish(kafka, "projects", p.TOPIC, p_events[:1], f"project-{pid}")
        receiver.failures[str(first[0])] = 2
        p_ids = first + await publish(kafka, "projects", p.TOPIC, p_events[1:], f"project-{pid}")
        q_ids = await publish(
            kafka, "projects", p.TOPIC, [_registered(qid, portfolio), *_milestones(qid, 2)], f"project-{qid}"
        )

        async def all_delivered() -> None:
            assert receiver.delivered(str(pid)) == [str(i) for i in p_ids]
            assert receiver.delivered(str(qid)) == [str(i) for i in q_ids]

        await eventually(all_delivered, timeout=CATCH_UP)
        # P's first event was refused twice then taken; nothing of P was sent while it was pending
        assert receiver.tried(str(pid)) == [str(p_ids[0])] * 3 + [str(i) for i in p_ids[1:]]
        assert all(r["valid"] for r in receiver.requests)
        assert {r["host"] for r in receiver.requests} == {f"127.0.0.1:{receiver.port}"}
        first_payload = next(r["payload"] for r in receiver.requests if r["event_id"] == str(p_ids[0]))
        assert first_payload["type"] == "pmo.projects.project-registered.v1"
        assert first_payload["data"]["portfolio_id"] == portfolio

        log = (
            await client.get(f"/webhooks/subscriptions/{events['subscription_id']}/deliveries", params={"limit": 500})
        ).json()
        mine = {d["event_id"]: d for d in log["items"]}
        retried = mine[str(p_ids[0])]
        assert retried["status"] == "delivered" and retried["attempts"] == 3
        assert [x["status_code"] for x in retried["attempt_log"]] == [500, 500, 200]
        assert all(x["latency_ms"] >= 0 for x in retried["attempt_log"])
        assert retried["attempt_log"][0]["error"] == "answered 500"
        # the portfolio filter: nothing of P or Q went to the other portfolio's subscription
        other = (await client.get(f"/webhooks/subscriptions/{elsewhere['subscription_id']}/deliveries")).json()
        assert other["total"] == 0

        # redeliver: sent again with the same webhook-id, a fourth attempt in the log
        before = len(receiver.requests)
        again = await client.post(
            f"/webhooks/subscriptions/{events['subscription_id']}/deliveries/{retried['delivery_id']}/redeliver"
        )
        assert again.status_code == 202, again.text

        async def redelivered() -> None:
            assert [r["id"] for r in receiver.requests[before:]] == [retried["delivery_id"]]
            done = (
                await client.get(
                    f"/webhooks/subscriptions/{events['subscription_id']}/deliveries", params={"limit": 500}
                )
            ).json()
            row = next(d for d in done["items"] if d["delivery_id"] == retried["delivery_id"])
            assert row["status"] == "delivered" and row["attempts"] == 4

        await eventually(redelivered, timeout=20)

        # an alert: to the subscription naming its rule and portfolio, and by e-mail to the person
        alert = a.AlertRaised(
            alert_id=uuid.uuid4().hex[:24],
            project_id=pid,
            rule="underfunding-risk",
            subject=f"milestone:{uuid.uuid4()}",
            portfolio_id=portfolio,
            severity="critical",
            title=f"Funding at risk {pid.hex[:6]}",
            figures={"risk": "0.31"},
            evidence=[],
            as_of=TODAY,
        )
        alert_id = (await publish(kafka, "reporting", a.TOPIC, [alert], f"alert-{alert.alert_id}"))[0]

        async def alerted() -> None:
            assert str(alert_id) in receiver.delivered(str(pid))
            assert [m.rcpt_tos for m in mailbox.messages] == [["paula@example.com"]]

        await eventually(alerted, timeout=CATCH_UP)
        mail = mailbox.messages[0].content.decode()
        assert f"Subject: [PMO critical] Funding at risk {pid.hex[:6]}" in mail
        assert "Rule: underfunding-risk" in mail

        async def mail_logged() -> None:  # the row turns delivered once the SMTP server's answer is recorded
            mails = (await client.get("/notifications/deliveries", headers=person)).json()
            assert [(d["status"], d["channel"]) for d in mails["items"]] == [("delivered", "email")]

        await eventually(mail_logged, timeout=20)
        alert_log = (await client.get(f"/webhooks/subscriptions/{alerts_sub['subscription_id']}/deliveries")).json()
        assert [d["event_id"] for d in alert_log["items"]] == [str(alert_id)]

        metrics = (await client.get("/metrics")).text
        assert 'pmo_notification_attempts_total{channel="webhook",outcome="failed"}' in metrics
        assert 'pmo_notification_attempts_total{channel="email",outcome="delivered"}' in metrics

        deleted = await client.delete(f"/webhooks/subscriptions/{elsewhere['subscription_id']}")
        assert deleted.status_code == 204
        assert (await client.get(f"/webhooks/subscriptions/{elsewhere['subscription_id']}")).status_code == 404
        retired_log = await client.get(f"/webhooks/subscriptions/{elsewhere['subscription_id']}/deliveries")
        assert retired_log.status_code == 200 and retired_log.json()["total"] == 0
        assert (await client.get(f"/webhooks/subscriptions/{uuid.uuid4()}/deliveries")).status_code == 404
        assert (await client.get("/webhooks/subscriptions")).json()["total"] == 2


async def test_nothing_is_lost_or_written_twice_across_a_restart(infra: Any, kafka: Any, receiver: Receiver) -> None:
    schema, prefix = f"t_reporting_{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    pid = uuid.uuid4()
    receiver.down = True
    patient = {"webhook_max_attempts": 30, "webhook_backoff_seconds": 0.2, "webhook_backoff_max_seconds": 1.0}
    first = AsyncExitStack()
    client = await _reporting(first, infra, schema, prefix, **patient)
    portfolio = f"nf-{uuid.uuid4().hex[:8]}"
    created = await _subscribe(client, receiver, event_types=["pmo.projects.milestone-planned"], portfolio_id=portfolio)
    await _positioned(client)
    stream = f"project-{pid}"
    await publish(kafka, "projects", p.TOPIC, [_registered(pid, portfolio)], stream)
    before = await publish(kafka, "projects", p.TOPIC, _milestones(pid, 6), stream)

    async def pending_and_tried() -> None:
        log = (await client.get(f"/webhooks/subscriptions/{created['subscription_id']}/deliveries")).json()
        assert log["total"] == 6
        assert any(d["attempts"] >= 1 for d in log["items"])

    await eventually(pending_and_tried, timeout=CATCH_UP)
    await first.aclose()  # the service stops mid-way: every delivery pending, the head tried and failed
    after = await publish(kafka, "projects", p.TOPIC, _milestones(pid, 4, start=7), stream)
    receiver.down = False
    async with AsyncExitStack() as second:
        client = await _reporting(second, infra, schema, prefix, **patient)

        async def all_delivered() -> None:
            assert receiver.delivered(str(pid)) == [str(i) for i in before + after]

        await eventually(all_delivered, timeout=CATCH_UP)
        engine = client.app.state.runtime.engine  # type: ignore[attr-defined]

        async def once_each_and_recorded() -> None:  # the last answer may be a moment ahead of its record
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT event_id, status FROM notification_deliveries WHERE recipient = :r "
                            "AND order_key = :k ORDER BY sequence"
                        ),
                        {"r": created["subscription_id"], "k": str(pid)},
                    )
                ).all()
            assert [(str(r.event_id), r.status) for r in rows] == [(str(i), "delivered") for i in before + after]

        await eventually(once_each_and_recorded, timeout=10)
