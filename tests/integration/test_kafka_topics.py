"""Topics at a service's start, on the real broker: created with explicit settings, a lowered partition count
refused, settings the cluster holds weaker than configured reported; consumers built with the client settings."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # type: ignore[import-untyped]

from shared.kafka import KafkaOptions, TopicSettings, TopicSettingsError, new_consumer, prepare_topics


def options(kafka: KafkaOptions, **topic: object) -> KafkaOptions:
    return dataclasses.replace(kafka, client_id="pmo-test-replica", topic=TopicSettings(**topic))  # type: ignore[arg-type]


async def configs(kafka: KafkaOptions, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        return {e[0]: e[1] for e in response.resources[0][4]}
    finally:
        await admin.close()


async def test_a_new_topic_gets_the_configured_settings_explicitly_and_no_warning(kafka: KafkaOptions) -> None:
    topic = f"pmo.test-{uuid.uuid4().hex[:10]}.v1"
    chosen = options(kafka, partitions=2, retention_ms=7 * 86_400_000, min_insync_replicas=1)
    assert await prepare_topics(chosen, [topic]) == []
    found = await configs(kafka, topic)
    assert (found["min.insync.replicas"], found["retention.ms"], found["cleanup.policy"]) == (
        "1",
        "604800000",
        "delete",
    )
    assert await prepare_topics(chosen, [topic]) == []  # idempotent


async def test_partitions_lowered_on_an_existing_topic_refuse_the_start_naming_the_setting(kafka: KafkaOptions) -> None:
    topic = f"pmo.test-{uuid.uuid4().hex[:10]}.v1"
    await prepare_topics(options(kafka, partitions=3), [topic])
    with pytest.raises(TopicSettingsError, match=r"PMO_TOPIC_PARTITIONS=2 would lower it.*at least 3"):
        await prepare_topics(options(kafka, partitions=2), [topic])


async def test_a_topic_weaker_than_configured_is_reported_at_start(kafka: KafkaOptions) -> None:
    topic = f"pmo.test-{uuid.uuid4().hex[:10]}.v1"
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:  # made by hand, the way a broker's defaults would: a week of retention, one partition
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"retention.ms": "604800000"})])
    finally:
        await admin.close()
    warnings = await prepare_topics(options(kafka, partitions=3), [topic])
    assert any("retention.ms=604800000, shorter than PMO_TOPIC_RETENTION_MS=-1" in w for w in warnings), warnings
    assert any("1 partitions, fewer than PMO_TOPIC_PARTITIONS=3" in w for w in warnings), warnings


async def test_a_min_isr_above_what_the_broker_can_hold_is_refused_when_the_topic_is_created(
    kafka: KafkaOptions,
) -> None:
    topic = f"pmo.test-{uuid.uuid4().hex[:10]}.v1"
    with pytest.raises(TopicSettingsError, match="replication factor 3"):  # one broker: three replicas cannot be
        await prepare_topics(options(kafka, replication_factor=3, min_insync_replicas=2), [topic])


async def test_a_consumer_carries_the_replica_s_client_id_and_static_membership(kafka: KafkaOptions) -> None:
    chosen = dataclasses.replace(
        options(kafka), consumer=dataclasses.replace(kafka.consumer, group_instance="replica-7")
    )
    consumer = new_consumer(chosen, "pmo.test-group", "facts", enable_auto_commit=False)
    try:
        assert consumer._client._client_id == "pmo-test-replica.facts"
        assert consumer._group_instance_id == "pmo.test-group.replica-7"
    finally:
        await consumer.stop()
