"""Kafka wiring: CloudEvents 1.0 binary-mode records, topics that keep events forever, client options.

A record's value is the event data as JSON; its headers carry the CloudEvents attributes (``ce_id`` = the
event id, ``ce_type`` = ``pmo.<service>.<event-name>.v<N>``, ``ce_source`` = ``/pmo/<service>``, ...) and
the PMO extensions (``ce_actor``, ``ce_correlationid``, ``ce_causationid``, ``ce_streamversion``). The key is
the project id, so all events of one project stay in order on one partition.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    CorruptRecordException,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from pydantic_core import from_json

from shared.events import EventMetadata, RecordedEvent
from shared.kafka_topics import TopicSettings, TopicSettingsError, ensure_topics, prepare_topics

__all__ = [
    "DLQ_TOPIC", "Backoff", "ConsumedEvent", "ConsumerSettings", "KafkaOptions", "NotACloudEventError",
    "ProducerSettings", "RepeatFilter", "TopicSettings", "TopicSettingsError", "ce_type", "ensure_topics",
    "from_record", "is_permanent_record_error", "new_consumer", "new_producer", "parse_uuid", "prepare_topics",
    "quiet_client_logs", "to_record",
]  # fmt: skip

if TYPE_CHECKING:
    from shared.events import DomainEvent, EventRegistry

DLQ_TOPIC = "pmo.dlq.v1"
CE_TYPE = re.compile(r"^pmo\.(?P<service>[a-z]+)\.(?P<name>[a-z0-9-]+)\.v(?P<version>\d+)$")


@dataclass(frozen=True)
class ProducerSettings:
    """How every producer sends (``PMO_KAFKA_ACKS``, ``PMO_KAFKA_ENABLE_IDEMPOTENCE``, ``PMO_KAFKA_LINGER_MS``,
    ``PMO_KAFKA_REQUEST_TIMEOUT_MS``, ``PMO_KAFKA_RETRY_BACKOFF_MS``). The relay's order and once-only promises
    assume the defaults: ``acks=all`` with idempotence."""

    acks: Literal["all", "1", "0"] = "all"
    enable_idempotence: bool = True
    linger_ms: int = 5
    request_timeout_ms: int = 30_000
    retry_backoff_ms: int = 100


@dataclass(frozen=True)
class ConsumerSettings:
    """How every consumer group member behaves (``PMO_KAFKA_SESSION_TIMEOUT_MS``,
    ``PMO_KAFKA_HEARTBEAT_INTERVAL_MS``); ``group_instance`` (the replica id, when one is set explicitly) makes
    the member static: a restart within the session timeout gets its partitions back without a rebalance."""

    session_timeout_ms: int = 6_000
    heartbeat_interval_ms: int = 2_000
    group_instance: str | None = None
    fetch_max_wait_ms: int = 5_000
    """How long a fetch waits at the broker when nothing is new (``PMO_KAFKA_FETCH_MAX_WAIT_MS``): a record ends the
    wait at once, so it costs no freshness; aiokafka's 500 ms made each consumer ask twice a second at rest. A consumer
    that is behind waits :data:`CATCH_UP_FETCH_WAIT_MS` instead (:func:`pace_fetches`)."""
    fetcher_poll_ms: int = 1_000
    """How long each consumer's background fetch routine sleeps when nothing wakes it (``PMO_KAFKA_FETCHER_POLL_MS``,
    aiokafka's ``consumer_timeout_ms``): fetch answers, consumed records and assignment changes wake it at once;
    aiokafka's 200 ms woke every consumer five times a second at rest."""


@dataclass(frozen=True)
class KafkaOptions:
    """Client options shared by producers, consumers and the admin client (security included), the client settings
    an operator may set, and how topics are created."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    max_message_bytes: int = 1_048_576
    """The producer's ``max_request_size``: a record larger than this is refused by ``send()`` itself."""
    client_id: str | None = None
    """Prefix of every client's ``client.id`` (``pmo-<service>-<replica>``), so brokers' request logs and quotas name
    the replica; ``None`` keeps aiokafka's."""
    metadata_max_age_ms: int = 10_000
    """How often clients refresh the cluster metadata: a topic created meanwhile by another service is seen, and a
    moved leader found, within this time (aiokafka's default is five minutes)."""
    reconnect_backoff_ms: int = 200
    reconnect_backoff_max_ms: int = 5_000
    """A client that failed (Kafka away) starts again after a delay that doubles from the first to the second
    value, with jitter (:class:`Backoff`), so replicas do not reconnect in step."""
    producer: ProducerSettings = field(default_factory=ProducerSettings)
    consumer: ConsumerSettings = field(default_factory=ConsumerSettings)
    topic: TopicSettings = field(default_factory=TopicSettings)

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.client_id:
            kwargs["client_id"] = self.client_id
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

    def producer_kwargs(self) -> dict[str, Any]:
        """``AIOKafkaProducer`` arguments: connection, identity, :class:`ProducerSettings`, metadata refresh."""
        p = self.producer
        return {
            **self.client_kwargs(),
            "enable_idempotence": p.enable_idempotence,
            "acks": p.acks if p.acks == "all" else int(p.acks),
            "linger_ms": p.linger_ms,
            "request_timeout_ms": p.request_timeout_ms,
            "retry_backoff_ms": p.retry_backoff_ms,
            "metadata_max_age_ms": self.metadata_max_age_ms,
            "max_request_size": self.max_message_bytes,
        }

    def consumer_kwargs(self, group_id: str, name: str) -> dict[str, Any]:
        """``AIOKafkaConsumer`` arguments of the member of ``group_id`` that consumes for ``name`` (its client id is
        ``<client_id>.<name>``; its ``group_instance_id`` ``<group_id>.<replica>`` when the replica id is explicit)."""
        c = self.consumer
        kwargs = {
            **self.client_kwargs(),
            "group_id": group_id,
            "session_timeout_ms": c.session_timeout_ms,
            "heartbeat_interval_ms": c.heartbeat_interval_ms,
            "fetch_max_wait_ms": c.fetch_max_wait_ms,
            "consumer_timeout_ms": c.fetcher_poll_ms,
            "retry_backoff_ms": self.producer.retry_backoff_ms,
            "metadata_max_age_ms": self.metadata_max_age_ms,
        }
        if self.client_id:
            kwargs["client_id"] = f"{self.client_id}.{name}"
        if c.group_instance:
            kwargs["group_instance_id"] = f"{group_id}.{c.group_instance}"
        return kwargs

    def backoff(self) -> Backoff:
        """A fresh :class:`Backoff` with these options' reconnect delays."""
        return Backoff(self.reconnect_backoff_ms / 1000, self.reconnect_backoff_max_ms / 1000)


