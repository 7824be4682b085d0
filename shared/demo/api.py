"""The demo's HTTP plumbing: one client per service and acting person, answers checked, and retries while another
service has not consumed a fact yet (the services converge through Kafka in well under a second)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from shared.auth import mint_token


class DemoError(RuntimeError):
    pass


class Api:
    def __init__(self, urls: Mapping[str, str]) -> None:
        self.urls = urls
        self.clients: dict[str, httpx.Client] = {}

    def as_(self, service: str, subject: str, role: str) -> httpx.Client:
        key = f"{service}|{subject}|{role}"
        if key not in self.clients:
            token = mint_token(subject, [role], ttl_seconds=3600)
            self.clients[key] = httpx.Client(
                base_url=self.urls[service], timeout=30, headers={"Authorization": f"Bearer {token}"}
            )
        return self.clients[key]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def ok(response: httpx.Response, *expected: int) -> dict[str, Any]:
    if response.status_code not in (expected or (200, 201)):
        raise DemoError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return dict(response.json()) if response.content else {}


_NOT_YET = ("not arrived", "has not seen", "not known", "rate in force", "unknown")
"""Words of a refusal that only says a fact from another service has not been consumed yet."""


def retry(call: Any, timeout: float = 60.0) -> dict[str, Any]:
    """Retry while the other service has not consumed a fact yet: 404, or a 422 that says so."""
    deadline = time.monotonic() + timeout
    while True:
        response = call()
        waiting = response.status_code == 404 or (
            response.status_code == 422 and any(words in response.text for words in _NOT_YET)
        )
        if not waiting or time.monotonic() > deadline:
            return ok(response)
        time.sleep(0.2)
