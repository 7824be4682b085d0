"""Reading a service's topic back as the events it carries (every partition up to the end offsets seen at the
start), for the reconciliation and the republish: only the CloudEvents headers and the raw value are kept."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from shared.kafka import KafkaOptions


@dataclass(frozen=True)
class TopicEvent:
    """One record of a service's topic, as the event it carries."""

    event_id: uuid.UUID
    stream_id: str
    version: int
    name: str
    schema_version: int
    partition_key: str
    data: Any
    metadata: dict[str, str]
    recorded_at: datetime
    partition: int
    offset: int


def _event(record: Any) -> TopicEvent | None:
    """The event of a record, or None for a record that is not one of a service's events (no CloudEvents id,
    stream or version)."""
    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
    try:
        ce_type = headers["ce_type"]  # pmo.<service>.<event-name>.v<N>
        _, _, rest = ce_type.partition(".")
        _, _, typed = rest.partition(".")
        name, _, version = typed.rpartition(".v")
        metadata = {"actor": headers["ce_actor"], "correlation_id": headers["ce_correlationid"]}
        if headers.get("ce_causationid"):
            metadata["causation_id"] = headers["ce_causationid"]
        if headers.get("traceparent"):
            metadata["traceparent"] = headers["traceparent"]
        return TopicEvent(
            event_id=uuid.UUID(headers["ce_id"]),
            stream_id=headers["ce_subject"],
            version=int(headers["ce_streamversion"]),
            name=name,
            schema_version=int(version),
            partition_key=(record.key or b"").decode(),
            data=json.loads(record.value),
            metadata=metadata,
            recorded_at=datetime.fromisoformat(headers["ce_time"]),
            partition=record.partition,
            offset=record.offset,
        )
    except (KeyError, ValueError):
        return None


async def end_offsets(kafka: KafkaOptions, topic: str) -> dict[int, int]:
    """Each partition's end offset (empty when the topic does not exist)."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()} if tps else {}
    finally:
        await consumer.stop()


async def read_events(kafka: KafkaOptions, topic: str, since: datetime | None = None) -> list[TopicEvent]:
    """The topic's events, partition by partition in offset order, from the first record written at or after
    ``since`` (Kafka's record timestamps: the time the relay sent it) or from the beginning, up to the end offsets
    seen when it started. Records that are not events are skipped."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **kafka.client_kwargs())
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        if since is not None:
            found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
            starts = {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}
        for tp in tps:
            consumer.seek(tp, starts[tp])
        pending = {tp for tp in tps if starts[tp] < ends[tp]}
        events: list[TopicEvent] = []
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    event = _event(record)
                    if event is not None:
                        events.append(event)
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return events
    finally:
        await consumer.stop()
