"""The reporting service's project report over HTTP (:class:`projects.handlers.Reporting`): the one synchronous
call between services, made when a gate decision is recorded so that the decision keeps the figures it was taken on.

The call is authenticated with a short-lived token the service mints for itself (role ``service``) with the HS256
secret it verifies tokens with; a deployment that verifies with an identity provider's public keys has no secret to
sign with, and its decisions record why the figures are missing. The answer is read up to
:data:`~shared.limits.MAX_SERVICE_ANSWER_BYTES`; every failure (no URL, unreachable, timeout, 4xx/5xx, too long, not
JSON) is a :class:`~projects.handlers.ReportingUnavailableError` saying why, never another exception.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from http import HTTPStatus

import httpx

from projects.handlers import ReportingUnavailableError
from projects.settings import Settings
from shared.auth import DEVELOPMENT_SECRET, mint_token
from shared.limits import MAX_SERVICE_ANSWER_BYTES

SERVICE_SUBJECT = "projects-service"
"""Who the reporting service sees calling (the token's subject)."""
TOKEN_SECONDS = 60


class ReportingOverHttp:
    """``GET {base_url}/reports/projects/{project_id}?as_of=...`` with the service's own bearer token."""

    def __init__(
        self,
        base_url: str | None,
        token: str | None,
        *,
        timeout: float,
        max_bytes: int = MAX_SERVICE_ANSWER_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.token = token
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.transport = transport

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportingOverHttp:
        return cls(settings.reporting_url, service_token(settings), timeout=settings.reporting_timeout_seconds)

    async def project_report(self, project_id: uuid.UUID, as_of: date) -> object:
        if self.base_url is None:
            raise ReportingUnavailableError("no reporting service is configured (PMO_REPORTING_URL)")
        if self.token is None:
            raise ReportingUnavailableError(
                "the projects service has no HS256 secret to sign its own token for reporting with (PMO_JWT_SECRET)"
            )
        url = f"{self.base_url}/reports/projects/{project_id}"
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client,
                client.stream("GET", url, params={"as_of": as_of.isoformat()}, headers=headers) as response,
            ):
                if response.status_code != 200:
                    raise ReportingUnavailableError(f"reporting answered {response.status_code} {_phrase(response)}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise ReportingUnavailableError(f"reporting's answer is longer than {self.max_bytes} bytes")
        except httpx.TimeoutException:
            raise ReportingUnavailableError(f"reporting did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ReportingUnavailableError(f"reporting cannot be reached ({type(exc).__name__})") from None
        try:
            return json.loads(body)
        except ValueError:
            raise ReportingUnavailableError("reporting's answer is not JSON") from None


def service_token(settings: Settings) -> str | None:
    """A token for the service itself (role ``service``), signed with the key its own tokens are verified with;
    None when that key is an identity provider's public key (nothing to sign with)."""
    if settings.jwks_file or settings.jwks_url or settings.jwt_public_key_file:
        return None
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
    elif settings.env == "development":
        secret = DEVELOPMENT_SECRET
    else:
        return None
    return mint_token(
        SERVICE_SUBJECT,
        ["service"],
        secret=secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=TOKEN_SECONDS,
    )


def _phrase(response: httpx.Response) -> str:
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return ""
