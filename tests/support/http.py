"""A service's answers over HTTP, checked: ``ok()`` for a success, ``refused()`` for a problem+json refusal."""

from __future__ import annotations

from typing import Any

import httpx


async def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The body of ``response``, which must have ``status``."""
    assert response.status_code == status, response.text
    return dict(response.json())


async def refused(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The problem+json body of ``response``, which must have ``status``, say why, and name ``field`` if given."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = dict(response.json())
    assert problem["status"] == status and problem["detail"]
    if field is not None:
        assert field in [e["field"] for e in problem.get("errors", [])], problem
    return problem
