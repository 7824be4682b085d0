"""Topics: created with explicit settings, and checked at a service's start against what the cluster really holds.

Every topic a service writes or reads is created (if missing) with the deployment's :class:`TopicSettings`:
partitions, replication factor, ``min.insync.replicas`` (always explicit: a KRaft cluster's broker default may be
1), ``retention.ms`` and ``cleanup.policy``. At start (:func:`prepare_topics`) an existing topic with *more*
partitions than configured refuses the start (Kafka cannot remove partitions, and a lower setting would mean the
deployment does not know its own topics); every setting the cluster holds weaker than configured (fewer replicas,
a lower min ISR, a shorter retention, another cleanup policy, unclean leader election on, too few in-sync replicas
right now) is a WARNING log line, one per topic and setting, and is returned to the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # type: ignore[import-untyped]
from aiokafka.errors import TopicAlreadyExistsError  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

CleanupPolicy = Literal["delete", "compact", "compact,delete"]


class KafkaOptions(Protocol):
    """What this module needs of :class:`shared.kafka.KafkaOptions` (which imports this module)."""

    @property
    def topic(self) -> TopicSettings: ...

    def client_kwargs(self) -> dict[str, Any]: ...


class TopicSettingsError(RuntimeError):
    """The configured topic settings cannot hold on this cluster (the message names the setting to change)."""


@dataclass(frozen=True)
class TopicSettings:
    """How the services' topics are created (``PMO_TOPIC_*``)."""

    partitions: int = 3
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    """``None``: one less than the replication factor, at least 1 (2 for the usual 3)."""
    retention_ms: int = -1
    """-1 keeps events forever: the topics are the replayable log."""
    cleanup_policy: CleanupPolicy = "delete"

    def min_isr(self, replication_factor: int | None = None) -> int:
        """The ``min.insync.replicas`` topics are created with, for ``replication_factor`` (default: configured)."""
        factor = self.replication_factor if replication_factor is None else replication_factor
        return self.min_insync_replicas if self.min_insync_replicas is not None else max(1, factor - 1)

    def configs(self, replication_factor: int | None = None) -> dict[str, str]:
        """The topic-level configuration a new topic is created with; raises :class:`TopicSettingsError` when
        ``min.insync.replicas`` is above the replication factor (no write could ever be acknowledged)."""
        factor = self.replication_factor if replication_factor is None else replication_factor
        min_isr = self.min_isr(factor)
        if min_isr > factor:
            raise TopicSettingsError(
                f"PMO_TOPIC_MIN_INSYNC_REPLICAS={min_isr} is above the replication factor {factor}: no write could "
                "ever be acknowledged; lower it or raise PMO_TOPIC_REPLICATION_FACTOR"
            )
        return {
            "min.insync.replicas": str(min_isr),
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
        }


async def ensure_topics(
    options: KafkaOptions,
    topics: Sequence[str],
    partitions: int | None = None,
    replication_factor: int | None = None,
) -> list[str]:
    """Create the missing ``topics`` (idempotent) with ``options.topic``'s settings, ``partitions`` and
    ``replication_factor`` overriding them; wait until every topic has a leader for each partition. Returns the
    topics this call created. Existing topics are left as they are (see :func:`prepare_topics` for the checks)."""
    settings = options.topic
    partitions = settings.partitions if partitions is None else partitions
    factor = settings.replication_factor if replication_factor is None else replication_factor
    configs = settings.configs(factor)
    admin = AIOKafkaAdminClient(**options.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(name=t, num_partitions=partitions, replication_factor=factor, topic_configs=configs)
                    for t in missing
                ]
            )
            for topic, code, *message in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise TopicSettingsError(
                        f"cannot create topic {topic} ({partitions} partitions, replication factor {factor}, "
                        f"{configs}): error {code} {message}"
                    )
        await _until_described(admin, topics)
        return missing
    finally:
        await admin.close()


