"""How the relay hands records to Kafka so that no event of a project can overtake an earlier one on the topic.

Kafka keeps one partition's records in the order they were written, and the idempotent producer has one batch per
partition in flight at a time. That is not enough on its own: a batch can fail *without being sent* (it waited for
a partition leader longer than the producer's request timeout), and the producer then goes on with the next batch
of that partition, which is acknowledged; the failed records, published again from the checkpoint, land behind
it. So the relay makes its batches itself: one pass's records for one partition go out in as few batches as their
size allows, one after the other, each only once the one before it was acknowledged; the first failure stops that
partition for the pass (the other partitions go on) and what follows it is sent again on a later pass, in order.

A record larger than :data:`ALONE_BYTES` is a batch of its own, so that a refusal by the broker names the record it
refuses (:mod:`shared.relay_holding`); a record above the record limit is not sent at all, refused by the relay
(as the producer's own ``send()`` would refuse it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError  # type: ignore[import-untyped]
from aiokafka.partitioner import DefaultPartitioner  # type: ignore[import-untyped]

from shared.kafka import KafkaOptions, is_permanent_record_error, new_producer

ALONE_BYTES = 16 * 1024
"""A record larger than this is sent alone: what was sent before it on its partition is acknowledged first, and
nothing after it is sent until the broker acknowledged or refused it."""

_PARTITIONER = DefaultPartitioner()


def record_size(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> int:
    return len(key) + len(value) + sum(len(k) + len(v) for k, v in headers)


def batch_bytes(record_limit: int) -> int:
    """The most bytes of records the relay puts in one batch of several records: a quarter of the record limit (a
    broker applies its limit to a whole batch), at least :data:`ALONE_BYTES`."""
    return max(ALONE_BYTES, record_limit // 4)


@dataclass(frozen=True)
class Outgoing:
    """One record to publish and what it carries (an event row, a held event)."""

    item: Any
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def size(self) -> int:
        return record_size(self.key, self.value, self.headers)


@dataclass
class Outcome:
    """What became of a list of records. A record in none of the lists was not published and is sent again later."""

    published: list[Outgoing] = field(default_factory=list)
    refused: list[tuple[Outgoing, BaseException]] = field(default_factory=list)
    """Refused for good: above the record limit, or in a batch the broker refused for what it is."""
    behind: list[Outgoing] = field(default_factory=list)
    """Not sent: an earlier record with the same key was refused by the relay in this pass."""
    transient: BaseException | None = None
    """The first failure for a passing reason (the cluster, not a record)."""
    broken: bool = False
    """The broker refused a batch: the producer's sequence for that partition is broken; it must be replaced."""


Late = Callable[[int, float], None]
"""Called with the partition and the seconds waited when a batch has had no answer within the delivery timeout."""


def relay_producer(kafka: KafkaOptions) -> Any:
    """The producer a relay (or a republish) sends with: the options' client settings, batches of
    :func:`batch_bytes`."""
    return new_producer(kafka, max_batch_size=batch_bytes(kafka.max_message_bytes))


def partition_of(key: bytes, partitions: list[int]) -> int:
    """The partition the producer's default partitioner gives ``key`` (what the consumers rely on)."""
    return int(_PARTITIONER(key, partitions, partitions))


async def send_in_order(producer: Any, topic: str, records: list[Outgoing], *, record_limit: int) -> Outcome:
    """Publish ``records`` (in their order) to ``topic``: the partitions side by side, each one's records in order,
    stopping at its first failure."""
    outcome = Outcome()
    if not records:
        return outcome
    partitions = sorted(await producer.partitions_for(topic))
    by_partition: dict[int, list[Outgoing]] = {}
    for record in records:
        by_partition.setdefault(partition_of(record.key, partitions), []).append(record)
    await asyncio.gather(
        *(
            send_partition(producer, topic, partition, mine, outcome, record_limit=record_limit)
            for partition, mine in by_partition.items()
        )
    )
    return outcome


async def send_partition(
    producer: Any,
    topic: str,
    partition: int,
    records: list[Outgoing],
    outcome: Outcome,
    *,
    record_limit: int,
    delivery_timeout: float | None = None,
    late: Late | None = None,
) -> None:
    """Send one partition's ``records`` in order, each batch once the one before it was acknowledged, stopping at the
    first failure; what became of them goes in ``outcome``. A batch with no answer after ``delivery_timeout`` is
    reported to ``late`` and *still awaited*: it stays in the producer, which may deliver it yet, so sending its
    records again would publish them twice or behind later ones."""
    most = batch_bytes(record_limit)
    blocked: set[bytes] = set()
    i = 0
    while i < len(records):
        batch, size = producer.create_batch(), 0
        members: list[Outgoing] = []
        while i < len(records):
            record = records[i]
            if record.key in blocked:
                outcome.behind.append(record)
            elif record.size > record_limit:
                refusal = MessageSizeTooLargeError(f"the record is {record.size} bytes, above the {record_limit} limit")
                outcome.refused.append((record, refusal))
                blocked.add(record.key)
            else:
                alone = record.size > ALONE_BYTES
                if members and (alone or size + record.size > most):
                    break
                if batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers) is None:
                    break  # full by the batch's own count (never its first record)
                members.append(record)
                size += record.size
                if alone:
                    i += 1
                    break
            i += 1
        if not members:
            continue
        try:
            await _acknowledged(await producer.send_batch(batch, topic, partition=partition), partition,
                                delivery_timeout, late)  # fmt: skip
        except Exception as exc:  # the partition stops here for this pass
            if is_permanent_record_error(exc):
                outcome.refused.extend((member, exc) for member in members)
                outcome.broken = True
            elif outcome.transient is None:
                outcome.transient = exc
            return
        outcome.published.extend(members)


async def _acknowledged(future: Any, partition: int, delivery_timeout: float | None, late: Late | None) -> None:
    if delivery_timeout is None or late is None:
        await future
        return
    try:
        await asyncio.wait_for(asyncio.shield(future), delivery_timeout)
    except TimeoutError:
        late(partition, delivery_timeout)
        await future
