"""One request must never stop the system: each probe an attacker (or a careless user) sent is answered fast with a
4xx problem naming the field, over a real HTTP server, while the service stays healthy for everyone else."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from shared.db import create_engine
from shared.limits import MAX_EVENT_BYTES
from tests.support import auth_header
from tests.support.clock import TODAY
from tests.support.projects import project_body

pytestmark = pytest.mark.integration

PMO = auth_header("pia.pmo", "pmo")
OTHER_PMO = auth_header("olaf.pmo", "pmo")
VIEWER = auth_header("vera.viewer", "viewer")
DIRECTOR = auth_header("dan.director", "director")
FINANCE = auth_header("fin.finance", "finance")


@asynccontextmanager
async def served(
    factory: Callable[[Any], FastAPI], infra: Any, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The service's app behind a real uvicorn server (as ``make run`` serves it) on a free port."""
    module = sys.modules[factory.__module__]
    settings = module.Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=f"t_hostile_{uuid.uuid4().hex[:10]}",
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        **overrides,
    )
    app = factory(settings)
    try:
        async with app.router.lifespan_context(app):
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    yield client, app
            finally:
                server.should_exit = True
                await task
    finally:
        engine = create_engine(infra.database_url, "public")
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.db_schema}" CASCADE'))
        await engine.dispose()


