"""The private Kafka broker's setup and probes: the jars it runs from (fetched by Maven), its configuration files, its
cluster id and formatted storage, the Java it runs on, and the probes that tell whether it is up; with the errors
all of it raises. Its process (launch, readiness, stop) is :class:`shared.infra.kafka.LocalKafka`'s.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import os
import secrets
import shlex
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from shared.infra.processes import tail_text, write_atomically

HOST = "127.0.0.1"

# The stock kafka-run-class.sh options, with a heap sized for a small test machine instead of 1 GB.
JVM_OPTIONS = (
    "-Xmx512m",
    "-Xms256m",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
# Loggers that write a line per segment, request or partition state change at INFO.
NOISY_LOGGERS = (
    "kafka.request.logger",
    "kafka.network.RequestChannel$",
    "state.change.logger",
    "kafka.log.LogCleaner",
    "org.apache.kafka.storage.internals.log",
    "org.apache.kafka.common.config.AbstractConfig",
    "org.apache.kafka.common.utils.AppInfoParser",
    "org.apache.kafka.clients",
)
FETCH_TIMEOUT = 900.0
FORMAT_TIMEOUT = 120.0
PROBE_TIMEOUT = 10.0


class KafkaInfraError(RuntimeError):
    """The private Kafka broker could not be prepared, started or stopped."""


class JarFetchError(KafkaInfraError):
    """Maven could not gather the broker's jars."""


class KafkaStartError(KafkaInfraError):
    """The broker did not become ready; the message carries the tail of its logs."""


# -- jars -------------------------------------------------------------------------------------------------------


def jars_fetched(lib_dir: Path, marker: Path, digest: str) -> bool:
    """Whether ``lib_dir`` holds the jars of the pom whose sha256 is ``digest`` (its ``marker`` says so)."""
    try:
        recorded = marker.read_text().strip()
    except FileNotFoundError:
        return False
    return recorded == digest and any(lib_dir.glob("kafka_2.13-*.jar"))


