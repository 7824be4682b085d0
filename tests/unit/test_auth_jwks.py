"""Tokens signed by an identity provider whose keys come from its JWKS URL, served over HTTP in the test: keys are
cached, rotated, fetched again on an unknown key id at most once per interval, and a provider answering garbage,
refusing or hanging never breaks the keys already known nor holds a request past the bound. Also: the roles claim
path, the role map, the membership claims and the machine clients' route allow-lists."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import AuthConfig, AuthError, ForbiddenError, MisconfiguredError, Principal, Role, TokenVerifier


@dataclass
class Provider:
    """A JWKS endpoint: ``keys`` by kid; ``mode`` ``ok``, ``garbage`` (not JSON), ``no-key`` (JSON holding no usable
    key), ``error`` (503) or ``hang``; ``hits`` counted."""

    keys: dict[str, Any] = field(default_factory=dict)
    """The published keys; ``signers`` holds every key a test may sign with, published or not."""
    signers: dict[str, Any] = field(default_factory=dict)
    mode: str = "ok"
    hits: int = 0
    url: str = ""

    def body(self) -> bytes:
        public = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            public.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return json.dumps({"keys": public}).encode()

    def sign(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {"sub": "kim", "iss": "https://idp.example", "aud": "pmo-api", "iat": now, "exp": now + 300}
        return "Bearer " + jwt.encode(payload | claims, self.signers[kid], algorithm="RS256", headers={"kid": kid})


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {"k1": new_key(), "k2": new_key()}


@pytest.fixture
def provider(keys: dict[str, rsa.RSAPrivateKey]) -> Iterator[Provider]:
    state = Provider(signers=keys)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            if state.mode == "hang":
                time.sleep(2)
            if state.mode == "error":
                self.send_response(503)
                self.end_headers()
                return
            body = {"garbage": b"<html>not a key set", "no-key": b'{"keys": [{"kty": "none"}]}'}.get(state.mode)
            body = body or state.body()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/certs"
    yield state
    server.shutdown()
    server.server_close()


def verifier(provider: Provider, **overrides: Any) -> TokenVerifier:
    config: dict[str, Any] = {
        "mode": "production",
        "issuer": "https://idp.example",
        "audience": "pmo-api",
        "jwks_url": provider.url,
        "jwks_timeout_seconds": 0.3,
        "jwks_min_refresh_seconds": 60,
    }
    return TokenVerifier(AuthConfig(**(config | overrides)))


async def test_keys_are_fetched_once_cached_and_rotated(provider: Provider, keys: dict[str, Any]) -> None:
    provider.keys = {"k1": keys["k1"]}
    checker = verifier(provider, jwks_min_refresh_seconds=0.2)
    for _ in range(5):
        principal = await checker.verify_async(provider.sign("k1", roles=["director"]))
        assert principal.roles == {Role.DIRECTOR}
    assert provider.hits == 1  # cached
    provider.keys = {"k2": keys["k2"]}  # the provider rotates: k2 signs, k1 is withdrawn
    time.sleep(0.25)
    assert (await checker.verify_async(provider.sign("k2", roles=["pmo"]))).roles == {Role.PMO}
    assert provider.hits == 2  # the unknown kid fetched the new set once
    with pytest.raises(AuthError, match="unknown"):
        await checker.verify_async(provider.sign("k1"))  # the withdrawn key no longer signs anything


async def test_unknown_key_ids_fetch_at_most_once_per_interval(provider: Provider, keys: dict[str, Any]) -> None:
    provider.keys = {"k1": keys["k1"]}
    checker = verifier(provider)
    await checker.verify_async(provider.sign("k1"))
    claims = {"sub": "x", "iss": "https://idp.example", "aud": "pmo-api", "iat": 1, "exp": 2}
    for n in range(20):
        forged = jwt.encode(claims, keys["k2"], algorithm="RS256", headers={"kid": f"random-{n}"})
        with pytest.raises(AuthError, match="unknown"):
            await checker.verify_async(f"Bearer {forged}")
    assert provider.hits == 1  # the first fetch counts: random key ids wait for the interval, never hammer the IdP


@pytest.mark.parametrize("mode", ["garbage", "no-key", "error", "hang"])
async def test_a_failing_provider_keeps_the_known_keys_and_refuses_unknown_ones_fast(
    provider: Provider, keys: dict[str, Any], mode: str
) -> None:
    provider.keys = {"k1": keys["k1"]}
    checker = verifier(provider, jwks_min_refresh_seconds=0.05, jwks_refresh_seconds=10)
    await checker.verify_async(provider.sign("k1"))
    provider.mode = mode
    provider.keys = {"k1": keys["k1"], "k2": keys["k2"]}
    time.sleep(0.06)
    started = time.perf_counter()
    with pytest.raises(AuthError, match="unknown"):
        await checker.verify_async(provider.sign("k2"))
    assert time.perf_counter() - started < 1.0  # bounded by the 0.3 s timeout, whatever the provider does
    assert (await checker.verify_async(provider.sign("k1", roles=["viewer"]))).roles == {Role.VIEWER}
    assert provider.hits == 2


async def test_a_provider_down_at_start_refuses_tokens_with_401_never_another_error(provider: Provider) -> None:
    provider.mode = "error"
    checker = verifier(provider)
    with pytest.raises(AuthError, match="unknown"):
        await checker.verify_async("Bearer " + jwt.encode({"sub": "x"}, "k" * 32, headers={"kid": "k1"}))
    with pytest.raises(AuthError):
        await checker.verify_async("Bearer not.a.jwt")


async def test_the_key_sets_state_is_a_readiness_detail_only_when_something_is_wrong(
    provider: Provider, keys: dict[str, Any]
) -> None:
    provider.keys = {"k1": keys["k1"]}
    checker = verifier(provider, jwks_min_refresh_seconds=0.05)
    assert await checker.key_set() is None  # the first probe fetched the keys: nothing to report
    assert provider.hits == 1
    provider.mode = "garbage"
    time.sleep(0.06)
    with pytest.raises(AuthError, match="unknown"):
        await checker.verify_async(provider.sign("k2"))  # an unknown kid: a fetch, which fails
    detail = await checker.key_set()
    assert detail is not None
    assert detail["jwks"]["keys"] == ["k1"] and detail["jwks"]["last_error"] is not None
    assert detail["jwks"]["fetches"] == 2 and detail["jwks"]["fetched_seconds_ago"] is not None
    assert (await checker.verify_async(provider.sign("k1"))).subject == "kim"  # the known key still works
    provider.mode = "ok"
    time.sleep(0.06)
    with pytest.raises(AuthError, match="unknown"):
        await checker.verify_async(provider.sign("k2"))  # k2 is not published: fetched, the set is healthy again
    assert await checker.key_set() is None


async def test_a_provider_down_at_start_shows_an_empty_key_set_in_readiness(provider: Provider) -> None:
    provider.mode = "error"
    detail = await verifier(provider).key_set()
    assert detail is not None and detail["jwks"]["keys"] == [] and detail["jwks"]["fetched_seconds_ago"] is None
    assert detail["jwks"]["last_error"]


async def test_without_a_jwks_url_readiness_has_no_key_set_detail() -> None:
    assert await TokenVerifier(AuthConfig(mode="development", issuer="pmo", audience="pmo-api")).key_set() is None


# --- claims ------------------------------------------------------------------------------------------------------


async def test_keycloak_roles_are_read_at_their_path_and_mapped(provider: Provider, keys: dict[str, Any]) -> None:
    provider.keys = {"k1": keys["k1"]}
    checker = verifier(
        provider,
        roles_claim="realm_access.roles",
        role_map="pmo-director=director, pmo-office=pmo,pmo-readers=viewer",
    )
    token = provider.sign("k1", realm_access={"roles": ["pmo-office", "offline_access", "director"]})
    principal = await checker.verify_async(token)
    assert principal.roles == {Role.PMO}  # with a map, only mapped names count ("director" is not one of theirs)
    assert (await checker.verify_async(provider.sign("k1"))).roles == frozenset()  # no claim: no role


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"realm_access": ["pmo-office"]}, "roles must be a list of strings \\(claim realm_access.roles\\)"),
        ({"realm_access": {"roles": "pmo-office"}}, "roles must be"),
        ({"realm_access": {"roles": [1, None]}}, "roles must be"),
        ({"realm_access": {"roles": ["x" * 201]}}, "roles must be"),
        ({"pmo_portfolios": "pf-a"}, "portfolios must be"),
        ({"pmo_portfolios": ["pf"] * 501}, "more than 500"),
        ({"pmo_programmes": {"a": 1}}, "programmes must be"),
    ],
)
async def test_a_claim_of_the_wrong_shape_is_a_401_with_its_reason(
    provider: Provider, keys: dict[str, Any], claims: dict[str, Any], reason: str
) -> None:
    provider.keys = {"k1": keys["k1"]}
    checker = verifier(provider, roles_claim="realm_access.roles", role_map="pmo-office=pmo")
    with pytest.raises(AuthError, match=reason):
        await checker.verify_async(provider.sign("k1", **claims))


async def test_membership_claims_give_the_portfolios_and_programmes(provider: Provider, keys: dict[str, Any]) -> None:
    provider.keys = {"k1": keys["k1"]}
    checker = verifier(provider)
    member = await checker.verify_async(provider.sign("k1", pmo_portfolios=["pf-a"], pmo_programmes=["pg-1"]))
    assert member.portfolios == {"pf-a"} and member.programmes == {"pg-1"} and not member.all_portfolios
    everyone = await checker.verify_async(provider.sign("k1", pmo_portfolios=["*"]))
    assert everyone.all_portfolios and everyone.portfolios == frozenset()


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"role_map": "pmo-office"}, "PMO_ROLE_MAP"),
        ({"role_map": "pmo-office=superuser"}, "not one of our roles"),
        ({"roles_claim": "realm_access..roles"}, "PMO_ROLES_CLAIM"),
        ({"jwks_url": "file:///etc/passwd"}, "PMO_JWKS_URL"),
        ({"service_clients": {"erp": ["POST invoices"]}}, "PMO_SERVICE_CLIENTS"),
    ],
)
def test_a_bad_identity_setting_refuses_to_start(provider: Provider, overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(MisconfiguredError, match=reason):
        verifier(provider, **overrides)


def test_machine_clients_reach_only_the_routes_listed_for_them(provider: Provider, keys: dict[str, Any]) -> None:
    provider.keys = {"k1": keys["k1"]}
    checker = verifier(provider, service_clients={"erp": ["POST /invoices"], "bi": ["*"]})
    service = frozenset({Role.SERVICE})
    erp_client = Principal("svc-erp", service, client_id="erp")
    checker.authorize(erp_client, service, "POST /invoices")
    with pytest.raises(ForbiddenError, match="'erp' may not use POST /invoices/\\{invoice_id\\}/approve"):
        checker.authorize(erp_client, service, "POST /invoices/{invoice_id}/approve")
    with pytest.raises(ForbiddenError):
        checker.authorize(Principal("unknown", service, client_id="unlisted"), service, "POST /invoices")
    checker.authorize(Principal("svc-bi", service, client_id="bi"), service, "GET /reports/portfolio")
    checker.authorize(  # the built-in client: the projects service reading a report for a gate decision
        Principal("projects-service", service, client_id="projects-service"),
        service,
        "GET /reports/projects/{project_id}",
    )
    person = Principal("pat", frozenset({Role.PMO}))
    checker.authorize(person, frozenset({Role.PMO}), "POST /invoices/{invoice_id}/approve")  # people: roles only


def test_development_without_an_allow_list_leaves_machine_clients_their_roles() -> None:
    checker = TokenVerifier(AuthConfig(mode="development", issuer="pmo", audience="pmo-api"))
    checker.authorize(Principal("x", frozenset({Role.SERVICE})), frozenset({Role.SERVICE}), "POST /anything")
