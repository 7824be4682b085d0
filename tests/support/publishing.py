"""Contract events produced on Kafka as another service's relay would publish them (CloudEvents binary mode)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from shared.events import DomainEvent, EventMetadata, RecordedEvent
from shared.kafka import KafkaOptions, new_producer, to_record


def recorded(service: str, event: DomainEvent, stream_id: str, version: int = 1) -> RecordedEvent:
    """``event`` as ``service`` recorded it at ``version`` of ``stream_id`` (its stream type: the id's first word),
    with a new event id, now."""
    return RecordedEvent(
        event_id=uuid.uuid4(),
        stream_id=stream_id,
        stream_type=stream_id.split("-")[0],
        version=version,
        position=version,
        name=event.event_name,
        schema_version=event.event_version,
        partition_key=event.partition_key,
        data=event.model_dump(mode="json"),
        metadata=EventMetadata(actor=f"{service}-tester", correlation_id=f"corr-{uuid.uuid4().hex[:8]}"),
        recorded_at=datetime.now(UTC),
    )


async def publish(
    kafka: KafkaOptions, service: str, topic: str, events: Sequence[DomainEvent], stream_id: str
) -> list[uuid.UUID]:
    """Produce ``events`` on ``topic`` in order, as versions 1, 2, ... of ``stream_id``, as ``service``'s relay
    would; returns their event ids."""
    records = [recorded(service, event, stream_id, version) for version, event in enumerate(events, start=1)]
    producer = new_producer(kafka)
    await producer.start()
    try:
        for record in records:
            key, value, headers = to_record(service, record)
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()
    return [record.event_id for record in records]
