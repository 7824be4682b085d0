"""The relay's partitions side by side: one *lane* per partition, so that a partition without a leader (or with too
few in-sync replicas) holds back only its own events.

A lane keeps its partition's records that are read and not yet acknowledged, in the order they were read, and has
at most one sending task at a time (:func:`shared.relay_sending.send_partition`: batch after batch, each once the one
before it was acknowledged, stopping at the first failure). A lane whose send failed keeps its records, in order,
and tries again after a backoff with jitter (0.2 s doubling to 5 s); records read meanwhile for that partition join
the end of the lane, never sent ahead of them. A pass of the relay waits for the lanes it set going for at most
:data:`PATIENCE` seconds: a lane still sending after that goes on in the background while the others take new
records. Whatever a lane's task settles (published, refused, behind a refused record) is handed back to the relay
by :meth:`Lanes.harvest`; the relay's checkpoint is the last event before the oldest one still in a lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.relay_sending import Late, Outcome, Outgoing, send_partition
from shared.relay_stalls import StallWatch

PATIENCE = 1.0
"""Longest a pass waits for the lanes it set going before it reads on for the others (seconds)."""

FIRST_BACKOFF, LAST_BACKOFF = 0.2, 5.0


@dataclass
class Lane:
    partition: int
    pending: list[Outgoing] = field(default_factory=list)
    task: asyncio.Task[Outcome] | None = None
    started: float = 0.0
    failures: int = 0
    retry_at: float = 0.0

    def backoff(self) -> float:
        base = min(LAST_BACKOFF, FIRST_BACKOFF * 2.0 ** (self.failures - 1))
        return base / 2 + random.uniform(0, base / 2)  # equal jitter: replicas do not retry in step


class Lanes:
    """The lanes of one relay leader, on one producer."""

    def __init__(self, topic: str, *, record_limit: int, delivery_timeout: float, watch: StallWatch) -> None:
        self.topic = topic
        self.record_limit = record_limit
        self.delivery_timeout = delivery_timeout
        self.watch = watch
        self.lanes: dict[int, Lane] = {}

    def add(self, partition: int, record: Outgoing) -> None:
        self.lanes.setdefault(partition, Lane(partition)).pending.append(record)

    def pending(self) -> Iterator[Outgoing]:
        for lane in self.lanes.values():
            yield from lane.pending

    def busy(self) -> bool:
        return any(lane.task is not None for lane in self.lanes.values())

    def start(self, producer: Any) -> None:
        """Set going every lane that has records, no task and no backoff to wait out."""
        now = time.monotonic()
        late: Late = lambda partition, waited: self.watch.stall(  # noqa: E731
            partition, f"no acknowledgement within the {waited:g}s delivery timeout"
        )
        for lane in self.lanes.values():
            if lane.task is None and lane.pending and now >= lane.retry_at:
                outcome = Outcome()
                records = list(lane.pending)
                lane.started = now
                lane.task = asyncio.create_task(
                    self._send(producer, lane.partition, records, outcome, late), name=f"relay-lane-{lane.partition}"
                )

    async def _send(
        self, producer: Any, partition: int, records: list[Outgoing], outcome: Outcome, late: Late
    ) -> Outcome:
        await send_partition(
            producer, self.topic, partition, records, outcome, record_limit=self.record_limit,
            delivery_timeout=self.delivery_timeout, late=late,
        )  # fmt: skip
        return outcome

    async def settle(self) -> None:
        """Wait for the lanes set going less than :data:`PATIENCE` ago (not for those already late)."""
        now = time.monotonic()
        fresh = {lane.task: lane.started for lane in self.lanes.values() if lane.task and now - lane.started < PATIENCE}
        if fresh:
            await asyncio.wait(fresh, timeout=min(fresh.values()) + PATIENCE - now)

    def harvest(self) -> Outcome:
        """What the lanes that finished settled, taken out of them; a lane that failed for a passing reason keeps
        the rest of its records and waits out its backoff."""
        total = Outcome()
        now = time.monotonic()
        for lane in self.lanes.values():
            if lane.task is None or not lane.task.done():
                continue
            task, lane.task = lane.task, None
            outcome = task.result()  # send_partition never raises: its failures are in the outcome
            settled = {id(r) for r in outcome.published} | {id(r) for r, _ in outcome.refused}
            settled |= {id(r) for r in outcome.behind}
            lane.pending = [r for r in lane.pending if id(r) not in settled]
            total.published.extend(outcome.published)
            total.refused.extend(outcome.refused)
            total.behind.extend(outcome.behind)
            total.broken = total.broken or outcome.broken
            if outcome.transient is not None:
                lane.failures += 1
                lane.retry_at = now + lane.backoff()
                self.watch.stall(lane.partition, f"{type(outcome.transient).__name__}: {outcome.transient}")
                total.transient = total.transient or outcome.transient
            else:
                lane.failures = 0
                if outcome.published or outcome.refused:
                    self.watch.flowing(lane.partition)
            if outcome.published:
                self.watch.published()
        return total

    def take(self, keys: set[bytes]) -> list[Outgoing]:
        """Take out of the lanes the records of ``keys`` not being sent (their project now has a held event)."""
        taken: list[Outgoing] = []
        for lane in self.lanes.values():
            if lane.task is None:
                taken.extend(r for r in lane.pending if r.key in keys)
                lane.pending = [r for r in lane.pending if r.key not in keys]
        return taken

    async def wait(self, grace: float) -> None:
        """Let the lanes' tasks finish within ``grace`` seconds (none is cancelled; what they settle stays to be
        harvested)."""
        tasks = [lane.task for lane in self.lanes.values() if lane.task is not None and not lane.task.done()]
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)

    async def close(self, grace: float) -> Outcome:
        """Let the lanes' tasks finish within ``grace`` seconds, then cancel the rest; forget every lane. Returns
        what the tasks that finished settled (a record acknowledged while the lanes closed must count as published,
        or it would be sent a second time)."""
        await self.wait(grace)
        for lane in self.lanes.values():
            if lane.task is not None and not lane.task.done():
                lane.task.cancel()
                with contextlib.suppress(BaseException):
                    await lane.task
                lane.task = None  # its records' fate is unknown: they are read and sent again (at least once)
        settled = self.harvest()
        self.lanes.clear()
        return settled
