"""Prometheus metrics shared by every service (labelled by service)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram


def gauge(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
    """A gauge; with several worker processes (``PMO_WORKERS``, :mod:`shared.workers`) one series per live worker."""
    return Gauge(name, documentation, labelnames, multiprocess_mode="liveall")


HTTP_REQUESTS = Counter("pmo_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("pmo_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"])
RELAY_PUBLISHED = Counter("pmo_relay_published_total", "Events published to Kafka by the relay", ["service"])
RELAY_BACKLOG = gauge("pmo_relay_backlog_events", "Committed events not yet published (0 when caught up)", ["service"])
CONSUMED = Counter("pmo_consumer_events_total", "Events applied by a consumer", ["consumer"])
DUPLICATES = Counter("pmo_consumer_duplicates_total", "Duplicate deliveries ignored by a consumer", ["consumer"])
CONSUMER_LAG = gauge(
    "pmo_consumer_lag_records",
    "Records of a partition not yet applied by a consumer",
    ["consumer", "topic", "partition"],
)
ALERTS_OPEN = gauge("pmo_alerts_open", "Open alerts", ["severity"])
DEAD_LETTERED = Counter("pmo_consumer_dead_lettered_total", "Messages sent to the dead-letter topic", ["consumer"])
RELAY_HELD = gauge(
    "pmo_relay_held_events",
    "Events the relay holds back from Kafka: refused for good, or behind such an event of their project",
    ["service"],
)
EVALUATOR_LEADER = gauge(
    "pmo_evaluator_leader", "1 on the reporting replica that evaluates alerts (one per deployment), else 0"
)
RELAY_LEADER = gauge(
    "pmo_relay_leader", "1 on the replica whose relay publishes the service's events, else 0", ["service"]
)
RELAY_OLDEST_UNPUBLISHED_AGE = gauge(
    "pmo_relay_oldest_unpublished_age_seconds",
    "Age of the oldest committed event the relay read and Kafka has not acknowledged yet (0 when none)",
    ["service"],
)
RELAY_LAST_PUBLISH_AGE = gauge(
    "pmo_relay_last_publish_age_seconds", "Seconds since Kafka last acknowledged a batch of the relay", ["service"]
)
RELAY_STALLED_PARTITIONS = gauge(
    "pmo_relay_stalled_partitions",
    "Partitions whose last batch failed or is late past the delivery timeout",
    ["service"],
)
RELAY_STALL_ALERTS = Counter(
    "pmo_relay_stall_alerts_total", "Relay stalls that lasted past PMO_RELAY_STALL_ALERT_SECONDS", ["service"]
)