async def missing_topics(options: KafkaOptions, topics: Sequence[str]) -> list[str]:
    """Those of ``topics`` the cluster does not hold."""
    admin = AIOKafkaAdminClient(**options.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [t for t in topics if t not in existing]


async def prepare_topics(options: KafkaOptions, topics: Sequence[str]) -> list[str]:
    """At a service's start: :func:`ensure_topics`, then compare every topic with the configured settings.

    Raises :class:`TopicSettingsError` when an existing topic has more partitions than ``PMO_TOPIC_PARTITIONS``.
    Returns (and logs at WARNING) one line per setting the cluster holds weaker than configured; fewer partitions
    than configured is a warning too: adding partitions moves projects to other partitions (their order across the
    change is lost), so it is left to an operator (``pmo kafka topics --alter``, with the relays drained first).
    """
    created = set(await ensure_topics(options, topics))
    admin = AIOKafkaAdminClient(**options.client_kwargs())
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(list(topics))}
        responses = await _describe_configs(admin, topics)
    finally:
        await admin.close()
    actual = _topic_configs(responses)
    settings = options.topic
    warnings: list[str] = []
    for topic in topics:
        partitions = described[topic]["partitions"]
        if len(partitions) > settings.partitions and topic not in created:
            raise TopicSettingsError(
                f"topic {topic} has {len(partitions)} partitions and PMO_TOPIC_PARTITIONS={settings.partitions} "
                "would lower it: Kafka cannot remove partitions; set PMO_TOPIC_PARTITIONS to at least "
                f"{len(partitions)}"
            )
        warnings += weaker_than_configured(topic, settings, partitions, actual.get(topic, {}))
    for line in warnings:
        log.warning("kafka: %s", line)
    return warnings


def weaker_than_configured(
    topic: str, settings: TopicSettings, partitions: Sequence[dict[str, Any]], configs: dict[str, str]
) -> list[str]:
    """What ``topic`` (its described ``partitions`` and its effective ``configs``) holds weaker than ``settings``."""
    out: list[str] = []
    if len(partitions) < settings.partitions:
        out.append(
            f"{topic} has {len(partitions)} partitions, fewer than PMO_TOPIC_PARTITIONS={settings.partitions} "
            "(left as is: adding partitions moves projects to other partitions)"
        )
    factor = min((len(p["replicas"]) for p in partitions), default=0)
    if factor < settings.replication_factor:
        out.append(
            f"{topic} has {factor} replicas, fewer than PMO_TOPIC_REPLICATION_FACTOR={settings.replication_factor}"
        )
    wanted_isr = settings.min_isr()
    min_isr = int(configs.get("min.insync.replicas", "1"))
    if min_isr < wanted_isr:
        out.append(f"{topic} has min.insync.replicas={min_isr}, below the configured {wanted_isr}")
    short = [p["partition"] for p in partitions if len(p["isr"]) < min_isr]
    if short:
        out.append(f"{topic} partitions {short} have fewer in-sync replicas than min.insync.replicas={min_isr} now")
    retention = int(configs.get("retention.ms", "-1"))
    if settings.retention_ms < 0 <= retention or 0 <= retention < settings.retention_ms:
        out.append(f"{topic} has retention.ms={retention}, shorter than PMO_TOPIC_RETENTION_MS={settings.retention_ms}")
    cleanup = configs.get("cleanup.policy", "delete")
    if cleanup != settings.cleanup_policy:
        out.append(f"{topic} has cleanup.policy={cleanup}, not PMO_TOPIC_CLEANUP_POLICY={settings.cleanup_policy}")
    if configs.get("unclean.leader.election.enable") == "true":
        out.append(f"{topic} has unclean.leader.election.enable=true: a failover may lose acknowledged events")
    return out


UNKNOWN_TOPIC = 3
"""UNKNOWN_TOPIC_OR_PARTITION: a broker that has not learnt yet of a topic the controller has just created."""


async def _describe_configs(admin: AIOKafkaAdminClient, topics: Sequence[str], patience: float = 15.0) -> Any:
    """DescribeConfigs of ``topics``, asked again while a broker answers that one is unknown to it (on a cluster, the
    broker asked may learn of a topic created a moment ago some time after the controller): at most ``patience``
    seconds, then the last answer is returned as it is (and refused by :func:`_topic_configs`)."""
    deadline = asyncio.get_running_loop().time() + patience
    delay = 0.1
    while True:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
        unknown = any(r[0] == UNKNOWN_TOPIC for response in responses for r in response.resources)
        if not unknown or asyncio.get_running_loop().time() + delay > deadline:
            return responses
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


def _topic_configs(responses: Sequence[Any]) -> dict[str, dict[str, str]]:
    """``{topic: {name: value}}`` from DescribeConfigs responses (every version lists name and value first)."""
    out: dict[str, dict[str, str]] = {}
    for response in responses:
        for error_code, error_message, _type, name, entries, *_ in response.resources:
            if error_code:
                raise TopicSettingsError(f"cannot read the configuration of topic {name}: {error_code} {error_message}")
            out[name] = {entry[0]: entry[1] for entry in entries if entry[1] is not None}
    return out


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
