"""Authentication and authorisation: bearer JWTs, roles, and one access policy per service.

A token carries ``sub`` (the acting user or machine client, recorded on every event in its canonical form, see
:func:`shared.identity.canonical_subject`), ``roles`` (a list of strings), ``iss``, ``aud``, ``iat`` and ``exp``;
its lifetime (``exp - iat``) is at most :attr:`AuthConfig.max_lifetime_seconds`. Keys: a shared secret (HS256) for
development, a PEM public key or a JWKS file (RS256/ES256) for production.

Fail closed: in production mode (``PMO_ENV=production``, the default) a service refuses to start without a key,
with an HS256 secret shorter than :data:`MIN_SECRET_BYTES`, or with the development secret; only development
mode has a built-in secret. Every refusal of a token is an :class:`AuthError` (401), never another exception.

Who may do what is a table per service (:class:`AccessPolicy`): reads are open to every role unless a route says
otherwise; writes to the service's writer roles; some routes (approvals, gate decisions) name their own roles.
``director`` may do everything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt

from shared.identity import InvalidSubjectError, canonical_subject
from shared.limits import MAX_AUTHORIZATION_BYTES

DEVELOPMENT_SECRET = "pmo-development-secret-do-not-use-in-production"
MIN_SECRET_BYTES = 32
"""Shortest HS256 secret accepted in production (RFC 7518 section 3.2: a key at least as long as the hash)."""
DEFAULT_MAX_LIFETIME_SECONDS = 12 * 3600
"""Longest token lifetime (``exp - iat``) accepted unless ``PMO_JWT_MAX_LIFETIME_SECONDS`` says otherwise."""


class Role(StrEnum):
    DIRECTOR = "director"
    PMO = "pmo"
    FINANCE = "finance"
    RESOURCE_MANAGER = "resource-manager"
    VIEWER = "viewer"
    SERVICE = "service"


ALL_ROLES = frozenset(Role)


class AuthError(Exception):
    """The request is not authenticated (401)."""


class ForbiddenError(Exception):
    """The caller's roles do not allow this route (403)."""


class MisconfiguredError(RuntimeError):
    """The service cannot start safely (e.g. production mode without a key)."""


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role]


@dataclass(frozen=True)
class AccessPolicy:
    """Roles allowed per route. Keys of ``routes`` are ``"METHOD /path/template"``."""

    writers: frozenset[Role]
    readers: frozenset[Role] = ALL_ROLES
    routes: Mapping[str, frozenset[Role]] = field(default_factory=dict)

    def allowed(self, method: str, path: str) -> frozenset[Role]:
        explicit = self.routes.get(f"{method} {path}")
        if explicit is not None:
            return explicit | {Role.DIRECTOR}
        base = self.readers if method in ("GET", "HEAD") else self.writers
        return base | {Role.DIRECTOR}

    def table(self, routes: Iterable[tuple[str, str]]) -> list[tuple[str, str, list[str]]]:
        """``(method, path, roles)`` for every route: the documented access table."""
        return [(m, p, sorted(r.value for r in self.allowed(m, p))) for m, p in routes]


@dataclass(frozen=True)
class AuthConfig:
    mode: str
    issuer: str
    audience: str
    secret: str | None = None
    public_key_file: str | None = None
    jwks_file: str | None = None
    leeway_seconds: int = 30
    max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS


class TokenVerifier:
    """Checks a bearer token's signature, issuer, audience and expiry, and reads its subject and roles."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._keys: dict[str | None, Any] = {}
        if config.jwks_file:
            keys = json.loads(Path(config.jwks_file).read_text())["keys"]
            for key in keys:
                self._keys[key.get("kid")] = jwt.PyJWK(key).key
            self._algorithms = ["RS256", "ES256", "PS256", "EdDSA"]
        elif config.public_key_file:
            self._keys[None] = Path(config.public_key_file).read_text()
            self._algorithms = ["RS256", "ES256", "PS256", "EdDSA"]
        elif config.secret:
            if config.mode != "development":
                _refuse_weak_secret(config.secret)
            self._keys[None] = config.secret
            self._algorithms = ["HS256"]
        elif config.mode == "development":
            self._keys[None] = DEVELOPMENT_SECRET
            self._algorithms = ["HS256"]
        else:
            raise MisconfiguredError(
                "production mode needs a token key: set PMO_JWT_SECRET, PMO_JWT_PUBLIC_KEY_FILE or PMO_JWKS_FILE "
                "(or PMO_ENV=development for a local run)"
            )

    def verify(self, authorization: str | None) -> Principal:
        """The principal of a valid ``Authorization: Bearer`` header; :class:`AuthError` with the reason otherwise.

        Refused: no header or another scheme; a header longer than
        :data:`~shared.limits.MAX_AUTHORIZATION_BYTES` (before any decoding); a bad signature, issuer or
        audience; no ``sub``, ``iat`` or ``exp``; an expired token or one issued in the future; a lifetime
        (``exp - iat``) above the configured maximum; a subject that :func:`canonical_subject` refuses; ``roles``
        that is not a list of strings. Unknown role names are ignored."""
        if not authorization:
            raise AuthError("a bearer token is required")
        if len(authorization) > MAX_AUTHORIZATION_BYTES:
            raise AuthError(f"the Authorization header is longer than {MAX_AUTHORIZATION_BYTES} bytes")
        if not authorization.lower().startswith("bearer "):
            raise AuthError("a bearer token is required")
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = (self._keys.get(kid) if isinstance(kid, str) else None) or self._keys.get(None)
            if key is None:
                raise AuthError("the token's key is unknown")
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("the token is not valid yet (iat or nbf in the future)") from None
        except jwt.InvalidAudienceError:
            raise AuthError("the token is not meant for this API (audience)") from None
        except jwt.InvalidIssuerError:
            raise AuthError("the token's issuer is not trusted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"the token has no {exc.claim!r} claim") from None
        except jwt.exceptions.InvalidSubjectError:
            raise AuthError("the token's subject (sub) must be a string") from None
        except jwt.PyJWTError:
            raise AuthError("the token is invalid") from None
        lifetime = int(claims["exp"]) - int(claims["iat"])
        if lifetime > self.config.max_lifetime_seconds:
            raise AuthError(
                f"the token's lifetime ({lifetime} s from iat to exp) exceeds {self.config.max_lifetime_seconds} s"
            )
        try:
            subject = canonical_subject(claims["sub"])
        except InvalidSubjectError as exc:
            raise AuthError(f"the token's subject (sub) is not acceptable: {exc}") from None
        raw_roles = claims.get("roles", [])
        if not isinstance(raw_roles, list) or not all(isinstance(r, str) for r in raw_roles):
            raise AuthError("the token's roles must be a list of strings")
        known = {x.value for x in Role}
        return Principal(subject=subject, roles=frozenset(Role(r) for r in raw_roles if r in known))

    @staticmethod
    def authorize(principal: Principal, allowed: frozenset[Role]) -> None:
        if not principal.roles & allowed:
            needed = ", ".join(sorted(r.value for r in allowed))
            raise ForbiddenError(f"this needs one of the roles: {needed}")


def _refuse_weak_secret(secret: str) -> None:
    """:class:`MisconfiguredError` for an HS256 secret that production must not use."""
    if secret == DEVELOPMENT_SECRET:
        raise MisconfiguredError(
            "PMO_JWT_SECRET is the built-in development secret: production mode needs a secret of its own"
        )
    if len(secret.strip().encode()) < MIN_SECRET_BYTES:
        raise MisconfiguredError(
            f"PMO_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes: production mode needs a longer secret "
            "(e.g. `openssl rand -base64 48`), or a public key / JWKS file"
        )


def mint_token(
    subject: str,
    roles: Iterable[str],
    *,
    secret: str = DEVELOPMENT_SECRET,
    issuer: str = "pmo",
    audience: str = "pmo-api",
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """An HS256 token (development and tests; production tokens come from the identity provider)."""
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": subject,
        "roles": list(roles),
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")
