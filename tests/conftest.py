"""Fixtures: the real PostgreSQL and Kafka (private instances unless ``PMO_DATABASE_URL`` /
``PMO_KAFKA_BOOTSTRAP_SERVERS`` are set), a fresh schema and topic per test, random ids."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import migrations
from shared.commands import SystemClock
from shared.db import create_engine
from shared.infra.system import Endpoints, ensure_infrastructure, stop_infrastructure
from shared.kafka import KafkaOptions, ensure_topics
from tests.deploy.containers import ContainersUnavailableError, container_infra, infra_choice, preflight
from tests.support.clock import session_now

# The services the tests start share one topic per service across many schemas, so a schema's event table is always
# "behind" its topic: the start-time comparison (shared.recovery.guard) is for one schema per topic (the chaos
# worlds, which have their own Kafka, keep it on; the recovery drills test it).
os.environ.setdefault("PMO_RECONCILE_ON_START", "false")


# PMO_TEST_INFRA=containers: the seconds each start-up step took, printed at the end of the run.
CONTAINER_TIMINGS: dict[str, float] = {}


def pytest_configure(config: pytest.Config) -> None:
    # The services this session starts in process never see a day after the session's (tests/support/clock.py).
    SystemClock.now = lambda self: session_now()  # type: ignore[method-assign]
    try:
        if infra_choice() == "containers":  # an invalid PMO_TEST_INFRA, or podman missing, refused before any test
            preflight()
    except (ValueError, ContainersUnavailableError) as error:
        raise pytest.UsageError(str(error)) from None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CONTAINER_TIMINGS:
        steps = ", ".join(f"{step} {seconds} s" for step, seconds in CONTAINER_TIMINGS.items())
        terminalreporter.write_line(f"PMO_TEST_INFRA=containers start-up: {steps}")


@pytest.fixture(scope="session")
def infra() -> Iterator[Endpoints]:
    if infra_choice() == "containers":  # PMO_TEST_INFRA=containers: testcontainers through podman (docs/operations.md)
        with ExitStack() as stack:
            try:
                endpoints = stack.enter_context(container_infra(database="pmo_test", timings=CONTAINER_TIMINGS))
            except ContainersUnavailableError as error:
                # One clear failure instead of the same error on every test; never a skip (also outside CI: the
                # mode was asked for).
                pytest.exit(str(error), returncode=pytest.ExitCode.TESTS_FAILED)
            yield endpoints
        return
    endpoints = ensure_infrastructure(database="pmo_test", kafka_instance="kafka-test")
    yield endpoints
    if not os.environ.get("PMO_KEEP_INFRA"):
        stop_infrastructure(endpoints)


@pytest.fixture(scope="session")
def kafka(infra: Endpoints) -> KafkaOptions:
    return KafkaOptions(bootstrap_servers=infra.kafka_bootstrap_servers)


@pytest.fixture
def schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def engine(infra: Endpoints, schema: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(infra.database_url, schema, pool_size=5)
    await migrations.upgrade(eng, None, schema)  # the tables every service schema has (the runtime branch)
    yield eng
    async with eng.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await eng.dispose()


@pytest.fixture
async def topic(kafka: KafkaOptions) -> str:
    name = f"pmo.test-{uuid.uuid4().hex[:10]}.v1"
    await ensure_topics(kafka, [name, "pmo.dlq.v1"], partitions=3, replication_factor=1)
    return name