@pytest.fixture(scope="module")
async def projects(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    from projects.bootstrap import create_app

    async with served(create_app, infra) as (client, _):
        yield client


@pytest.fixture(scope="module")
async def resources(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    from resources.bootstrap import create_app

    async with served(create_app, infra) as (client, _):
        yield client


@pytest.fixture(scope="module")
async def budget(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    from budget.bootstrap import create_app

    async with served(create_app, infra) as (client, _):
        yield client


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return [e["field"] for e in response.json().get("errors", [])]


async def healthz_time(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    assert (await client.get("/healthz")).status_code == 200
    return time.perf_counter() - started


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = b"x" * min(size, total - sent)
        sent += len(piece)
        yield piece


# --- no work before authentication, bounded work after it ----------------------------------------------------


async def test_an_anonymous_chunked_body_of_50_mb_is_refused_before_it_is_read(projects: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    response = await projects.post("/projects", content=chunks(50_000_000), headers={"content-type": "text/plain"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 401
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert await healthz_time(projects) < 0.5


async def test_an_authenticated_chunked_body_past_the_limit_is_refused_as_it_arrives(
    projects: httpx.AsyncClient,
) -> None:
    headers = {**PMO, "content-type": "application/json"}
    started = time.perf_counter()
    response = await projects.post("/projects", content=chunks(50_000_000), headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert await healthz_time(projects) < 0.5


async def test_a_declared_length_past_the_limit_is_refused_before_the_body(projects: httpx.AsyncClient) -> None:
    response = await projects.post("/projects", content=b"x" * 1_000_001, headers=PMO)
    assert response.status_code == 413


async def test_a_one_megabyte_header_is_refused_fast_while_healthz_stays_fast(projects: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    response = await projects.get("/projects", headers={"Authorization": "Bearer " + "a" * 1_000_000})
    elapsed = time.perf_counter() - started
    assert 400 <= response.status_code < 500
    assert response.status_code == 431
    assert elapsed < 2, f"took {elapsed:.1f} s"
    many = {f"x-filler-{i}": "b" * 1000 for i in range(40)}
    assert (await projects.get("/projects", headers={**PMO, **many})).status_code == 431
    assert await healthz_time(projects) < 0.5


async def test_the_capacity_query_in_year_one_is_refused_before_it_reaches_the_database(
    resources: httpx.AsyncClient,
) -> None:
    started = time.perf_counter()
    response = await resources.get("/capacity", params={"from_week": "0001-W01", "to_week": "0001-W01"}, headers=VIEWER)
    assert response.status_code == 422
    assert problem_fields(response) == ["from_week", "to_week"]  # both outside the business years, both named
    assert time.perf_counter() - started < 1
    assert (
        await resources.get("/capacity", params={"from_week": "2027-W00", "to_week": "2027-W05"}, headers=VIEWER)
    ).status_code == 422
    assert (
        await resources.get("/capacity", params={"from_week": "2027-W53", "to_week": "2027-W53"}, headers=VIEWER)
    ).status_code == 422  # 2027 has 52 ISO weeks
    fine = await resources.get("/capacity", params={"from_week": "2026-W53", "to_week": "2027-W02"}, headers=VIEWER)
    assert fine.status_code == 200, fine.text


async def test_a_service_statement_is_cancelled_past_the_statement_timeout(infra: Any) -> None:
    from resources.bootstrap import create_app

    async with served(create_app, infra, db_statement_timeout_ms=300) as (client, app):
        async with app.state.runtime.engine.connect() as conn:
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar_one() == "300ms"
            started = time.perf_counter()
            with pytest.raises(Exception, match="statement timeout"):
                await conn.execute(text("SELECT pg_sleep(5)"))
            assert time.perf_counter() - started < 2
        assert await healthz_time(client) < 0.5


# --- no 5xx from input --------------------------------------------------------------------------------------


async def test_a_nul_character_in_a_body_string_is_refused_naming_the_field(projects: httpx.AsyncClient) -> None:
    response = await projects.post("/projects", json=project_body(name="CRM\x00replacement"), headers=PMO)
    assert response.status_code == 422
    assert problem_fields(response) == ["name"]


@pytest.mark.parametrize("text_value", ["a\x1b[31mred", "\u202eevil", "bell\x07"])
async def test_control_and_bidi_characters_are_refused(projects: httpx.AsyncClient, text_value: str) -> None:
    response = await projects.post("/projects", json=project_body(objectives=text_value), headers=PMO)
    assert response.status_code == 422
    assert problem_fields(response) == ["objectives"]


async def test_a_lone_surrogate_in_json_is_refused(projects: httpx.AsyncClient) -> None:
    raw = json.dumps(project_body()).replace('"CRM replacement"', '"CRM \\ud800"')
    response = await projects.post("/projects", content=raw, headers={**PMO, "content-type": "application/json"})
    assert response.status_code == 422
    assert problem_fields(response) == ["name"]


async def test_a_nul_character_in_the_path_or_the_query_is_refused(projects: httpx.AsyncClient) -> None:
    response = await projects.get("/projects/abc%00def", headers=PMO)
    assert response.status_code == 422
    assert problem_fields(response) == ["path"]
    response = await projects.get("/projects?portfolio_id=a%00b", headers=PMO)
    assert response.status_code == 422
    assert problem_fields(response) == ["portfolio_id"]


@pytest.mark.parametrize("etag", ['"\u00b2"', '"1e3"', '"-1"', '"99999999999999999999"'])
async def test_a_malformed_if_match_is_a_4xx(projects: httpx.AsyncClient, etag: str) -> None:
    created = await projects.post("/projects", json=project_body(), headers=PMO)
    assert created.status_code == 201
    pid = created.json()["project_id"]
    response = await projects.post(
        f"/projects/{pid}/approve",
        json={},
        headers=[*PMO.items(), ("If-Match", etag.encode("utf-8"))],
    )
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31", "1899-12-31"])
async def test_dates_outside_the_business_range_are_refused(projects: httpx.AsyncClient, as_of: str) -> None:
    response = await projects.post("/projects", json=project_body(planned_start=as_of), headers=PMO)
    assert response.status_code == 422
    assert problem_fields(response) == ["planned_start"]


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("1E+3000000", "EUR"),
        ("1E+30", "EUR"),
        ("1000000000000000000000000000000", "EUR"),
        ("1000000000000.01", "EUR"),
        ("1_000", "EUR"),
        ("\u0661\u0662\u0663", "EUR"),
        (" 12", "EUR"),
        ("NaN", "EUR"),
        ("1000000000000001", "IDR"),
    ],
)
async def test_amounts_are_plain_decimals_within_their_currency_bound(
    budget: httpx.AsyncClient, amount: str, currency: str
) -> None:
    pid = uuid.uuid4()
    body = {"category": "labour", "amount": {"amount": amount, "currency": currency}, "reason": "probe"}
    warm = {**body, "amount": {"amount": "1_000", "currency": "EUR"}}  # the route's first call pays its set-up once
    await budget.post(f"/budgets/{pid}/change-requests", json=warm, headers=FINANCE)
    started = time.perf_counter()
    response = await budget.post(f"/budgets/{pid}/change-requests", json=body, headers=FINANCE)
    assert response.status_code == 422, response.text
    assert problem_fields(response) == ["amount.amount"]
    assert time.perf_counter() - started < 1


async def test_an_event_past_the_size_limit_is_refused_before_it_is_stored(projects: httpx.AsyncClient) -> None:
    created = await projects.post("/projects", json=project_body(), headers=PMO)
    assert created.status_code == 201
    pid = created.json()["project_id"]
    approved = await projects.post(f"/projects/{pid}/approve", json={}, headers=DIRECTOR)
    assert approved.status_code == 200, approved.text
    wide = "\U0001f600" * 1000  # 4 bytes in the body, 12 in the event's JSON
    body = {
        "meeting_date": TODAY.isoformat(),
        **dict.fromkeys(("schedule", "cost", "scope", "quality", "resources"), "green"),
        "narrative": "\U0001f600" * 20000,
        "risks": [wide] * 50,
        "decisions": [wide] * 50,
        "next_steps": [wide] * 50,
    }
    assert len(json.dumps(body, ensure_ascii=False).encode()) < 1_000_000
    response = await projects.post(f"/projects/{pid}/status-reports", json=body, headers=PMO)
    assert response.status_code == 413, response.text
    assert str(MAX_EVENT_BYTES) in response.json()["detail"]
    history = await projects.get(f"/projects/{pid}", headers=PMO)
    assert history.json()["status_reports"] == []


# --- idempotency keys belong to their caller ------------------------------------------------------------------


async def test_an_idempotency_key_does_not_return_another_users_answer(projects: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    body = project_body()
    first = await projects.post("/projects", json=body, headers={**PMO, "Idempotency-Key": key})
    assert first.status_code == 201
    again = await projects.post("/projects", json=body, headers={**PMO, "Idempotency-Key": key})
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["project_id"] == first.json()["project_id"]
    other = await projects.post("/projects", json=body, headers={**OTHER_PMO, "Idempotency-Key": key})
    assert other.headers.get("idempotent-replayed") is None
    assert other.json().get("project_id") != first.json()["project_id"]
    bad = await projects.post("/projects", json=project_body(), headers={**PMO, "Idempotency-Key": "a b"})
    assert bad.status_code == 422
    assert problem_fields(bad) == ["Idempotency-Key"]


@pytest.fixture(scope="module")
async def reporting(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    from reporting.bootstrap import create_app

    async with served(create_app, infra) as (client, _):
        yield client


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
async def test_reports_as_of_a_date_outside_the_business_range_are_refused(
    reporting: httpx.AsyncClient, as_of: str
) -> None:
    for path in ("/reports/portfolio", "/dashboard"):
        response = await reporting.get(path, params={"as_of": as_of}, headers=VIEWER)
        assert response.status_code == 422, (path, response.text)
        assert problem_fields(response) == ["as_of"]


async def test_the_dashboard_cookie_opens_reporting_reads_only(
    reporting: httpx.AsyncClient, projects: httpx.AsyncClient
) -> None:
    token = VIEWER["Authorization"].removeprefix("Bearer ")
    cookie = {"Cookie": f"pmo_token={token}"}
    assert (await reporting.get("/alerts", headers=cookie)).status_code == 200
    assert (await projects.get("/projects", headers=cookie)).status_code == 401


# --- one person cannot silence a portfolio ---------------------------------------------------------------------


async def test_one_pmo_user_cannot_loosen_a_portfolios_alert_thresholds_alone(reporting: httpx.AsyncClient) -> None:
    portfolio = f"pf-{uuid.uuid4().hex[:8]}"
    path = f"/portfolios/{portfolio}/alert-thresholds"
    stricter = await reporting.put(path, json={"cpi_below": "0.95"}, headers=PMO)
    assert stricter.status_code == 200, stricter.text
    assert stricter.json()["thresholds"]["cpi_below"] == "0.95"
    looser = await reporting.put(path, json={"cpi_below": "0.5", "status_report_days": 60}, headers=PMO)
    assert looser.status_code == 200, looser.text
    assert looser.json()["thresholds"]["cpi_below"] == "0.95"
    assert sorted(looser.json()["change_requested"]["looser"]) == ["cpi_below", "status_report_days"]
    in_force = (await reporting.get(path, headers=VIEWER)).json()
    assert in_force["thresholds"]["cpi_below"] == "0.95"
    assert in_force["change_requested"]["requested_by"] == "pia.pmo"
    alone = await reporting.post(f"{path}/approve", headers=auth_header("PIA.pmo", "pmo"))
    assert alone.status_code == 409
    assert alone.json()["title"] == "Separation of duties"
    approved = await reporting.post(f"{path}/approve", headers=OTHER_PMO)
    assert approved.status_code == 200, approved.text
    after = (await reporting.get(path, headers=VIEWER)).json()
    assert (after["thresholds"]["cpi_below"], after["thresholds"]["status_report_days"]) == ("0.5", "60")
    assert after["change_requested"] is None
