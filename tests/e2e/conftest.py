"""The five services as processes on a database of their own, for the end-to-end tests."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from shared.infra.system import SERVICES, Endpoints, System, create_database, drop_database


@pytest.fixture(scope="session")
def system(infra: Endpoints) -> Iterator[System]:
    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    run = uuid.uuid4().hex[:8]
    # A database of its own, so the run starts from empty read models whatever ran before.
    database = f"pmo_e2e_{run}"
    asyncio.run(create_database(infra.database_url, database))
    url = make_url(infra.database_url).set(database=database).render_as_string(hide_password=False)
    running = System(Endpoints(url, infra.kafka_bootstrap_servers))
    running.start(ports={name: free_port() for name in SERVICES}, env={"PMO_KAFKA_GROUP_PREFIX": f"e2e-{run}"})
    try:
        yield running
    finally:
        running.stop()
        asyncio.run(drop_database(infra.database_url, database))
