"""A webhook receiver that accepts the connection and never answers blocks nobody: each attempt ends at the
subscription timeout and is logged as such, and meanwhile the service answers its own commands and reads at once
(the sender is a background task with its own HTTP client; no request waits for it). Real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from shared.contracts import projects as p
from tests.integration.test_notifications import Receiver, _milestones, _positioned, _registered, _reporting, _subscribe
from tests.support import eventually
from tests.support.publishing import publish

pytestmark = pytest.mark.integration

TIMEOUT = 1.0


@pytest.fixture
async def silent() -> AsyncIterator[Receiver]:
    """Accepts, reads the request, never answers (until the test ends)."""
    found = Receiver()
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(65536)
        found.requests.append({"at": time.monotonic()})
        await asyncio.sleep(3600)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    for writer in held:
        writer.close()
    server.close()


async def test_a_receiver_that_never_answers_times_out_each_attempt_and_blocks_no_request(
    infra: Any, kafka: Any, silent: Receiver
) -> None:
    portfolio = f"pf-{uuid.uuid4().hex[:6]}"
    schema = f"notif_silent_{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        client = await _reporting(
            stack, infra, schema, f"silent-{uuid.uuid4().hex[:6]}", webhook_timeout_seconds=TIMEOUT
        )
        await _positioned(client)
        hooked = await _subscribe(
            client, silent, event_types=["pmo.projects.milestone-planned"], portfolio_id=portfolio
        )
        pid = uuid.uuid4()
        await publish(kafka, "projects", p.TOPIC, [_registered(pid, portfolio), *_milestones(pid, 3)], f"project-{pid}")

        async def hanging() -> None:
            assert len(silent.requests) >= 2  # the first attempt timed out and a retry is hanging again

        await eventually(hanging, timeout=60)

        # while deliveries hang: commands and reads of the same service answer at once
        slowest = 0.0
        for n in range(10):
            started = time.perf_counter()
            created = await client.post(
                "/webhooks/subscriptions",
                json={
                    "url": f"http://127.0.0.1:{silent.port}/other-{n}",
                    "event_types": ["pmo.projects.milestone-planned"],
                },
            )
            listed = await client.get("/webhooks/subscriptions")
            health = await client.get("/healthz")
            slowest = max(slowest, time.perf_counter() - started)
            assert (created.status_code, listed.status_code, health.status_code) == (201, 200, 200)
        assert slowest < TIMEOUT / 2, f"a request waited {slowest:.3f} s behind a hanging delivery"

        async def logged() -> None:
            log = (await client.get(f"/webhooks/subscriptions/{hooked['subscription_id']}/deliveries")).json()
            retried = [d for d in log["items"] if d["attempts"] >= 2]
            assert retried, log["items"]
            first = retried[0]
            assert first["status"] != "delivered"
            assert all(x["error"] == f"no answer within {TIMEOUT:g} s" for x in first["attempt_log"])
            assert all(x["status_code"] is None for x in first["attempt_log"])

        await eventually(logged, timeout=30)
