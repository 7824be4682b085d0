"""Kafka wiring: CloudEvents 1.0 binary-mode records, topics that keep events forever, client options.

A record's value is the event data as JSON; its headers carry the CloudEvents attributes (``ce_id`` = the
event id, ``ce_type`` = ``pmo.<service>.<event-name>.v<N>``, ``ce_source`` = ``/pmo/<service>``, ...) and
the PMO extensions (``ce_actor``, ``ce_correlationid``, ``ce_causationid``, ``ce_streamversion``). The key is
the project id, so all events of one project stay in order on one partition.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import TopicAlreadyExistsError  # type: ignore[import-untyped]

from shared.events import EventMetadata, RecordedEvent

DLQ_TOPIC = "pmo.dlq.v1"
CE_TYPE = re.compile(r"^pmo\.(?P<service>[a-z]+)\.(?P<name>[a-z0-9-]+)\.v(?P<version>\d+)$")


@dataclass(frozen=True)
class KafkaOptions:
    """Client options shared by producers, consumers and the admin client (security included)."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            kwargs.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.security_protocol in ("SSL", "SASL_SSL"):
            import ssl

            kwargs["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile)
        return kwargs


def ce_type(service: str, name: str, version: int) -> str:
    return f"pmo.{service}.{name}.v{version}"


def to_record(service: str, event: RecordedEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Key, value and headers of the Kafka record carrying ``event`` (CloudEvents binary mode)."""
    headers = {
        "ce_specversion": "1.0",
        "ce_id": str(event.event_id),
        "ce_source": f"/pmo/{service}",
        "ce_type": ce_type(service, event.name, event.schema_version),
        "ce_subject": event.stream_id,
        "ce_time": event.recorded_at.isoformat(),
        "content-type": "application/json",
        "ce_actor": event.metadata.actor,
        "ce_correlationid": event.metadata.correlation_id,
        "ce_streamversion": str(event.version),
    }
    if event.metadata.causation_id:
        headers["ce_causationid"] = event.metadata.causation_id
    if event.metadata.traceparent:
        headers["traceparent"] = event.metadata.traceparent
    value = json.dumps(event.data, separators=(",", ":")).encode()
    return event.partition_key.encode(), value, [(k, v.encode()) for k, v in headers.items()]


class NotACloudEventError(ValueError):
    """A record lacks the CloudEvents attributes the consumers rely on."""


@dataclass(frozen=True)
class ConsumedEvent:
    """An event read back from Kafka, with where it was read."""

    event_id: uuid.UUID
    service: str
    name: str
    version: int
    subject: str
    time: datetime
    key: str
    data: dict[str, Any]
    metadata: EventMetadata
    topic: str
    partition: int
    offset: int


def from_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
) -> ConsumedEvent:
    """Decode a CloudEvents binary-mode record; raises :class:`NotACloudEventError` or ``ValueError``."""
    h: Mapping[str, str] = {k: v.decode() for k, v in headers}
    try:
        match = CE_TYPE.match(h["ce_type"])
        if h.get("ce_specversion") != "1.0" or match is None:
            raise NotACloudEventError(f"not a PMO CloudEvent: type={h.get('ce_type')!r}")
        data = json.loads(value or b"null")
        if not isinstance(data, dict):
            raise NotACloudEventError("event data must be a JSON object")
        return ConsumedEvent(
            event_id=uuid.UUID(h["ce_id"]),
            service=match["service"],
            name=match["name"],
            version=int(match["version"]),
            subject=h["ce_subject"],
            time=datetime.fromisoformat(h["ce_time"]),
            key=(key or b"").decode(),
            data=data,
            metadata=EventMetadata(
                actor=h.get("ce_actor", "unknown"),
                correlation_id=h.get("ce_correlationid", ""),
                causation_id=h.get("ce_causationid"),
                traceparent=h.get("traceparent"),
            ),
            topic=topic,
            partition=partition,
            offset=offset,
        )
    except KeyError as exc:
        raise NotACloudEventError(f"missing CloudEvents header {exc}") from exc


def new_producer(options: KafkaOptions, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent producer with ``acks=all`` (not started)."""
    kwargs = {"enable_idempotence": True, "acks": "all", "linger_ms": 5, **options.client_kwargs(), **overrides}
    return AIOKafkaProducer(**kwargs)


async def ensure_topics(options: KafkaOptions, topics: Sequence[str], partitions: int, replication_factor: int) -> None:
    """Create ``topics`` with infinite retention if they do not exist (idempotent)."""
    admin = AIOKafkaAdminClient(**options.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=t,
                        num_partitions=partitions,
                        replication_factor=replication_factor,
                        topic_configs={"retention.ms": "-1"},
                    )
                    for t in missing
                ]
            )
            for topic, code, *message in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"cannot create topic {topic}: error {code} {message}")
    finally:
        await admin.close()
