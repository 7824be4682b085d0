"""Which database a maintenance command works on: the one given (``--database-url``), the deployment's
(``PMO_DATABASE_URL_<SERVICE>``, then ``PMO_DATABASE_URL``, with ``PMO_DATABASE_SSL_MODE`` and
``PMO_DATABASE_SSL_ROOT_CERT``), or else this machine's private PostgreSQL (started if needed)."""

from __future__ import annotations

import os
from typing import Any


def database_url(given: str | None = None, service: str | None = None) -> str:
    url = given or (os.environ.get(f"PMO_DATABASE_URL_{service.upper()}") if service else None)
    url = url or os.environ.get("PMO_DATABASE_URL")
    if url:
        return url
    from shared.infra.system import ensure_infrastructure

    return ensure_infrastructure().database_url


def cli_engine(url: str, schema: str, pool_size: int = 2) -> Any:
    """An engine on ``schema`` of ``url``, with the deployment's TLS settings (none for the private database)."""
    from shared.db import create_engine

    return create_engine(
        url,
        schema,
        pool_size=pool_size,
        ssl_mode=os.environ.get("PMO_DATABASE_SSL_MODE", "disable"),
        ssl_root_cert=os.environ.get("PMO_DATABASE_SSL_ROOT_CERT"),
    )
