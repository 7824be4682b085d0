"""Security: every route needs a valid bearer token with an allowed role; production refuses to start without a
key; the audit trail names the acting user; CORS is closed; bodies are bounded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import ALL_ROLES, MisconfiguredError, Role, mint_token
from shared.settings import ServiceSettings
from tests.support import auth_header
from tests.support.projects import register

pytestmark = pytest.mark.integration

PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
OWN_SETTINGS = {
    ("PUT", "/notifications/preferences"),
    ("DELETE", "/notifications/preferences"),
    ("POST", "/notifications/deliveries/{delivery_id}/redeliver"),
}
"""Commands every role may send: each acts only on the caller's own alert e-mails (her preferences, her deliveries)."""


def factories() -> dict[str, Callable[[Any], FastAPI]]:
    from budget.bootstrap import create_app as budget
    from invoicing.bootstrap import create_app as invoicing
    from projects.bootstrap import create_app as projects
    from reporting.bootstrap import create_app as reporting
    from resources.bootstrap import create_app as resources

    return {
        "projects": projects,
        "budget": budget,
        "reporting": reporting,
        "invoicing": invoicing,
        "resources": resources,
    }


@pytest.fixture(params=["projects", "budget", "reporting", "invoicing", "resources"])
async def app(request: pytest.FixtureRequest, infra: Any) -> AsyncIterator[FastAPI]:
    factory = factories()[request.param]
    module = sys.modules[factory.__module__]
    settings = module.Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=f"t_sec_{uuid.uuid4().hex[:10]}",
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
    )
    application = factory(settings)
    async with application.router.lifespan_context(application):
        yield application


def concrete(path: str) -> str:
    """The route's path with every parameter filled with a random UUID."""
    out = []
    for part in path.split("/"):
        out.append(str(uuid.uuid4()) if part.startswith("{") else part)
    return "/".join(out)


def token(roles: list[str], **overrides: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token('someone', roles, **overrides)}"}


