"""A consumer stopping while its assignment listener positions the partitions: the listener stops positioning
(aiokafka may still run it after the consumer's task ended) instead of failing on a consumer that is gone."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition  # type: ignore[import-untyped]

from shared.consumer import ProjectionConsumer
from shared.kafka import KafkaOptions

KAFKA = KafkaOptions(bootstrap_servers="127.0.0.1:1")


class _Kafka:
    """What the partitions were moved to."""

    def __init__(self) -> None:
        self.seeks: list[tuple[TopicPartition, int | None]] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 3)  # the log starts at 3 (retention deleted what was before)


class _Projection:
    name = "t"
    topics = ("pmo.t.v1",)


class _Stopping(ProjectionConsumer):
    """Its stored offsets are read while the consumer stops (the ``finally`` of its run drops the client)."""

    stop_while_reading = True

    async def stored_offsets(self) -> dict[tuple[str, int], int]:
        if self.stop_while_reading:
            self._consumer = None
        return {("pmo.t.v1", 0): 7}


async def test_positioning_stops_when_the_consumer_stops_meanwhile() -> None:
    kafka = _Kafka()
    consumer = _Stopping(None, KAFKA, _Projection())  # type: ignore[arg-type]
    consumer._consumer = kafka
    await consumer.seek_to_stored([TopicPartition("pmo.t.v1", 0), TopicPartition("pmo.t.v1", 1)])
    assert kafka.seeks == [] and consumer.positioned == set()


async def test_positioning_moves_each_partition_to_its_stored_offset_or_the_first_the_broker_holds() -> None:
    kafka: Any = _Kafka()
    consumer = _Stopping(None, KAFKA, _Projection())  # type: ignore[arg-type]
    consumer.stop_while_reading = False
    consumer._consumer = kafka
    zero, one = TopicPartition("pmo.t.v1", 0), TopicPartition("pmo.t.v1", 1)
    await consumer.seek_to_stored([zero, one])
    assert kafka.seeks == [(zero, 7), (one, 3)] and consumer.positioned == {zero, one}
    assert consumer._placed == {zero: 7, one: 3}  # where a batch must start for the read model


async def test_positioning_a_consumer_already_stopped_does_nothing() -> None:
    consumer = _Stopping(None, KAFKA, _Projection())  # type: ignore[arg-type]
    await consumer.seek_to_stored([TopicPartition("pmo.t.v1", 0)])
    assert consumer.positioned == set()
