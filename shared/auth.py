"""Authentication and authorisation: bearer JWTs, roles, and one access policy per service.

A token carries ``sub`` (the acting user or machine client, recorded on every event in its canonical form, see
:func:`shared.identity.canonical_subject`), roles (a list of strings at a configurable claim path, e.g. ``roles`` or
Keycloak's ``realm_access.roles``, mapped to ours by :attr:`AuthConfig.role_map`), ``iss``, ``aud``, ``iat`` and
``exp``; its lifetime (``exp - iat``) is at most :attr:`AuthConfig.max_lifetime_seconds`. It may carry the
portfolios and programmes its holder belongs to (:attr:`AuthConfig.portfolios_claim`, ``*`` = all), which
:mod:`shared.authz` applies to each object. Keys: a shared secret (HS256) for development, a PEM public key, a JWKS
file or the identity provider's JWKS URL (:class:`JwksKeys`: cached, refreshed on an unknown ``kid`` at most once per
interval, a failing endpoint never breaks the keys already known) for production.

Fail closed: in production mode (``PMO_ENV=production``, the default) a service refuses to start without a key,
with an HS256 secret shorter than :data:`MIN_SECRET_BYTES`, or with the development secret; only development
mode has a built-in secret. Every refusal of a token is an :class:`AuthError` (401), never another exception.

Who may do what is a table per service (:class:`AccessPolicy`): reads are open to every role unless a route says
otherwise; writes to the service's writer roles; some routes (approvals, gate decisions) name their own roles.
``director`` may do everything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt

from shared.identity import InvalidSubjectError, canonical_subject
from shared.limits import MAX_AUTHORIZATION_BYTES, MAX_LIST, MAX_NAME

log = logging.getLogger(__name__)

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


ALL = "*"
"""In a token's portfolios claim: every portfolio (an organisation-wide function, e.g. the PMO office)."""


@dataclass(frozen=True)
class Principal:
    """Who calls: the canonical subject, our roles, the portfolios and programmes she belongs to
    (``all_portfolios``: every one), and for a machine client its client id (the ``azp`` claim, else ``sub``)."""

    subject: str
    roles: frozenset[Role]
    portfolios: frozenset[str] = frozenset()
    programmes: frozenset[str] = frozenset()
    all_portfolios: bool = False
    client_id: str | None = None


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


_ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) /[\x21-\x7e]{0,300}$")
DEFAULT_SERVICE_CLIENTS: Mapping[str, frozenset[str]] = {
    "projects-service": frozenset({"GET /reports/projects/{project_id}"})
}
"""Built-in allow-list: the projects service reads a project's report when a gate decision is taken (see
``projects.reporting_client``). ``PMO_SERVICE_CLIENTS`` adds to it (or replaces an entry of the same client id)."""


@dataclass(frozen=True)
class AuthConfig:
    mode: str
    issuer: str
    audience: str
    secret: str | None = None
    public_key_file: str | None = None
    jwks_file: str | None = None
    jwks_url: str | None = None
    jwks_timeout_seconds: float = 3.0
    """Longest a fetch of the JWKS URL may hold a request that waits for it (an unknown ``kid``)."""
    jwks_refresh_seconds: float = 300.0
    """Keys older than this are refreshed in the background (the request goes on with the cached ones)."""
    jwks_min_refresh_seconds: float = 30.0
    """An unknown ``kid`` triggers a fetch at most once per this interval (failed fetches count)."""
    leeway_seconds: int = 30
    max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS
    roles_claim: str = "roles"
    """Dotted path of the roles list in the token, e.g. ``roles`` (Entra ID) or ``realm_access.roles`` (Keycloak)."""
    role_map: str = ""
    """``theirs=ours,...`` (e.g. ``pmo-director=director,pmo-finance=finance``); empty: our role names as they are.
    With a map, only the names it lists count."""
    portfolios_claim: str = "pmo_portfolios"
    programmes_claim: str = "pmo_programmes"
    client_id_claim: str = "azp"
    service_clients: Mapping[str, Iterable[str]] | None = None
    """Routes (``"METHOD /template"``, or ``"*"`` for all its role allows) per machine client id. None: every
    client may use every route its role allows in development; in production only :data:`DEFAULT_SERVICE_CLIENTS`."""


def parse_role_map(text: str) -> dict[str, Role]:
    """``theirs=ours,...`` as a mapping; :class:`MisconfiguredError` naming the bad entry otherwise."""
    mapping: dict[str, Role] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        theirs, sep, ours = (part.strip() for part in entry.partition("="))
        if not sep or not theirs or len(theirs) > MAX_NAME:
            raise MisconfiguredError(f"PMO_ROLE_MAP: {entry!r} is not 'their-role=our-role'")
        if ours not in {r.value for r in Role}:
            known = ", ".join(r.value for r in Role)
            raise MisconfiguredError(f"PMO_ROLE_MAP: {ours!r} (for {theirs!r}) is not one of our roles: {known}")
        mapping[theirs] = Role(ours)
    return mapping


