"""``pmo replay``, the operator's command: configured through the environment, it rebuilds a service's read models
from its topics in several processes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from sqlalchemy import text

from reporting import projections
from shared.contracts import projects as p
from shared.db import create_engine
from shared.infra.system import Endpoints
from shared.kafka import KafkaOptions, ensure_topics
from tests.support.replay import (
    START,
    planned,
    produce,
    record,
    registered,
)

pytestmark = pytest.mark.integration


async def test_pmo_replay_rebuilds_a_services_read_models_from_its_topics_in_several_processes(
    infra: Endpoints, kafka: KafkaOptions
) -> None:
    """The operator's command, configured through the environment as a deployment is: every record of the read
    models' topics up to their end is applied, whichever process loaded its partition."""
    import os
    import sys

    await ensure_topics(kafka, list(projections.FACT_TOPICS), partitions=3, replication_factor=1)
    pid = uuid.uuid4()
    events = [registered(pid, "CLI"), planned(pid, 0)]
    await produce(kafka, [(p.TOPIC, record("projects", e, START + timedelta(seconds=i))) for i, e in enumerate(events)])
    reader = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await reader.start()
    try:
        partitions = [TopicPartition(t, n) for t in projections.FACT_TOPICS for n in range(3)]  # as ensured above
        ends = await reader.end_offsets(partitions)
        starts = await reader.beginning_offsets(partitions)
    finally:
        await reader.stop()
    on_topic = {tp: ends[tp] - starts[tp] for tp in partitions}
    expected = {
        "reporting.facts": sum(on_topic.values()),
        "reporting.portfolio": sum(n for tp, n in on_topic.items() if tp.topic == p.TOPIC),
    }
    schema = f"t_cli_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PMO_DATABASE_URL": infra.database_url,
        "PMO_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.cli",
        "replay",
        "reporting",
        "--schema",
        schema,
        "--processes",
        "2",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    engine = create_engine(infra.database_url, schema, pool_size=1)
    try:
        assert process.returncode == 0, err.decode()[-2000:]
        assert f"{expected['reporting.facts']} records from {len(partitions)} partitions" in out.decode(), out.decode()
        assert out.decode().rstrip().endswith("in 2 process(es)"), out.decode()
        async with engine.connect() as conn:
            stored = dict(
                (
                    await conn.execute(
                        text("SELECT consumer, sum(next_offset) FROM consumer_offsets GROUP BY consumer")
                    )
                ).all()
            )
            ends_by_consumer = {
                "reporting.facts": sum(ends.values()),
                "reporting.portfolio": sum(ends[tp] for tp in partitions if tp.topic == p.TOPIC),
                "reporting.raid": sum(ends[tp] for tp in partitions if tp.topic == p.TOPIC),
                "reporting.approvals": sum(ends.values()),
            }
            assert stored == ends_by_consumer
            ours = (
                await conn.execute(
                    text("SELECT code, milestones FROM portfolio_projects WHERE project_id = :p"), {"p": pid}
                )
            ).one()
        assert tuple(ours) == ("CLI", 1)
        assert expected["reporting.portfolio"] >= 2
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()
