"""How a relay's stalls show: metrics, one log line per change of state, an alert once past a threshold, and the
detail ``/readyz`` gives (a detail, never a readiness failure: commands keep working while Kafka is away).

A partition is *stalled* from the moment one of its batches failed (it is retried with backoff, not logged per
retry) or went unanswered past the delivery timeout (``PMO_RELAY_DELIVERY_TIMEOUT_SECONDS``), until one of its
batches is acknowledged again. The relay is *alerting* once a partition has been stalled, or its oldest unpublished
event has waited, longer than ``PMO_RELAY_STALL_ALERT_SECONDS``: one ERROR line and ``pmo_relay_stall_alerts_total``
counts one, whatever the stall lasts; its end is one INFO line with how long it lasted.

Gauges (label ``service``), set by the leader on each pass: ``pmo_relay_oldest_unpublished_age_seconds`` (the
commit-side age of the oldest event read and not yet acknowledged or held; 0 when there is none),
``pmo_relay_last_publish_age_seconds`` (since the last acknowledgement; grows while idle too: read it with the first),
``pmo_relay_stalled_partitions`` and ``pmo_relay_leader`` (1 on the replica that leads, on every replica).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.metrics import (
    RELAY_LAST_PUBLISH_AGE,
    RELAY_LEADER,
    RELAY_OLDEST_UNPUBLISHED_AGE,
    RELAY_STALL_ALERTS,
    RELAY_STALLED_PARTITIONS,
)

log = logging.getLogger("shared.relay")

QUIET_LOG_SECONDS = 60.0
"""A failure repeated without a change of state is logged again at most this often (rate-limited logs)."""


@dataclass
class StallWatch:
    """One relay's view of its stalls, kept by its leader."""

    service: str
    name: str
    alert_after: float
    stalled: dict[int, tuple[float, str]] = field(default_factory=dict)
    """Stalled partitions: since when (monotonic) and why."""
    last_publish: float = field(default_factory=time.monotonic)
    oldest_unpublished: datetime | None = None
    alerting_since: float | None = None
    alerts: int = 0

    def leading(self, leads: bool) -> None:
        RELAY_LEADER.labels(self.service).set(1 if leads else 0)
        if not leads:
            for partition in list(self.stalled):
                self.flowing(partition)
            self.oldest_unpublished = None
            self.refresh()

    def published(self) -> None:
        self.last_publish = time.monotonic()

    def stall(self, partition: int, why: str) -> None:
        """Partition ``partition`` failed or is late; logged on the change of state only."""
        if partition not in self.stalled:
            self.stalled[partition] = (time.monotonic(), why)
            log.warning(
                "relay %s/%s: partition %d stalled (%s); its events wait, in order, while the other partitions "
                "flow; retried with backoff", self.service, self.name, partition, why,
            )  # fmt: skip

    def flowing(self, partition: int) -> None:
        since = self.stalled.pop(partition, None)
        if since is not None:
            log.info(
                "relay %s/%s: partition %d flows again after %.1fs stalled",
                self.service, self.name, partition, time.monotonic() - since[0],
            )  # fmt: skip

    def oldest_age(self) -> float:
        if self.oldest_unpublished is None:
            return 0.0
        return max(0.0, time.time() - self.oldest_unpublished.timestamp())

    def refresh(self) -> None:
        """Set the gauges; raise or end the alert."""
        now = time.monotonic()
        oldest = self.oldest_age()
        RELAY_OLDEST_UNPUBLISHED_AGE.labels(self.service).set(oldest)
        RELAY_LAST_PUBLISH_AGE.labels(self.service).set(now - self.last_publish)
        RELAY_STALLED_PARTITIONS.labels(self.service).set(len(self.stalled))
        longest = max((now - since for since, _ in self.stalled.values()), default=0.0)
        past = max(longest, oldest if self.stalled else 0.0) >= self.alert_after
        if past and self.alerting_since is None:
            self.alerting_since = now
            self.alerts += 1
            RELAY_STALL_ALERTS.labels(self.service).inc()
            log.error(
                "ALERT relay %s/%s stalled: partitions %s have published nothing for %.0fs (oldest unpublished event "
                "%.0fs old, last publish %.0fs ago): %s",
                self.service, self.name, sorted(self.stalled), longest, oldest, now - self.last_publish,
                "; ".join(f"{p}: {why}" for p, (_, why) in sorted(self.stalled.items())),
            )  # fmt: skip
        elif not self.stalled and self.alerting_since is not None:
            log.info("relay %s/%s: stall over after %.0fs", self.service, self.name, now - self.alerting_since)
            self.alerting_since = None

    def detail(self) -> dict[str, Any] | None:
        """The readiness detail while a partition is stalled, else None."""
        if not self.stalled:
            return None
        now = time.monotonic()
        return {
            "stalled_partitions": sorted(self.stalled),
            "stalled_for_seconds": round(max(now - since for since, _ in self.stalled.values()), 1),
            "oldest_unpublished_age_seconds": round(self.oldest_age(), 1),
            "last_publish_age_seconds": round(now - self.last_publish, 1),
            "alerting": self.alerting_since is not None,
            "reasons": {str(p): why for p, (_, why) in sorted(self.stalled.items())},
        }


@dataclass
class QuietLog:
    """Logs a repeated failure once, then at most once every :data:`QUIET_LOG_SECONDS` with how many were not
    logged (a Kafka or database outage would otherwise write a line per retry)."""

    logged_at: float | None = None
    unlogged: int = 0

    def due(self) -> bool:
        now = time.monotonic()
        if self.logged_at is None or now - self.logged_at >= QUIET_LOG_SECONDS:
            self.logged_at = now
            return True
        self.unlogged += 1
        return False

    def taken(self) -> int:
        n, self.unlogged = self.unlogged, 0
        return n

    def reset(self) -> None:
        self.logged_at, self.unlogged = None, 0