def fetch_jars(pom: Path, lib_dir: Path, marker: Path, digest: str) -> None:
    """Empty ``lib_dir`` (two Kafka versions side by side break at run time), have Maven copy ``pom``'s runtime
    dependencies into it, and write ``digest`` (the pom's sha256) to ``marker`` last. Raises ``JarFetchError`` with
    Maven's output."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarFetchError("Maven (mvn) is not on PATH; it fetches the broker's jars from Maven Central")
    marker.unlink(missing_ok=True)
    shutil.rmtree(lib_dir, ignore_errors=True)
    lib_dir.mkdir(parents=True)
    command = [
        mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={lib_dir}", "-DincludeScope=runtime",
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=FETCH_TIMEOUT
        )
    except subprocess.TimeoutExpired as error:
        raise JarFetchError(f"{shlex.join(command)} took longer than {FETCH_TIMEOUT:.0f}s") from error
    if result.returncode != 0:
        output = tail_text(result.stdout + result.stderr, 60)
        raise JarFetchError(f"{shlex.join(command)} failed ({result.returncode}):\n{output}")
    if not any(lib_dir.glob("kafka_2.13-*.jar")):
        raise JarFetchError(f"{shlex.join(command)} succeeded but left no kafka_2.13 jar in {lib_dir}")
    marker.write_text(digest + "\n")


# -- config, storage --------------------------------------------------------------------------------------------


def write_config(
    server_properties: Path, log4j_config: Path, *, listeners: str, controller: str, data_dir: Path
) -> None:
    """Write the broker's ``server.properties`` (one ``broker,controller`` node on ``listeners``, its KRaft
    controller at ``controller``, its logs in ``data_dir``) and its log4j2 configuration."""
    write_properties(server_properties, log4j_config, single_node_settings(listeners, controller, data_dir))


def single_node_settings(listeners: str, controller: str, data_dir: Path) -> dict[str, str]:
    """``server.properties`` of one ``broker,controller`` node (see :func:`write_config`)."""
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": controller,
        "listeners": listeners,
        "advertised.listeners": listeners,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        # One node: internal topics never come up with the default replication factor of 3.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "num.partitions": "1",
        # Small-machine sizing: 50 partitions per internal topic and a 128 MB cleaner buffer are for clusters.
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": "16777216",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        # After a crash the restarted broker is refused ("another broker is registered with that id") until
        # its previous incarnation's session expires: 9 s by default; a loopback node can afford 3 s.
        "broker.heartbeat.interval.ms": "1000",
        "broker.session.timeout.ms": "3000",
        # At rest the controller appends a no-op record to the metadata log every 500 ms by default (KIP-835: how
        # brokers of a cluster tell a live controller from a stale one); one node has no other broker to tell.
        "metadata.max.idle.interval.ms": "5000",
        # Services create their topics explicitly (with their retention); a typo must not create one.
        "auto.create.topics.enable": "false",
    }


def write_properties(server_properties: Path, log4j_config: Path, settings: dict[str, str]) -> None:
    """Write ``settings`` as a node's ``server.properties``, and its log4j2 configuration."""
    lines = ["# Written by shared/infra/kafka.py at every launch; edits are lost."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    write_atomically(server_properties, "\n".join(lines) + "\n")
    log4j = [
        "# Written by shared/infra/kafka.py at every launch; edits are lost.",
        "status = warn",
        "name = pmo-kafka",
        "shutdownHook = disable",  # else log4j2 closes the file before Kafka logs its shutdown
        "appender.server.type = RollingFile",
        "appender.server.name = server",
        "appender.server.fileName = ${sys:kafka.logs.dir}/server.log",
        "appender.server.filePattern = ${sys:kafka.logs.dir}/server.log.%i",
        "appender.server.layout.type = PatternLayout",
        "appender.server.layout.pattern = [%d] %p %m (%c)%n",
        "appender.server.policies.type = Policies",
        "appender.server.policies.size.type = SizeBasedTriggeringPolicy",
        "appender.server.policies.size.size = 20MB",
        "appender.server.strategy.type = DefaultRolloverStrategy",
        "appender.server.strategy.max = 3",
        "rootLogger.level = INFO",
        "rootLogger.appenderRef.server.ref = server",
    ]
    for index, name in enumerate(NOISY_LOGGERS):
        log4j += [f"logger.noisy{index}.name = {name}", f"logger.noisy{index}.level = WARN"]
    write_atomically(log4j_config, "\n".join(log4j) + "\n")


def cluster_id(cluster_id_file: Path, data_dir: Path) -> str:
    """The cluster id ``data_dir`` is (or is to be) formatted with: kept in ``cluster_id_file``, else read back from
    the data, else made up."""
    with contextlib.suppress(FileNotFoundError):
        return cluster_id_file.read_text().strip()
    found = None
    with contextlib.suppress(FileNotFoundError):  # cluster.id lost but data kept: keep the data's id
        for line in (data_dir / "meta.properties").read_text().splitlines():
            if line.startswith("cluster.id="):
                found = line.partition("=")[2].strip()
    while not found or found.startswith("-"):  # what Kafka's random-uuid prints
        found = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
    write_atomically(cluster_id_file, found + "\n")
    return found


def format_storage(
    java: str,
    cluster: str,
    *,
    lib_dir: Path,
    data_dir: Path,
    logs_dir: Path,
    server_properties: Path,
    log4j_config: Path,
    standalone: bool = True,
) -> None:
    """Format ``data_dir`` for cluster id ``cluster``, unless it is formatted already. ``standalone``: a quorum found
    through ``controller.quorum.bootstrap.servers`` (one node); without it, a static ``controller.quorum.voters``."""
    if (data_dir / "meta.properties").is_file():
        return
    command = [
        java, "-Xmx256m", f"-Dlog4j2.configurationFile={log4j_config}", f"-Dkafka.logs.dir={logs_dir}",
        "-cp", str(lib_dir / "*"), "kafka.tools.StorageTool", "format", *(["--standalone"] if standalone else []),
        "--ignore-formatted", f"--cluster-id={cluster}", "--config", str(server_properties),
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=FORMAT_TIMEOUT
        )
    except subprocess.TimeoutExpired as error:
        raise KafkaStartError(f"formatting {data_dir} took longer than {FORMAT_TIMEOUT:.0f}s") from error
    if result.returncode != 0:
        output = tail_text(result.stdout + result.stderr, 40)
        raise KafkaStartError(f"{shlex.join(command)} failed ({result.returncode}):\n{output}")


# -- Java, probes -----------------------------------------------------------------------------------------------


def find_java() -> str:
    """The ``java`` to run the broker with: ``$JAVA_HOME/bin/java``, else the one on ``PATH``."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaInfraError("no java on PATH (and no JAVA_HOME): the broker needs Java 17 or later")
    return java


def port_open(port: int) -> bool:
    """Whether something accepts connections on ``127.0.0.1:port``."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def probe_cluster_id(bootstrap_servers: str) -> str | None:
    """One metadata round trip through aiokafka; returns the cluster id the broker reports.

    Runs on a thread of its own so it works whether or not the caller is inside an event loop.
    """

    async def describe() -> str | None:
        from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped, unused-ignore]

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            cluster: dict[str, Any] = await admin.describe_cluster()
        finally:
            await admin.close()
        if not cluster.get("brokers"):
            raise KafkaInfraError("metadata lists no live broker")
        cluster_id = cluster.get("cluster_id")
        return str(cluster_id) if cluster_id is not None else None

    async def bounded() -> str | None:
        return await asyncio.wait_for(describe(), PROBE_TIMEOUT)

    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-probe") as executor:
        return executor.submit(asyncio.run, bounded()).result()
