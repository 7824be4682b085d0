"""The private world on a three-controller, three-broker Kafka cluster (replication factor 3, min ISR 2), and what
the cluster scenarios read from outside: the active controller, per-project order on the topics, relay metrics."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import httpx

from shared.infra.kafka_cluster import LocalKafkaCluster
from shared.infra.postgres import LocalPostgres
from shared.infra.system import SERVICES, create_database, local_kafka
from shared.kafka import KafkaOptions
from tests.support.chaos.common import DIRECTOR, TOPICS, free_ports
from tests.support.chaos.observe import _rows, header, read_topic
from tests.support.chaos.world import PrivateWorld

CLUSTER_ENV = {
    "PMO_TOPIC_REPLICATION_FACTOR": "3",
    "PMO_TOPIC_MIN_INSYNC_REPLICAS": "2",
    "PMO_TOPIC_PARTITIONS": "3",
    # Shorter than the defaults (30 s, 60 s) so that a stall of the scenarios' 8-10 s outages shows, as an operator
    # who wants to hear of it sooner would set them: a late batch is still awaited, never sent twice.
    "PMO_RELAY_DELIVERY_TIMEOUT_SECONDS": "3",
    "PMO_RELAY_STALL_ALERT_SECONDS": "8",
}


class ClusterInfra:
    """A PostgreSQL and a :class:`LocalKafkaCluster` of their own in ``root`` (the cluster runs from the jars of the
    checkout's broker ``jars_from``)."""

    def __init__(self, root: Path, jars_from: str = "kafka-test") -> None:
        self.root = root
        self.postgres = LocalPostgres(root=root)
        shared = local_kafka(jars_from)
        if not any(shared.lib_dir.glob("kafka_2.13-*.jar")):
            shared.ensure_jars()
        self.kafka = LocalKafkaCluster(root / "cluster", shared.lib_dir, free_ports(6))
        self.database_url = ""

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def kafka_options(self) -> KafkaOptions:
        return KafkaOptions(bootstrap_servers=self.kafka.bootstrap_servers)

    def start(self) -> None:
        import asyncio

        base = self.postgres.start()
        asyncio.run(create_database(base, "pmo"))
        self.database_url = base.replace("/postgres?", "/pmo?")
        self.kafka.start(timeout=180)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.kafka.stop(timeout=20)
        with contextlib.suppress(Exception):
            self.postgres.stop()


class ClusterWorld(PrivateWorld):
    """The five services as processes on a :class:`ClusterInfra`."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, jars_from: str = "kafka-test") -> None:
        super().__init__(root, {**CLUSTER_ENV, **(env or {})}, jars_from)
        self.cluster_infra = ClusterInfra(root, jars_from)
        self.infra = self.cluster_infra  # type: ignore[assignment]

    @property
    def cluster(self) -> LocalKafkaCluster:
        return self.cluster_infra.kafka


def kafka_tool(cluster: LocalKafkaCluster, tool: str, arguments: list[str]) -> str:
    """What ``pmo kafka TOOL ARGUMENTS`` (Kafka's own tool, from the project's jars) prints about ``cluster``."""
    from shared.cli.kafka import command_line
    from shared.infra.kafka import LocalKafka
    from shared.infra.paths import state_dir

    tools = LocalKafka(root=state_dir() / "kafka-tools")
    tools.ensure_jars()
    command = command_line(tool, arguments, tools.lib_dir, cluster.bootstrap_servers, None)
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True).stdout


def active_controller(cluster: LocalKafkaCluster) -> int:
    """The node id of the quorum's leader, as ``pmo kafka quorum`` (Kafka's metadata-quorum tool) reports it."""
    out = kafka_tool(cluster, "quorum", [])
    found = re.search(r"LeaderId:\s+(\d+)", out)
    assert found, out
    return int(found[1])


def under_min_isr(cluster: LocalKafkaCluster) -> tuple[set[tuple[str, int]], str]:
    """The partitions ``pmo kafka topics --describe --under-min-isr-partitions`` lists (the operations guide's first
    step when a stall alert fires), and its output."""
    out = kafka_tool(cluster, "topics", ["--describe", "--under-min-isr-partitions"])
    return {(t, int(p)) for t, p in re.findall(r"Topic:\s*(\S+)\s+Partition:\s*(\d+)", out)}, out


async def order_per_project(world: PrivateWorld) -> tuple[int, int]:
    """Check every service topic against its events table: each project's events, first copies in partition order,
    are exactly the table's in ``(xid, position)`` order. Returns (records read, copies after the first)."""
    engine = await world.open()
    kafka = world.infra.kafka_options
    records_read = copies = 0
    problems: list[str] = []
    for service, topic in TOPICS.items():
        written: dict[str, list[str]] = defaultdict(list)
        for row in await _rows(
            engine, f"SELECT event_id::text AS id, partition_key AS k FROM {service}.events ORDER BY xid, position"
        ):
            written[row.k].append(row.id)
        published: dict[str, list[str]] = defaultdict(list)
        seen: set[str] = set()
        records = sorted(await read_topic(kafka, topic), key=lambda r: (r.partition, r.offset))
        records_read += len(records)
        for record in records:
            event_id = header(record, "ce_id")
            if event_id is None or event_id in world.foreign_ids:
                continue
            if event_id in seen:
                copies += 1
                continue
            seen.add(event_id)
            published[(record.key or b"").decode()].append(event_id)
        for key, ids in written.items():
            if published.get(key) != ids:
                problems.append(f"{topic} key {key}: {len(ids)} written, published {len(published.get(key, []))}")
    assert not problems, f"{len(problems)} projects out of order or incomplete: {problems[:5]}"
    return records_read, copies


