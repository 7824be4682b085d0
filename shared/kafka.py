"""Kafka wiring: CloudEvents 1.0 binary-mode records, topics that keep events forever, client options.

A record's value is the event data as JSON; its headers carry the CloudEvents attributes (``ce_id`` = the
event id, ``ce_type`` = ``pmo.<service>.<event-name>.v<N>``, ``ce_source`` = ``/pmo/<service>``, ...) and
the PMO extensions (``ce_actor``, ``ce_correlationid``, ``ce_causationid``, ``ce_streamversion``). The key is
the project id, so all events of one project stay in order on one partition.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    CorruptRecordException,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAlreadyExistsError,
)
from pydantic_core import from_json

from shared.events import EventMetadata, RecordedEvent

if TYPE_CHECKING:
    from shared.events import DomainEvent, EventRegistry

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
    max_message_bytes: int = 1_048_576
    """The producer's ``max_request_size``: a record larger than this is refused by ``send()`` itself."""

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
    """An event read back from Kafka, with where it was read. ``raw`` is the record's value as received (the JSON
    text of the event's data); ``data`` is it parsed, on first use: a read model that stores the text as it came, or
    validates it straight into its contract (:meth:`contract`), never builds the dict. A record whose value is not
    JSON (it starts like an object but does not parse) fails where its data is first used: in every read model that
    reads that type of event, as a ``ValueError``, so it is dead-lettered there; one that skips the type skips it."""

    event_id: uuid.UUID
    service: str
    name: str
    version: int
    subject: str
    time: datetime
    key: str
    metadata: EventMetadata
    topic: str
    partition: int
    offset: int
    raw: bytes

    @cached_property
    def data(self) -> dict[str, Any]:
        """The event data; raises ``ValueError`` if the record's value is not a JSON object."""
        data = from_json(self.raw, cache_strings="keys")  # pydantic-core's parser: what json.loads accepts, faster
        if not isinstance(data, dict):
            raise NotACloudEventError("event data must be a JSON object")
        return data

    def contract(self, registry: EventRegistry) -> DomainEvent:
        """The data validated into its contract model by ``registry`` (from the JSON text, in pydantic's JSON mode:
        what validating the parsed dict accepts), decoded once per event: read models that consume the same record
        in one pass (a replay of several) share the result. Treat it as read-only."""
        cached = self.__dict__.get("_contract")
        if cached is not None and cached[0] is registry:
            return cached[1]  # type: ignore[no-any-return]
        decoded = registry.decode_json(self.name, self.version, self.raw)
        self.__dict__["_contract"] = (registry, decoded)  # a cache, not state: bypasses the frozen __setattr__
        return decoded


try:  # asyncpg's C UUID, a uuid.UUID (equal, same hash) parsed ~20x faster; asyncpg returns it from queries too
    from asyncpg.pgproto.pgproto import UUID as _FastUUID  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover
    _FastUUID = uuid.UUID


def parse_uuid(value: str) -> uuid.UUID:
    """``uuid.UUID(value)``, faster for the usual hyphenated form (what ids and record keys look like)."""
    try:
        return _FastUUID(value)  # type: ignore[no-any-return]
    except ValueError:
        return uuid.UUID(value)  # the forms only uuid.UUID reads ("{...}", "urn:uuid:..."), or its error


@lru_cache(maxsize=1024)
def _parse_type(value: bytes) -> tuple[str, str, int] | None:
    match = CE_TYPE.match(value.decode())
    return None if match is None else (match["service"], match["name"], int(match["version"]))


@lru_cache(maxsize=1024)
def _metadata(
    actor: bytes | None, correlation_id: bytes | None, causation_id: bytes | None, traceparent: bytes | None
) -> EventMetadata:
    return EventMetadata(
        actor="unknown" if actor is None else actor.decode(),
        correlation_id="" if correlation_id is None else correlation_id.decode(),
        causation_id=None if causation_id is None else causation_id.decode(),
        traceparent=None if traceparent is None else traceparent.decode(),
    )


def from_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]],
) -> ConsumedEvent:
    """Decode a CloudEvents binary-mode record; raises :class:`NotACloudEventError` or ``ValueError``. The data is
    parsed when first used (:attr:`ConsumedEvent.data`); here it is only checked to be the text of a JSON object."""
    h: Mapping[str, bytes] = dict(headers)  # the values stay bytes: only what is used is decoded
    try:
        kind = h.get("ce_type")
        parsed = None if kind is None else _parse_type(kind)
        if h.get("ce_specversion") != b"1.0" or parsed is None:
            raise NotACloudEventError(f"not a PMO CloudEvent: type={kind!r}")
        if not value or value.lstrip()[:1] != b"{":
            raise NotACloudEventError("event data must be a JSON object")
        event = object.__new__(ConsumedEvent)  # the frozen dataclass's __init__ costs a setattr per field
        event.__dict__.update(
            event_id=parse_uuid(h["ce_id"].decode()),
            service=parsed[0],
            name=parsed[1],
            version=parsed[2],
            subject=h["ce_subject"].decode(),
            time=datetime.fromisoformat(h["ce_time"].decode()),
            key=(key or b"").decode(),
            metadata=_metadata(
                h.get("ce_actor"), h.get("ce_correlationid"), h.get("ce_causationid"), h.get("traceparent")
            ),
            topic=topic,
            partition=partition,
            offset=offset,
            raw=value,
        )
        return event
    except KeyError as exc:
        raise NotACloudEventError(f"missing CloudEvents header {exc}") from exc


def new_producer(options: KafkaOptions, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent producer with ``acks=all`` and ``max_request_size`` from the options (not started)."""
    kwargs = {
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "max_request_size": options.max_message_bytes,
        **options.client_kwargs(),
        **overrides,
    }
    return AIOKafkaProducer(**kwargs)


PERMANENT_RECORD_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,  # MESSAGE_TOO_LARGE (10); also raised by send() past max_request_size
    RecordListTooLargeError,  # RECORD_LIST_TOO_LARGE (18)
    RecordTooLargeError,
    CorruptRecordException,  # CORRUPT_MESSAGE (2), alias InvalidMessageError
)
"""Errors that refuse one record for what it is, so sending it again unchanged fails again. Everything else
(retriable errors, an unreachable broker, authorization, an unknown topic, a producer fenced or out of sequence,
``UnknownError``, which is also what aiokafka makes of codes it does not know, such as INVALID_RECORD (87)) is
about the cluster or the client, not the record, and is worth retrying as it is."""


def is_permanent_record_error(error: BaseException) -> bool:
    """Whether ``error``, raised by ``send()`` or set on its future, refuses that record for good."""
    return isinstance(error, PERMANENT_RECORD_ERRORS)


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
        await _until_described(admin, topics)
    finally:
        await admin.close()


async def _until_described(admin: AIOKafkaAdminClient, topics: Sequence[str], timeout: float = 30.0) -> None:
    """Wait until the broker's metadata shows every topic with its partitions and their leaders (a topic another
    service has just created may be listed before its partitions have one). A consumer subscribing to a topic not
    yet in the metadata gets no partitions of it until its next metadata refresh."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        described = {t["topic"]: t for t in await admin.describe_topics(list(topics))}
        if all(_ready(described.get(t)) for t in topics):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"topics {list(topics)} not in the cluster metadata after {timeout:.0f}s")
        await asyncio.sleep(0.1)


def _ready(topic: Any) -> bool:
    partitions = (topic or {}).get("partitions") or []
    return bool(
        topic
        and not topic["error_code"]
        and partitions
        and all(not p["error_code"] and p["leader"] >= 0 for p in partitions)
    )