async def test_every_route_needs_a_valid_token_and_an_allowed_role(app: FastAPI) -> None:
    access = app.state.access
    routes = [
        (path, method.upper()) for path, item in app.openapi()["paths"].items() if path not in PUBLIC for method in item
    ]
    assert routes
    checked = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        for path, method in routes:
            url = concrete(path)
            body = {} if method in ("POST", "PUT", "PATCH") else None

            async def call(
                headers: dict[str, str], method: str = method, url: str = url, body: Any = body
            ) -> httpx.Response:
                return await client.request(method, url, json=body, headers=headers)

            allowed = access.allowed(method, path)
            right = sorted(r.value for r in allowed)[0]
            cases = {
                "no token": {},
                "not bearer": {"Authorization": "Basic dXNlcjpwdw=="},
                "forged": token([right], secret="not-the-secret-but-long-enough-for-hs256-keys"),
                "expired": token([right], now=time.time() - 7200, ttl_seconds=60),
                "wrong audience": token([right], audience="another-api"),
                "wrong issuer": token([right], issuer="someone-else"),
                "garbage": {"Authorization": "Bearer not.a.jwt"},
            }
            for case, headers in cases.items():
                response = await call(headers)
                assert response.status_code == 401, (method, path, case, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["www-authenticate"].startswith("Bearer")
            wrong = sorted(r.value for r in ALL_ROLES - allowed)
            if wrong:
                response = await call(token([wrong[0]]))
                assert response.status_code == 403, (method, path, wrong[0], response.text)
            else:
                assert (method == "GET" or (method, path) in OWN_SETTINGS) and allowed == ALL_ROLES
            response = await call(token([right]))
            assert response.status_code not in (401, 403), (method, path, right, response.text)
            checked += 1
    assert checked == len(routes)


async def test_writes_are_refused_to_viewers_and_gate_decisions_to_everyone_but_the_director(client) -> None:
    project = await register(client)
    base = f"/projects/{project['project_id']}"
    body = {"gate": "G1", "decision": "continue", "rationale": "fine"}
    for role in ("pmo", "finance", "viewer", "service"):
        response = await client.post(f"{base}/gate-decisions", json=body, headers=auth_header("x", role))
        assert response.status_code == 403, role
    viewer = await client.post("/projects", json={}, headers=auth_header("v", "viewer"))
    assert viewer.status_code == 403
    assert (await client.get(base, headers=auth_header("v", "viewer"))).status_code == 200
    decided = await client.post(f"{base}/gate-decisions", json=body)  # the fixture's director
    assert decided.status_code == 201 and decided.json()["decided_by"] == "dora.director"


async def test_the_audit_trail_names_the_acting_user_of_each_change(client) -> None:
    project = await register(client)  # as pat.pmo
    base = f"/projects/{project['project_id']}"
    started = await client.post(f"{base}/approve", json={})
    assert started.status_code == 200
    planned = await client.post(
        f"{base}/milestones",
        json={"name": "M", "due_date": "2027-03-31", "planned_value": {"amount": "1.00", "currency": "EUR"}},
        headers={**auth_header("pat.pmo", "pmo"), "X-Correlation-ID": "corr-42"},
    )
    assert planned.status_code == 201
    audit = (await client.get(f"{base}/events", headers=auth_header("v", "viewer"))).json()["items"]
    assert [(e["type"], e["actor"]) for e in audit] == [
        ("project-registered", "pat.pmo"),
        ("project-approved", "dora.director"),
        ("milestone-planned", "pat.pmo"),
    ]
    assert audit[2]["correlation_id"] == "corr-42"


def test_production_mode_refuses_to_build_an_app_without_a_key(infra: Any) -> None:
    from projects.bootstrap import create_app
    from projects.settings import Settings

    settings = Settings(
        env="production", database_url=infra.database_url, kafka_bootstrap_servers=infra.kafka_bootstrap_servers
    )
    with pytest.raises(MisconfiguredError, match="production mode needs a token key"):
        create_app(settings)
    assert create_app(
        Settings(
            env="production",
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            jwt_secret="s" * 32,
        )
    )


def test_a_service_process_in_production_mode_without_a_key_does_not_start(infra: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMO_JWT")}
    env |= {
        "PMO_ENV": "production",
        "PMO_DATABASE_URL": infra.database_url,
        "PMO_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
    }
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "projects.bootstrap:create_app", "--factory", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "production mode needs a token key" in result.stderr


def test_secrets_do_not_show_in_settings_output(infra: Any) -> None:
    settings = ServiceSettings(
        env="production",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        jwt_secret="very-secret-value",
        kafka_sasl_password="kafka-secret-value",
    )
    shown = repr(settings) + str(settings.model_dump())
    assert "very-secret-value" not in shown and "kafka-secret-value" not in shown


async def test_cors_is_closed_by_default(client) -> None:
    preflight = await client.options(
        "/projects", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    plain = await client.get("/projects", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in plain.headers


async def test_an_oversized_body_is_refused_with_413(client) -> None:
    response = await client.post("/projects", content=b"x" * 1_000_001, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_health_and_readiness_need_no_token(client) -> None:
    assert (await client.get("/healthz", headers={"Authorization": ""})).status_code == 200
    assert (await client.get("/readyz", headers={"Authorization": ""})).status_code == 200
    assert (await client.get("/metrics", headers={"Authorization": ""})).status_code == 401


def test_roles_are_the_documented_six() -> None:
    assert {r.value for r in Role} == {"director", "pmo", "finance", "resource-manager", "viewer", "service"}


def signed(claims: dict[str, Any]) -> dict[str, str]:
    """A development-secret token with exactly ``claims`` on top of valid defaults (for claims mint_token refuses)."""
    import jwt

    from shared.auth import DEVELOPMENT_SECRET

    now = int(time.time())
    payload = {"sub": "dora.director", "roles": ["director"], "iss": "pmo", "aud": "pmo-api", "iat": now}
    return {"Authorization": "Bearer " + jwt.encode({**payload, "exp": now + 600, **claims}, DEVELOPMENT_SECRET)}


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"sub": "dora\x00director"}, "subject"),
        ({"sub": ""}, "subject"),
        ({"sub": "d\u043era"}, "subject"),
        ({"roles": [1, {}]}, "roles must be a list of strings"),
        ({"roles": {"director": True}}, "roles must be a list of strings"),
        ({"exp": int(time.time()) + 30 * 24 * 3600}, "lifetime"),
    ],
)
async def test_a_malformed_token_answers_401_with_its_reason_never_500(
    client: httpx.AsyncClient, claims: dict[str, Any], reason: str
) -> None:
    for method, url in (("GET", "/projects"), ("POST", "/projects")):
        response = await client.request(method, url, json={} if method == "POST" else None, headers=signed(claims))
        assert response.status_code == 401, (method, claims, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert reason in response.json()["detail"]


async def test_an_over_long_authorization_header_is_refused(client: httpx.AsyncClient) -> None:
    from shared.limits import MAX_AUTHORIZATION_BYTES

    response = await client.get("/projects", headers={"Authorization": "Bearer " + "a" * MAX_AUTHORIZATION_BYTES})
    assert response.status_code in (401, 431), response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_recorded_actor_is_the_canonical_subject(client: httpx.AsyncClient) -> None:
    from tests.support.projects import project_body

    created = await client.post("/projects", json=project_body(), headers=signed({"sub": " \uff44ora.director "}))
    assert created.status_code == 201, created.text
    audit = (await client.get(f"/projects/{created.json()['project_id']}/events")).json()["items"]
    assert audit[0]["actor"] == "dora.director"


def test_production_mode_refuses_a_short_or_development_secret(infra: Any) -> None:
    from projects.bootstrap import create_app
    from projects.settings import Settings
    from shared.auth import DEVELOPMENT_SECRET

    for secret, reason in (("x", "shorter than 32 bytes"), (DEVELOPMENT_SECRET, "development secret")):
        settings = Settings(
            env="production",
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            jwt_secret=secret,
        )
        with pytest.raises(MisconfiguredError, match=reason):
            create_app(settings)
