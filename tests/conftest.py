"""Fixtures: the real PostgreSQL and Kafka (private instances unless ``PMO_DATABASE_URL`` /
``PMO_KAFKA_BOOTSTRAP_SERVERS`` are set), a fresh schema and topic per test, random ids."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import consumer as consumer_module
from shared import relay as relay_module
from shared.db import create_engine, migrate
from shared.infra.system import Endpoints, ensure_infrastructure, stop_infrastructure
from shared.kafka import KafkaOptions, ensure_topics


@pytest.fixture(scope="session")
def infra() -> Iterator[Endpoints]:
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
    await migrate(eng, schema, [*relay_module.DDL, *consumer_module.DDL])
    yield eng
    async with eng.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await eng.dispose()


@pytest.fixture
async def topic(kafka: KafkaOptions) -> str:
    name = f"pmo.test-{uuid.uuid4().hex[:10]}.v1"
    await ensure_topics(kafka, [name, "pmo.dlq.v1"], partitions=3, replication_factor=1)
    return name