def _claim_path(name: str, setting: str) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    if not name or len(name) > MAX_NAME or any(not p for p in parts):
        raise MisconfiguredError(f"{setting}: {name!r} is not a claim path such as 'roles' or 'realm_access.roles'")
    return parts


def _service_clients(config: AuthConfig) -> Mapping[str, frozenset[str]] | None:
    if config.service_clients is None:
        return None if config.mode == "development" else DEFAULT_SERVICE_CLIENTS
    clients = dict(DEFAULT_SERVICE_CLIENTS)
    for client, routes in config.service_clients.items():
        listed = frozenset(routes)
        bad = [r for r in listed if r != ALL and not _ROUTE.match(r)]
        if not client or bad:
            raise MisconfiguredError(
                f"PMO_SERVICE_CLIENTS: {client!r} lists {bad!r}; each route is 'METHOD /path/template' or '*'"
            )
        clients[client] = listed
    return clients


class JwksKeys:
    """The identity provider's signing keys from its JWKS URL, by ``kid`` (PyJWT's :class:`jwt.PyJWKClient` fetches
    and parses them).

    * Known keys are used without any I/O; once they are older than ``refresh_seconds`` a background fetch replaces
      them (a key the provider dropped stops working then: that is how a compromised key is revoked).
    * An unknown ``kid`` waits for one fetch, at most ``timeout_seconds`` and at most once per
      ``min_refresh_seconds`` (failed attempts count too: random key ids cannot make the service hammer the
      provider); concurrent requests share that fetch.
    * A fetch that fails (timeout, refused, not JSON, no usable key) keeps the keys already known and is logged.
    """

    def __init__(self, url: str, *, timeout_seconds: float, refresh_seconds: float, min_refresh_seconds: float) -> None:
        self.url = url
        self.timeout = timeout_seconds
        self.refresh_seconds = refresh_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout_seconds)
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._inflight: asyncio.Future[None] | None = None
        self._lock = threading.Lock()
        self.fetches = 0
        """Fetch attempts so far (tests and operators: the rate limit at work)."""
        self.last_error: str | None = None
        """Why the latest fetch failed (None once one succeeds)."""

    def get(self, kid: str | None) -> Any | None:
        return self._keys.get(kid) if isinstance(kid, str) else None

    def fetch(self) -> None:
        """Fetch the key set now (blocking, bounded by the timeout); keeps the known keys when it fails."""
        with self._lock:
            self.fetches += 1
            self._attempted_at = time.monotonic()
        try:
            keys = {k.key_id: k.key for k in self._client.get_signing_keys(refresh=True) if k.key_id}
        except Exception as exc:  # garbage, timeout, refused, no signing key: keep what we had
            log.warning("JWKS fetch from %s failed (%s); keeping %d known keys", self.url, exc, len(self._keys))
            self.last_error = type(exc).__name__
            return
        with self._lock:
            self._keys = keys
            self._fetched_at = time.monotonic()
            self.last_error = None

    def state(self) -> dict[str, Any]:
        """The key set as an operator sees it: the key ids held, seconds since the last successful fetch (None:
        never), fetch attempts and the latest failure (None when the latest fetch worked)."""
        age = None if self._fetched_at is None else round(time.monotonic() - self._fetched_at, 1)
        return {
            "url": self.url,
            "keys": sorted(self._keys),
            "fetched_seconds_ago": age,
            "fetches": self.fetches,
            "last_error": self.last_error,
        }

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.min_refresh_seconds

    async def ensure(self, kid: str | None) -> None:
        """Make ``kid`` known if the provider has it: one bounded fetch when it is unknown and the rate limit
        allows; a background refresh when the keys are stale."""
        now = time.monotonic()
        if self.get(kid) is not None:
            stale = self._fetched_at is not None and now - self._fetched_at >= self.refresh_seconds
            if stale and self._inflight is None and self._may_fetch(now):
                self._inflight = self._start()
            return
        if self._inflight is None:
            if not self._may_fetch(now):
                return
            self._inflight = self._start()
        try:
            await asyncio.wait_for(asyncio.shield(self._inflight), self.timeout + 0.5)
        except TimeoutError:
            log.warning("JWKS fetch from %s took longer than %.1f s", self.url, self.timeout)

    def _start(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.ensure_future(asyncio.to_thread(self.fetch))

        def done(_: asyncio.Future[None]) -> None:
            self._inflight = None

        future.add_done_callback(done)
        return future


REMEMBERED_TOKENS = 1024
"""How many verified tokens a service remembers (least recently used first out): a client sends the same token with
every request for its lifetime, and checking its signature again each time took 6-9 % of a registration's CPU in the
profiles. At most ``REMEMBERED_TOKENS`` x :data:`~shared.limits.MAX_AUTHORIZATION_BYTES` (8 MiB) of headers."""


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token found valid: its principal, until when it stays valid, and the key that verified it."""

    principal: Principal
    valid_until: float
    """``exp`` plus the configured leeway (seconds since the epoch): what the full check would allow."""
    kid: object
    key: Any


class TokenVerifier:
    """Checks a bearer token's signature, issuer, audience and expiry, and reads its subject, roles and scope.

    A token that passed is remembered by its exact header (:data:`REMEMBERED_TOKENS` of them): the next request with
    it is answered from memory while it has not expired and the key that verified it is still the one its key id
    names (a key dropped from the key set or file stops its tokens at once, as without the memory). Nothing that
    failed is remembered."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._keys: dict[str | None, Any] = {}
        self.jwks: JwksKeys | None = None
        self._roles_path = _claim_path(config.roles_claim, "PMO_ROLES_CLAIM")
        self._portfolios_path = _claim_path(config.portfolios_claim, "PMO_PORTFOLIOS_CLAIM")
        self._programmes_path = _claim_path(config.programmes_claim, "PMO_PROGRAMMES_CLAIM")
        self._role_map = parse_role_map(config.role_map) or {r.value: r for r in Role}
        self.service_clients = _service_clients(config)
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        if config.jwks_url:
            if not config.jwks_url.startswith(("https://", "http://")):
                raise MisconfiguredError(f"PMO_JWKS_URL must be an http(s) URL, not {config.jwks_url!r}")
            if config.mode != "development" and not config.jwks_url.startswith("https://"):
                log.warning("PMO_JWKS_URL is not https: the keys could be replaced on the way")
            self.jwks = JwksKeys(
                config.jwks_url,
                timeout_seconds=config.jwks_timeout_seconds,
                refresh_seconds=config.jwks_refresh_seconds,
                min_refresh_seconds=config.jwks_min_refresh_seconds,
            )
            self._algorithms = ["RS256", "ES256", "PS256", "EdDSA"]
        elif config.jwks_file:
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
                "production mode needs a token key: set PMO_JWT_SECRET, PMO_JWT_PUBLIC_KEY_FILE, PMO_JWKS_FILE or "
                "PMO_JWKS_URL (or PMO_ENV=development for a local run)"
            )

    async def key_set(self) -> dict[str, Any] | None:
        """A ``/readyz`` detail: ``{"jwks": {...}}`` (:meth:`JwksKeys.state`) while the identity provider's key set
        holds no key, its latest fetch failed or its keys are older than twice the refresh interval (the service
        stays ready: tokens signed with the keys it holds still work); None otherwise, and without a JWKS URL. A probe
        before any key is known fetches the key set."""
        if self.jwks is None:
            return None
        if not self.jwks.state()["keys"]:
            await self.jwks.ensure(None)  # the first probe fetches the keys (bounded and rate limited as ever)
        state = self.jwks.state()
        age = state["fetched_seconds_ago"]
        stale = age is None or age > 2 * self.jwks.refresh_seconds
        if state["keys"] and state["last_error"] is None and not stale:
            return None
        return {"jwks": state}

    async def verify_async(self, authorization: str | None) -> Principal:
        """:meth:`verify`, after making the token's key known when it comes from a JWKS URL (one fetch, bounded by
        :attr:`AuthConfig.jwks_timeout_seconds` and rate limited: see :class:`JwksKeys`)."""
        if authorization and (known := self._remembered(authorization)) is not None:
            return known
        if self.jwks is not None and authorization and len(authorization) <= MAX_AUTHORIZATION_BYTES:
            try:
                kid = jwt.get_unverified_header(authorization[7:].strip()).get("kid")
            except jwt.PyJWTError:
                kid = None  # verify says why
            if isinstance(kid, str):
                await self.jwks.ensure(kid)
        return self.verify(authorization)

    def _remembered(self, authorization: str) -> Principal | None:
        """The principal of a token verified before, if it is still valid and its key still the same."""
        known = self._verified.get(authorization)
        if known is None:
            return None
        try:
            same_key = self._key(known.kid) is known.key
        except AuthError:
            same_key = False
        if not same_key or time.time() >= known.valid_until:
            del self._verified[authorization]
            return None
        self._verified.move_to_end(authorization)
        return known.principal

    def _remember(self, authorization: str, principal: Principal, exp: int, kid: object, key: Any) -> None:
        self._verified[authorization] = _Verified(principal, exp + self.config.leeway_seconds, kid, key)
        if len(self._verified) > REMEMBERED_TOKENS:
            self._verified.popitem(last=False)

    def _key(self, kid: object) -> Any:
        if self.jwks is not None:
            key = self.jwks.get(kid if isinstance(kid, str) else None)
            if key is None:
                raise AuthError("the token's key (kid) is unknown to the identity provider's key set")
            return key
        key = (self._keys.get(kid) if isinstance(kid, str) else None) or self._keys.get(None)
        if key is None:
            raise AuthError("the token's key is unknown")
        return key

    def verify(self, authorization: str | None) -> Principal:
        """The principal of a valid ``Authorization: Bearer`` header; :class:`AuthError` with the reason otherwise.

        Refused: no header or another scheme; a header longer than
        :data:`~shared.limits.MAX_AUTHORIZATION_BYTES` (before any decoding); a bad signature, issuer or
        audience; a key id the key set does not hold; no ``sub``, ``iat`` or ``exp``; an expired token or one issued
        in the future; a lifetime (``exp - iat``) above the configured maximum; a subject that
        :func:`canonical_subject` refuses; a roles, portfolios or programmes claim that is not a list of strings
        (at most :data:`~shared.limits.MAX_LIST`, each at most :data:`~shared.limits.MAX_NAME` characters).
        Role names the mapping does not know are ignored. No I/O: JWKS keys come from the cache."""
        if not authorization:
            raise AuthError("a bearer token is required")
        if len(authorization) > MAX_AUTHORIZATION_BYTES:
            raise AuthError(f"the Authorization header is longer than {MAX_AUTHORIZATION_BYTES} bytes")
        if (known := self._remembered(authorization)) is not None:
            return known
        if not authorization.lower().startswith("bearer "):
            raise AuthError("a bearer token is required")
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self._key(kid)
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
        raw_roles = _strings(claims, self._roles_path, "roles")
        roles = frozenset(self._role_map[r] for r in raw_roles if r in self._role_map)
        portfolios = _strings(claims, self._portfolios_path, "portfolios")
        client = claims.get(self.config.client_id_claim)
        principal = Principal(
            subject=subject,
            roles=roles,
            portfolios=frozenset(portfolios) - {ALL},
            programmes=frozenset(_strings(claims, self._programmes_path, "programmes")),
            all_portfolios=ALL in portfolios,
            client_id=client if isinstance(client, str) and client else subject,
        )
        self._remember(authorization, principal, int(claims["exp"]), kid, key)
        return principal

    def authorize(self, principal: Principal, allowed: frozenset[Role], route: str | None = None) -> None:
        """:class:`ForbiddenError` unless one of the principal's roles is ``allowed``; a machine client (role
        ``service`` alone) must moreover have ``route`` (``"METHOD /template"``) on its allow-list."""
        if not principal.roles & allowed:
            needed = ", ".join(sorted(r.value for r in allowed))
            raise ForbiddenError(f"this needs one of the roles: {needed}")
        if route is None or self.service_clients is None or principal.roles != {Role.SERVICE}:
            return
        listed = self.service_clients.get(principal.client_id or principal.subject, frozenset())
        if route not in listed and ALL not in listed:
            raise ForbiddenError(
                f"the machine client {principal.client_id!r} may not use {route} (PMO_SERVICE_CLIENTS lists its routes)"
            )


def _strings(claims: Mapping[str, Any], path: tuple[str, ...], what: str) -> list[str]:
    """The list of strings at ``path`` in the claims (none when absent); :class:`AuthError` for any other shape."""
    value: Any = claims
    for part in path:
        if not isinstance(value, Mapping):
            raise AuthError(f"the token's {what} must be a list of strings (claim {'.'.join(path)})")
        value = value.get(part)
        if value is None:
            return []
    if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= MAX_NAME for v in value):
        raise AuthError(f"the token's {what} must be a list of strings (claim {'.'.join(path)})")
    if len(value) > MAX_LIST:
        raise AuthError(f"the token's {what} list more than {MAX_LIST} items (claim {'.'.join(path)})")
    return value


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
    portfolios: Iterable[str] = (ALL,),
    programmes: Iterable[str] = (),
) -> str:
    """An HS256 token (development and tests; production tokens come from the identity provider). Its holder
    belongs to ``portfolios`` (every one by default) and ``programmes``."""
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": subject,
        "roles": list(roles),
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "pmo_portfolios": list(portfolios),
        "pmo_programmes": list(programmes),
    }
    return jwt.encode(claims, secret, algorithm="HS256")
