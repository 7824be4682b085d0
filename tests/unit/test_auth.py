"""Tokens: what a service accepts, what it refuses (always as AuthError, the edge's 401), and which keys production
refuses to start with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from shared.auth import (
    DEFAULT_MAX_LIFETIME_SECONDS,
    DEVELOPMENT_SECRET,
    AuthConfig,
    AuthError,
    MisconfiguredError,
    Role,
    TokenVerifier,
    mint_token,
)
from shared.limits import MAX_AUTHORIZATION_BYTES
from shared.settings import ServiceSettings

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def verifier(**overrides: Any) -> TokenVerifier:
    return TokenVerifier(
        AuthConfig(**{"mode": "production", "issuer": "pmo", "audience": "pmo-api", "secret": SECRET, **overrides})
    )


def bearer(**claims: Any) -> str:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "dora.director", "roles": ["director"], "iss": "pmo", "aud": "pmo-api"}
    base |= {"iat": now, "exp": now + 3600}
    drop = {k for k, v in claims.items() if v is ...}
    payload = {k: v for k, v in (base | claims).items() if k not in drop}
    return "Bearer " + jwt.encode(payload, SECRET, algorithm="HS256")


def refused(header: str, reason: str, checker: TokenVerifier | None = None) -> None:
    with pytest.raises(AuthError, match=reason):
        (checker or verifier()).verify(header)


# --- production keys --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["x", " " * 40, "s" * 31, "short-but-not-blank"])
def test_production_refuses_to_start_with_a_secret_shorter_than_32_bytes(secret: str) -> None:
    with pytest.raises(MisconfiguredError, match="shorter than 32 bytes"):
        verifier(secret=secret)


def test_production_refuses_to_start_with_the_development_secret() -> None:
    with pytest.raises(MisconfiguredError, match="development secret"):
        verifier(secret=DEVELOPMENT_SECRET)


def test_production_refuses_to_start_with_a_blank_secret_as_with_none() -> None:
    with pytest.raises(MisconfiguredError, match="production mode needs a token key"):
        verifier(secret="")


def test_production_starts_with_a_32_byte_secret_and_development_with_any() -> None:
    assert verifier(secret="s" * 32)
    assert verifier(mode="development", secret="x")
    assert verifier(mode="development", secret=None)


def test_the_settings_carry_the_maximum_lifetime_to_the_verifier() -> None:
    settings = ServiceSettings(database_url="postgresql+asyncpg://h/db", kafka_bootstrap_servers="k:9092")
    assert settings.auth().max_lifetime_seconds == DEFAULT_MAX_LIFETIME_SECONDS == 12 * 3600
    shorter = ServiceSettings(
        database_url="postgresql+asyncpg://h/db", kafka_bootstrap_servers="k:9092", jwt_max_lifetime_seconds=600
    )
    assert shorter.auth().max_lifetime_seconds == 600


# --- tokens accepted --------------------------------------------------------------------------------------------


def test_a_valid_token_gives_its_canonical_subject_and_known_roles() -> None:
    principal = verifier().verify(bearer(sub="  \uff44ora.director ", roles=["pmo", "finance", "astronaut"]))
    assert principal.subject == "dora.director"  # NFKC (fullwidth d) and trimmed
    assert principal.roles == {Role.PMO, Role.FINANCE}


def test_development_tokens_minted_by_the_cli_fit_the_default_lifetime() -> None:
    development = TokenVerifier(AuthConfig(mode="development", issuer="pmo", audience="pmo-api"))
    for ttl in (3600, 6 * 3600, 8 * 3600, DEFAULT_MAX_LIFETIME_SECONDS):
        assert development.verify(f"Bearer {mint_token('dev.director', ['director'], ttl_seconds=ttl)}")


# --- tokens refused ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["sub", "iat", "exp", "iss", "aud"])
def test_a_token_without_a_required_claim_is_refused(claim: str) -> None:
    refused(bearer(**{claim: ...}), f"no '{claim}' claim")


@pytest.mark.parametrize(
    "subject, reason",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("dora\x00director", "control or invisible"),
        ("dora\u200bdirector", "control or invisible"),
        ("d\u043era", "mixes scripts"),  # a Cyrillic o in a Latin name
        ("x" * 201, "longer than"),
    ],
)
def test_a_token_whose_subject_cannot_name_a_person_is_refused(subject: str, reason: str) -> None:
    refused(bearer(sub=subject), f"subject \\(sub\\) is not acceptable: .*{reason}")


@pytest.mark.parametrize("subject", [42, None, ["dora"], {"name": "dora"}])
def test_a_token_whose_subject_is_not_a_string_is_refused(subject: Any) -> None:
    refused(bearer(sub=subject), "sub")


@pytest.mark.parametrize("roles", [[1, {}], "director", {"director": True}, [["director"]], [None], 7])
def test_malformed_roles_are_refused_with_a_reason_and_never_crash(roles: Any) -> None:
    refused(bearer(roles=roles), "roles must be a list of strings")


def test_a_token_without_roles_is_valid_but_has_none() -> None:
    assert verifier().verify(bearer(roles=...)).roles == frozenset()


def test_a_token_living_longer_than_the_maximum_is_refused() -> None:
    now = int(time.time())
    refused(bearer(iat=now, exp=now + DEFAULT_MAX_LIFETIME_SECONDS + 1), "lifetime .* exceeds 43200 s")
    refused(bearer(iat=now - 10, exp=now + 3600), "exceeds 600 s", verifier(max_lifetime_seconds=600))
    assert verifier().verify(bearer(iat=now, exp=now + DEFAULT_MAX_LIFETIME_SECONDS))


def test_a_token_issued_in_the_future_is_refused() -> None:
    now = int(time.time())
    refused(bearer(iat=now + 3600, exp=now + 7200), "not valid yet")


@pytest.mark.parametrize("iat", ["yesterday", [1], 1.5e400])
def test_a_token_with_a_malformed_iat_is_refused(iat: Any) -> None:
    refused(bearer(iat=iat), "invalid")


def test_an_over_long_authorization_header_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_decode(token: str) -> Any:
        raise AssertionError("decoded an over-long token")

    monkeypatch.setattr(jwt, "get_unverified_header", must_not_decode)
    refused("Bearer " + "a" * MAX_AUTHORIZATION_BYTES, f"longer than {MAX_AUTHORIZATION_BYTES} bytes")


@pytest.mark.parametrize(
    "header", [None, "", "Basic dXNlcjpwdw==", "Bearer", "Bearer ", "Bearer not.a.jwt", "Bearer \x00\x01"]
)
def test_a_missing_or_malformed_header_is_refused(header: str | None) -> None:
    with pytest.raises(AuthError):
        verifier().verify(header)


def test_a_token_signed_with_another_key_or_with_a_non_string_kid_is_refused() -> None:
    now = int(time.time())
    claims = {"sub": "x", "iss": "pmo", "aud": "pmo-api", "iat": now, "exp": now + 60}
    refused("Bearer " + jwt.encode(claims, "another-secret-that-is-long-enough-too", algorithm="HS256"), "invalid")
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": ["not", "hashable"]}).encode())
    signed = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = b64(hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).digest())
    refused(f"Bearer {signed}.{signature}", "invalid")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- verified tokens remembered ---------------------------------------------------------------------------------


def test_a_token_verified_once_is_answered_from_memory_with_the_same_principal(monkeypatch: pytest.MonkeyPatch) -> None:
    checker, header = verifier(), bearer(portfolios=["digital"])
    decode, checked = jwt.decode, []

    def counting(*args: Any, **kwargs: Any) -> Any:
        checked.append(args[0])
        return decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    first = checker.verify(header)
    assert checker.verify(header) == first and checker.verify(header) == first
    assert len(checked) == 1  # the signature was checked once
    other = checker.verify(bearer(sub="max.manager"))  # another token: checked
    assert other.subject == "max.manager" and len(checked) == 2


def test_a_remembered_token_stops_working_when_it_expires() -> None:
    checker = verifier(leeway_seconds=0)
    exp = int(time.time()) + 2
    header = bearer(exp=exp)
    checker.verify(header)
    time.sleep(max(0.0, exp - time.time()) + 0.1)
    refused(header, "expired", checker)


def test_a_remembered_token_stops_working_when_its_key_is_replaced() -> None:
    checker, header = verifier(), bearer()
    checker.verify(header)
    checker._keys[None] = "another-secret-that-is-long-enough-for-hs256"  # the operator rotated the key
    refused(header, "invalid", checker)


def test_failures_are_not_remembered_and_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.auth as auth

    monkeypatch.setattr(auth, "REMEMBERED_TOKENS", 3)
    checker = verifier()
    refused(bearer(aud="elsewhere"), "audience", checker)
    assert len(checker._verified) == 0
    for n in range(5):
        checker.verify(bearer(sub=f"user{n}"))
    assert len(checker._verified) == 3