class Backoff:
    """Exponential back-off with jitter: the n-th delay is drawn between half and all of ``initial * 2**n``, capped
    at ``maximum``; :meth:`reset` after a success. Replicas that lost Kafka together do not come back in step."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff needs 0 < initial ({initial}) <= maximum ({maximum})")
        self.initial = initial
        self.maximum = maximum
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        """The next delay in seconds."""
        cap = min(self.maximum, self.initial * 2 ** min(self._attempt, 32))
        self._attempt += 1
        return float(cap / 2 + self._rng.uniform(0, cap / 2))

    def reset(self) -> None:
        self._attempt = 0


class RepeatFilter(logging.Filter):
    """Lets the first of a run of like log lines through (same logger, same message template) and then at most one
    per ``window`` seconds, which says how many were dropped meanwhile: a client that retries a dead broker many
    times a second writes a few lines a minute instead of thousands."""

    def __init__(self, window: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        shown, dropped = self._seen.get(key, (-self.window - 1.0, 0))
        if now - shown < self.window:
            self._seen[key] = (shown, dropped + 1)
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if dropped:  # the suffix has no "%": the message formats with its arguments as before
            record.msg = f"{record.msg} [{dropped} like it in the last {now - shown:.0f}s not logged]"
        return True


_REPEATS = RepeatFilter()


def quiet_client_logs() -> None:
    """Put :class:`RepeatFilter` on aiokafka's loggers (idempotent): its connection and fetch errors repeat at every
    retry while a broker or a partition leader is away."""
    import aiokafka  # noqa: F401  (its modules create their loggers when imported)

    names = [n for n in logging.Logger.manager.loggerDict if n == "aiokafka" or n.startswith("aiokafka.")]
    for name in names:
        logger = logging.getLogger(name)
        if _REPEATS not in logger.filters:
            logger.addFilter(_REPEATS)


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
    """A producer with the options' :class:`ProducerSettings` (by default idempotent with ``acks=all``) and
    ``max_request_size`` (not started); ``overrides`` win."""
    quiet_client_logs()
    return AIOKafkaProducer(**{**options.producer_kwargs(), **overrides})


CATCH_UP_FETCH_WAIT_MS = 100
"""How long a consumer's fetch waits at the broker while the consumer is behind (:func:`pace_fetches`)."""


def pace_fetches(consumer: AIOKafkaConsumer, behind: bool, at_rest_ms: int) -> None:
    """Let ``consumer``'s next fetches wait at the broker :data:`CATCH_UP_FETCH_WAIT_MS` while it is ``behind`` (a
    partition it polled has more records), ``at_rest_ms`` (``PMO_KAFKA_FETCH_MAX_WAIT_MS``) otherwise. aiokafka sends
    one fetch at a time to a broker and leaves out the partitions whose fetched records still wait to be consumed:
    while a consumer works through one partition's records, its fetch for the partitions with nothing new waits the
    whole time at the broker and holds the busy partition's next fetch behind it (a catch-up then read about one
    fetch of records per wait: 530 records a second with a 5 s wait). A consumer that does not know yet where a
    partition ends (just started) counts as behind. The wait is aiokafka's fetcher's own setting,
    read when each fetch is built; without that attribute (another aiokafka) nothing changes."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is not None and hasattr(fetcher, "_fetch_max_wait_ms"):
        fetcher._fetch_max_wait_ms = min(CATCH_UP_FETCH_WAIT_MS, at_rest_ms) if behind else at_rest_ms


def new_consumer(options: KafkaOptions, group_id: str, name: str, **overrides: Any) -> AIOKafkaConsumer:
    """A consumer group member with the options' :class:`ConsumerSettings` (:meth:`KafkaOptions.consumer_kwargs`),
    not started; ``overrides`` win."""
    quiet_client_logs()
    return AIOKafkaConsumer(**{**options.consumer_kwargs(group_id, name), **overrides})


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