def relay_metrics(world: PrivateWorld) -> dict[str, dict[str, float]]:
    """Every ``pmo_relay_*`` sample each service exposes on ``/metrics`` (whatever the relay publishes)."""
    out: dict[str, dict[str, float]] = {}
    for service in SERVICES:
        samples: dict[str, float] = {}
        with contextlib.suppress(httpx.HTTPError):
            for line in httpx.get(f"{world.url(service)}/metrics", headers=DIRECTOR, timeout=5).text.splitlines():
                if line.startswith("pmo_relay_"):
                    name, _, value = line.rpartition(" ")
                    with contextlib.suppress(ValueError):
                        samples[name] = float(value)
        out[service] = samples
    return out


def readiness(world: PrivateWorld) -> dict[str, tuple[int, dict[str, object]] | None]:
    """Each service's ``/readyz`` answer: (status, body), None where it did not answer in time."""
    out: dict[str, tuple[int, dict[str, object]] | None] = {}
    for service in SERVICES:
        out[service] = None
        with contextlib.suppress(httpx.HTTPError, ValueError):
            answer = httpx.get(f"{world.url(service)}/readyz", timeout=5)
            out[service] = (answer.status_code, answer.json())
    return out


def gauge(metrics: dict[str, dict[str, float]], service: str, name: str) -> float | None:
    """The ``pmo_relay_<name>`` sample of ``service`` (a counter never incremented has none: 0)."""
    for sample, value in metrics.get(service, {}).items():
        if sample.removeprefix("pmo_relay_").split("{")[0] == name:
            return value
    return 0.0 if metrics.get(service) and name.endswith("_total") else None


def stall_line(metrics: dict[str, dict[str, float]]) -> str:
    """The relay's stall gauges per service: the oldest unpublished event's age, the time since the last publish,
    stalled partitions, the backlog and the stall alerts so far (``?`` where the service did not answer)."""
    shown = {
        "oldest_unpublished_age_seconds": "oldest unpublished {:.1f}s",
        "last_publish_age_seconds": "last publish {:.1f}s ago",
        "stalled_partitions": "stalled partitions {:.0f}",
        "backlog_events": "backlog {:.0f}",
        "stall_alerts_total": "alerts {:.0f}",
    }
    parts = []
    for service in metrics:
        values = {name: gauge(metrics, service, name) for name in shown}
        gauges = [text.format(values[name]) for name, text in shown.items() if values[name] is not None]
        parts.append(f"{service} {', '.join(gauges) or '?'}")
    return "; ".join(parts)
