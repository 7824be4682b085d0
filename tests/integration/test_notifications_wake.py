"""At rest the sender looks for due deliveries less and less often (its wait doubles up to
``notification_idle_poll_seconds``), yet a delivery the service's own consumer writes is sent at once: the consumer's
commit wakes the sender. Real Kafka and PostgreSQL, a real HTTP receiver."""

from __future__ import annotations

import time
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest

from shared.contracts import projects as p
from tests.integration.test_notifications import (
    Receiver,
    _milestones,
    _positioned,
    _registered,
    _reporting,
    _subscribe,
    receiver,
)
from tests.support import eventually
from tests.support.publishing import publish

pytestmark = pytest.mark.integration

__all__ = ["receiver"]  # the fixture, used by name

POLL = 30.0
"""The sender's wait while busy; at rest it doubles (60 s after its first look at start, up to ten minutes here)."""


async def test_a_delivery_written_after_a_long_rest_is_sent_at_once_not_at_the_next_look(
    infra: Any, kafka: Any, receiver: Receiver
) -> None:
    portfolio = f"pf-{uuid.uuid4().hex[:6]}"
    schema = f"notif_wake_{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        client = await _reporting(
            stack,
            infra,
            schema,
            f"wake-{uuid.uuid4().hex[:6]}",
            notification_poll_seconds=POLL,
            notification_idle_poll_seconds=600,
        )
        await _positioned(client)
        await _subscribe(client, receiver, event_types=["pmo.projects.milestone-planned"], portfolio_id=portfolio)
        # The sender looked once at start and found nothing: its next look is 60 s later.
        pid = uuid.uuid4()
        sent = time.monotonic()
        await publish(kafka, "projects", p.TOPIC, [_registered(pid, portfolio), *_milestones(pid, 1)], f"project-{pid}")

        async def delivered() -> None:
            assert len(receiver.delivered(str(pid))) == 1, receiver.requests

        await eventually(delivered, timeout=20)
        took = time.monotonic() - sent
        assert took < 10.0, f"delivered {took:.1f} s after publishing: the sender waited for its next look"
