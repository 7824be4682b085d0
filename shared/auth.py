"""Authentication and authorisation: bearer JWTs, roles, and one access policy per service.

A token carries ``sub`` (the acting user or machine client, recorded on every event), ``roles``, ``iss``, ``aud``
and ``exp``. Keys: a shared secret (HS256) for development, a PEM public key or a JWKS file (RS256/ES256) for
production. In production mode (``PMO_ENV=production``, the default) a service refuses to start without a key;
only development mode has a built-in secret.

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

DEVELOPMENT_SECRET = "pmo-development-secret-do-not-use-in-production"


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
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthError("a bearer token is required")
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.get(header.get("kid")) or self._keys.get(None)
            if key is None:
                raise AuthError("the token's key is unknown")
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("the token is not meant for this API (audience)") from None
        except jwt.InvalidIssuerError:
            raise AuthError("the token's issuer is not trusted") from None
        except jwt.PyJWTError:
            raise AuthError("the token is invalid") from None
        raw_roles = claims.get("roles", [])
        if not isinstance(raw_roles, list):
            raise AuthError("the token's roles must be a list")
        roles = frozenset(Role(r) for r in raw_roles if r in {x.value for x in Role})
        return Principal(subject=str(claims["sub"])[:200], roles=roles)

    @staticmethod
    def authorize(principal: Principal, allowed: frozenset[Role]) -> None:
        if not principal.roles & allowed:
            needed = ", ".join(sorted(r.value for r in allowed))
            raise ForbiddenError(f"this needs one of the roles: {needed}")


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
