"""Creating a webhook subscription takes an ``Idempotency-Key`` as every other create does (the shared executor's
keys: per caller and path, the same request only): a retry gets the first answer back, secret included, and creates
nothing."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.conftest import service_client
from tests.support import auth_header

pytestmark = pytest.mark.integration

DIRECTOR = auth_header("dora.director", "director")
PMO = auth_header("pat.pmo", "pmo")
BODY = {"url": "http://127.0.0.1:9/hooks", "alert_rules": ["underfunding-risk"], "description": "ERP"}


async def test_a_retried_subscription_with_its_key_returns_the_first_answer_and_creates_nothing(infra: Any) -> None:
    async with AsyncExitStack() as stack:
        client = await service_client(stack, "reporting", infra, DIRECTOR, webhook_allow_loopback=True)
        engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
        key = {"Idempotency-Key": str(uuid.uuid4())}

        first = await client.post("/webhooks/subscriptions", json=BODY, headers=key)
        again = await client.post("/webhooks/subscriptions", json=BODY, headers=key)
        assert first.status_code == again.status_code == 201, (first.text, again.text)
        assert again.json() == first.json()  # the same subscription, and its secret shown again to its creator
        assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
        assert again.headers["location"] == f"/webhooks/subscriptions/{first.json()['subscription_id']}"

        other = await client.post("/webhooks/subscriptions", json={**BODY, "description": "CRM"}, headers=key)
        assert other.status_code == 422, other.text
        assert other.headers["content-type"].startswith("application/problem+json")
        assert "Idempotency-Key" in other.text

        # The same key from another caller is another key: a subscription of its own.
        theirs = await client.post("/webhooks/subscriptions", json=BODY, headers={**key, **PMO})
        assert theirs.status_code == 201, theirs.text
        assert theirs.json()["subscription_id"] != first.json()["subscription_id"]
        assert theirs.json()["secret"] != first.json()["secret"]

        stale = await client.post("/webhooks/subscriptions", json=BODY, headers={"If-Match": '"3"'})
        assert stale.status_code == 412, stale.text

        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT created_by FROM webhook_subscriptions ORDER BY 1"))).all()
        assert [r.created_by for r in rows] == ["dora.director", "pat.pmo"]

        spec = (await client.get("/openapi.json")).json()
        parameters = spec["paths"]["/webhooks/subscriptions"]["post"]["parameters"]
        assert any(p["name"].lower() == "idempotency-key" and p["in"] == "header" for p in parameters), parameters
