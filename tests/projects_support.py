"""Request bodies and helpers for tests of the projects service."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text


def project_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "code": f"P-{uuid.uuid4().hex[:8]}",
        "name": "CRM replacement",
        "objectives": "Replace the legacy CRM",
        "sponsor": "dora.director",
        "manager": "max.manager",
        "planned_start": "2027-01-04",
        "planned_end": "2027-12-17",
        "currency": "EUR",
    }
    body.update(overrides)
    return body


async def portfolio(client: httpx.AsyncClient) -> str:
    slug = f"pf-{uuid.uuid4().hex[:8]}"
    created = await client.post("/portfolios", json={"portfolio_id": slug, "name": "Portfolio " + slug})
    assert created.status_code == 201, created.text
    return slug


def milestone_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Design approved",
        "due_date": "2027-03-31",
        "planned_value": {"amount": "120000.00", "currency": "EUR"},
        "acceptance_criteria": "Signed by the sponsor",
    }
    body.update(overrides)
    return body


async def event_count(client: httpx.AsyncClient) -> int:
    async with client.app.state.runtime.engine.connect() as conn:  # type: ignore[attr-defined]
        return int((await conn.execute(text("SELECT count(*) FROM events"))).scalar_one())


REGISTRANT = "pat.pmo"
"""Registers the projects of the tests: never their approver nor a gate's decider (the client's director)."""


async def register(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """A project registered by the PMO (``pat.pmo``), so that the client's director may approve it."""
    from tests.support import auth_header

    response = await client.post("/projects", json=project_body(**overrides), headers=auth_header(REGISTRANT, "pmo"))
    assert response.status_code == 201, response.text
    return dict(response.json())
