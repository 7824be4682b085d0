"""The aggregates that exist before a fuzz run (a project, a milestone, a budget, ...), one seeder per service: their
ids are used in half of the cases."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from schemathesis.python import asgi
from sqlalchemy import text

from shared.auth import mint_token
from shared.db import create_engine
from shared.infra.system import Endpoints
from tests.support.clock import TODAY

AUTH = {"Authorization": f"Bearer {mint_token('dora.director', ['director'], ttl_seconds=3 * 3600)}"}


def no_aggregates(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    return {}


def _client(app: Any) -> Any:
    client = asgi.get_client(app)
    client.headers.update(AUTH)
    return client


def _created(answer: Any, key: str) -> str | None:
    return str(answer.json()[key]) if answer.status_code in (200, 201) else None


def _projects(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    known: dict[str, list[str]] = {}
    with _client(app) as c:
        c.post("/portfolios", json={"portfolio_id": "fuzz-pf", "name": "Fuzz"})
        c.post("/portfolios/fuzz-pf/programmes", json={"programme_id": "fuzz-pg", "name": "Fuzz"})
        known["portfolio_id"] = ["fuzz-pf"]
        project = c.post(
            "/projects",
            json={
                "code": "FUZZ-1",
                "name": "Fuzzed",
                "sponsor": "dora",
                "manager": "max",
                "planned_start": "2027-01-04",
                "planned_end": "2027-12-17",
                "currency": "EUR",
                "portfolio_id": "fuzz-pf",
                "programme_id": "fuzz-pg",
            },
        )
        pid = _created(project, "project_id")
        if pid is None:
            return known
        known["project_id"] = [pid]
        base = f"/projects/{pid}"
        steps = {
            "milestone_id": (
                "milestones",
                {"name": "Design", "due_date": "2027-03-31", "planned_value": {"amount": "1000.00", "currency": "EUR"}},
            ),
            "kpi_id": (
                "kpis",
                {"name": "Reach", "unit": "%", "target": "80", "direction": "at_least", "review_date": "2027-06-30"},
            ),
            "partner_id": ("partners", {"name": "ACME", "kind": "external_partner", "role": "supplier"}),
        }
        for key, (path, body) in steps.items():
            made = _created(c.post(f"{base}/{path}", json=body), key)
            if made:
                known[key] = [made]
        if "partner_id" in known:
            body = {
                "partner_id": known["partner_id"][0],
                "on": "2027-01-10",
                "channel": "email",
                "summary": "kick-off",
                "follow_up_due": "2027-02-01",
            }
            made = _created(c.post(f"{base}/communications", json=body), "communication_id")
            if made:
                known["communication_id"] = [made]
    return known


def _budget(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    pid, mid = uuid.uuid4(), uuid.uuid4()

    async def reference() -> None:  # what the budget service would have consumed from pmo.projects.v1
        engine = create_engine(infra.database_url, db_schema, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO known_projects VALUES (:p, 'FUZZ-1', 'EUR', 'proposed')"), {"p": pid}
                )
                await conn.execute(
                    text("INSERT INTO known_milestones VALUES (:m, :p, 'Design', '2027-03-31')"), {"m": mid, "p": pid}
                )
        finally:
            await engine.dispose()

    asyncio.run(reference())
    known: dict[str, list[str]] = {"project_id": [str(pid)], "milestone_id": [str(mid)]}
    eur = {"amount": "1000.00", "currency": "EUR"}
    base = f"/budgets/{pid}"
    with _client(app) as c:
        c.post(f"{base}/baseline", json={"total": eur, "categories": [{"category": "labour", "amount": eur}]})
        made = {
            "change_id": _created(
                c.post(f"{base}/change-requests", json={"category": "labour", "amount": eur, "reason": "more"}),
                "change_id",
            ),
            "source_id": _created(
                c.post(f"{base}/funding-sources", json={"name": "Grant", "kind": "grant"}), "source_id"
            ),
            "commitment_id": _created(
                c.post(
                    f"{base}/commitments",
                    json={"kind": "purchase_order", "vendor": "ACME", "reference": "PO-1", "category": "labour",
                          "amount": {"amount": "100.00", "currency": "EUR"}},
                ),
                "commitment_id",
            ),
        }  # fmt: skip
        if made["source_id"]:
            made["tranche_id"] = _created(
                c.post(
                    f"{base}/funding-sources/{made['source_id']}/tranches",
                    json={"amount": eur, "available_on": "2027-02-01"},
                ),
                "tranche_id",
            )
    known |= {k: [v] for k, v in made.items() if v}
    return known


def _reporting(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    from shared.contracts import budget as b
    from shared.contracts import projects as p
    from shared.money import Money

    pid, mid = uuid.uuid4(), uuid.uuid4()
    today = TODAY
    eur = Money.of("1000.00", "EUR")
    facts = [
        (
            "projects",
            p.ProjectRegistered(
                project_id=pid,
                portfolio_id="fuzz-pf",
                programme_id=None,
                code="FUZZ-1",
                name="Fuzzed",
                objectives="",
                sponsor="dora",
                manager="max",
                planned_start=today - timedelta(days=60),
                planned_end=today + timedelta(days=120),
                currency="EUR",
            ),
        ),
        (
            "projects",
            p.MilestonePlanned(
                project_id=pid,
                milestone_id=mid,
                name="Design",
                due_date=today,
                planned_value=eur,
                acceptance_criteria="",
            ),
        ),
        (
            "budget",
            b.BudgetBaselined(
                project_id=pid,
                total=eur,
                categories=[b.CategoryAmount(category=b.CostCategory.LABOUR, amount=eur)],
                phasing=[],
                baselined_by="fiona",
            ),
        ),
    ]

    async def store() -> None:  # what the reporting service would have consumed from the topics
        engine = create_engine(infra.database_url, db_schema, pool_size=1)
        try:
            async with engine.begin() as conn:
                for service, event in facts:
                    await conn.execute(
                        text(
                            "INSERT INTO facts (project_id, event_id, service, name, version, recorded_at, data) "
                            "VALUES (:p, :e, :s, :n, :v, :t, :d)"
                        ),
                        {
                            "p": pid,
                            "e": uuid.uuid4(),
                            "s": service,
                            "n": event.event_name,
                            "v": event.event_version,
                            "t": datetime.now(UTC) - timedelta(days=30),
                            "d": json.dumps(event.model_dump(mode="json")),
                        },
                    )
        finally:
            await engine.dispose()

    asyncio.run(store())
    return {"project_id": [str(pid)], "portfolio_id": ["fuzz-pf"], "figure": ["cpi", "ev", "bac", "vac"]}


def _resources(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    known: dict[str, list[str]] = {"role": ["developer"], "department": ["engineering"]}
    with _client(app) as c:
        made = _created(
            c.post(
                "/resources",
                json={
                    "name": "Ada Lovelace",
                    "kind": "person",
                    "role": "developer",
                    "department": "engineering",
                    "weekly_capacity_hours": "40",
                    "currency": "EUR",
                },
            ),
            "resource_id",
        )
        if made:
            known["resource_id"] = [made]
            c.post(
                f"/resources/{made}/rates",
                json={"hourly_rate": {"amount": "80.00", "currency": "EUR"}, "effective_from": "2020-01-06"},
            )
    return known


SEEDERS: dict[str, Callable[[Any, Endpoints, str], dict[str, list[str]]]] = {
    "projects": _projects,
    "budget": _budget,
    "reporting": _reporting,
    "resources": _resources,
}
