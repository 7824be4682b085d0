"""Kafka client and topic settings: defaults, what is refused at start, the options clients are built with."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from pydantic import ValidationError

from shared.kafka import Backoff, KafkaOptions, RepeatFilter, TopicSettings, TopicSettingsError
from shared.kafka_topics import weaker_than_configured
from shared.settings import ServiceSettings


def settings(**values: Any) -> ServiceSettings:
    return ServiceSettings(database_url="postgresql://x/y", kafka_bootstrap_servers="127.0.0.1:9092", **values)


def test_the_defaults_are_idempotent_acks_all_a_six_second_session_and_topics_kept_forever() -> None:
    options = settings().kafka("projects")
    producer = options.producer_kwargs()
    assert (producer["acks"], producer["enable_idempotence"], producer["linger_ms"]) == ("all", True, 5)
    consumer = options.consumer_kwargs("pmo.facts", "facts")
    assert (consumer["session_timeout_ms"], consumer["heartbeat_interval_ms"]) == (6000, 2000)
    assert consumer["fetch_max_wait_ms"] == 5000  # at rest a consumer asks every 5 s, not twice a second
    assert consumer["consumer_timeout_ms"] == 1000  # its fetch routine wakes once a second at rest, not five times
    assert settings(kafka_fetcher_poll_ms=250).kafka("projects").consumer_kwargs("g", "n")["consumer_timeout_ms"] == 250
    assert consumer["metadata_max_age_ms"] == 10_000
    assert "group_instance_id" not in consumer  # no stable replica id: a dynamic member
    assert options.topic.configs() == {"min.insync.replicas": "1", "retention.ms": "-1", "cleanup.policy": "delete"}


def test_a_replica_id_names_the_clients_and_the_database_sessions_and_makes_consumers_static_members() -> None:
    chosen = settings(replica_id="projects-1", topic_replication_factor=3)
    options = chosen.kafka("projects")
    assert options.client_id == "pmo-projects-projects-1"
    consumer = options.consumer_kwargs("pmo.budget-projects", "budget-projects")
    assert consumer["client_id"] == "pmo-projects-projects-1.budget-projects"
    assert consumer["group_instance_id"] == "pmo.budget-projects.projects-1"
    assert chosen.application_name("projects") == "pmo-projects-projects-1"
    assert options.topic.configs()["min.insync.replicas"] == "2"  # replication factor 3: min ISR 2 by default


def test_without_a_replica_id_each_process_has_a_name_of_its_own() -> None:
    name = settings().replica()
    assert name.endswith(f"-{__import__('os').getpid()}")
    assert settings().kafka("budget").client_id == f"pmo-budget-{name}"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"topic_replication_factor": 2, "topic_min_insync_replicas": 3}, "PMO_TOPIC_MIN_INSYNC_REPLICAS=3"),
        ({"kafka_acks": "1"}, "PMO_KAFKA_ACKS=all"),
        ({"kafka_session_timeout_ms": 3000, "kafka_heartbeat_interval_ms": 3000}, "PMO_KAFKA_HEARTBEAT_INTERVAL_MS"),
        ({"kafka_fetch_max_wait_ms": 30_000, "kafka_request_timeout_ms": 30_000}, "PMO_KAFKA_FETCH_MAX_WAIT_MS"),
        ({"kafka_reconnect_backoff_ms": 9000, "kafka_reconnect_backoff_max_ms": 1000}, "PMO_KAFKA_RECONNECT"),
        ({"topic_retention_ms": 10}, "PMO_TOPIC_RETENTION_MS"),
        ({"topic_cleanup_policy": "forever"}, "topic_cleanup_policy"),
        ({"replica_id": "two words"}, "replica_id"),
        ({"kafka_linger_ms": -1}, "kafka_linger_ms"),
        ({"relay_delivery_timeout_seconds": 0.005, "kafka_linger_ms": 5}, "PMO_RELAY_DELIVERY_TIMEOUT_SECONDS=0.005"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_start_naming_the_variable(values: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(**values)
    assert named in str(refused.value)


def test_acks_one_without_idempotence_is_allowed_and_passed_as_a_number() -> None:
    options = settings(kafka_acks="1", kafka_enable_idempotence=False).kafka("budget")
    assert options.producer_kwargs()["acks"] == 1


def test_a_min_isr_above_the_replication_factor_asked_of_ensure_topics_is_refused() -> None:
    with pytest.raises(TopicSettingsError, match="above the replication factor 1"):
        TopicSettings(min_insync_replicas=2).configs(replication_factor=1)


def test_the_backoff_grows_with_jitter_up_to_its_maximum_and_starts_over_after_a_reset() -> None:
    backoff = Backoff(0.2, 5.0, random.Random(7))
    delays = [backoff.next() for _ in range(10)]
    assert 0.1 <= delays[0] <= 0.2
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, [min(5.0, 0.2 * 2**n) for n in range(10)], strict=True))
    assert max(delays) <= 5.0 and delays[-1] >= 2.5
    assert len({round(d, 6) for d in delays[6:]}) > 1  # capped, still jittered: replicas do not retry in step
    backoff.reset()
    assert backoff.next() <= 0.2
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def test_repeated_client_errors_are_logged_once_per_window_with_the_number_dropped() -> None:
    now = [0.0]
    repeats = RepeatFilter(window=30.0, clock=lambda: now[0])

    def record(msg: str, *args: Any, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("aiokafka.conn", level, __file__, 1, msg, args, None)

    shown = [repeats.filter(record("Unable connect to node with id %s: %s", n, "refused")) for n in range(500)]
    assert shown.count(True) == 1
    assert repeats.filter(record("another failure")) is True  # another template is another line
    assert repeats.filter(record("debug %s", 1, level=logging.DEBUG)) is True  # below WARNING: untouched
    now[0] = 31.0
    again = record("Unable connect to node with id %s: %s", 2, "refused")
    assert repeats.filter(again) is True
    assert again.getMessage() == "Unable connect to node with id 2: refused [499 like it in the last 31s not logged]"


def test_a_topic_weaker_than_configured_is_named_setting_by_setting() -> None:
    wanted = TopicSettings(partitions=6, replication_factor=3, retention_ms=-1)
    partitions = [{"partition": p, "replicas": [1], "isr": [1] if p else []} for p in range(3)]
    found = weaker_than_configured(
        "pmo.projects.v1",
        wanted,
        partitions,
        {"min.insync.replicas": "1", "retention.ms": "604800000", "cleanup.policy": "compact",
         "unclean.leader.election.enable": "true"},
    )  # fmt: skip
    text = "\n".join(found)
    for expected in (
        "3 partitions, fewer than PMO_TOPIC_PARTITIONS=6",
        "1 replicas, fewer than PMO_TOPIC_REPLICATION_FACTOR=3",
        "min.insync.replicas=1, below the configured 2",
        "partitions [0] have fewer in-sync replicas",
        "retention.ms=604800000, shorter than PMO_TOPIC_RETENTION_MS=-1",
        "cleanup.policy=compact",
        "unclean.leader.election.enable=true",
    ):
        assert expected in text
    healthy = [{"partition": p, "replicas": [1, 2, 3], "isr": [1, 2, 3]} for p in range(6)]
    configs = {"min.insync.replicas": "2", "retention.ms": "-1", "cleanup.policy": "delete"}
    assert weaker_than_configured("pmo.projects.v1", wanted, healthy, configs) == []


def test_options_built_by_hand_keep_working_with_the_defaults() -> None:
    options = KafkaOptions(bootstrap_servers="127.0.0.1:1")
    assert "client_id" not in options.client_kwargs()
    assert options.producer_kwargs()["max_request_size"] == 1_048_576


class _Answer:
    def __init__(self, code: int) -> None:
        self.resources = [(code, None, 2, "pmo.projects.v1", [("min.insync.replicas", "2")])]


class _Admin:
    """A cluster whose broker asked learns of a topic created a moment ago after ``late`` questions."""

    def __init__(self, late: int) -> None:
        self.late = late
        self.asked = 0

    async def describe_configs(self, resources: Any) -> list[_Answer]:
        self.asked += 1
        return [_Answer(3 if self.asked <= self.late else 0)]


async def test_a_topic_a_broker_does_not_know_yet_is_described_again_until_it_does() -> None:
    from shared.kafka_topics import _describe_configs, _topic_configs

    admin = _Admin(late=2)
    answers = await _describe_configs(admin, ["pmo.projects.v1"])
    assert admin.asked == 3
    assert _topic_configs(answers) == {"pmo.projects.v1": {"min.insync.replicas": "2"}}


async def test_a_topic_still_unknown_after_the_patience_is_refused_naming_it() -> None:
    from shared.kafka_topics import _describe_configs, _topic_configs

    admin = _Admin(late=10_000)
    answers = await _describe_configs(admin, ["pmo.projects.v1"], patience=0.5)
    assert 2 <= admin.asked <= 6
    with pytest.raises(TopicSettingsError, match=r"pmo\.projects\.v1: 3"):
        _topic_configs(answers)
