"""A private three-controller, three-broker Apache Kafka cluster (KRaft), from the same jars as the single broker.

For the chaos suite and for trying cluster settings locally: replication factor 3 and ``min.insync.replicas`` 2 by
default, a static quorum of three controllers (node ids 1-3) and three brokers (node ids 4-6), all on ``127.0.0.1``
with small heaps. Each node is a detached JVM with its own folder under ``root``::

    node-<id>/config/server.properties, log4j2.properties, data/, logs/server.log, logs/kafka.out, kafka.pid

Nodes are killed (SIGKILL, a crash) and started again one by one; :meth:`LocalKafkaCluster.stop` ends them all.
Nothing runs at import time. Brokers and controllers detect a dead broker within ``broker.session.timeout.ms``
(3 s here), after which its partitions get new leaders.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from shared.infra.kafka_setup import (
    HOST,
    JVM_OPTIONS,
    KafkaInfraError,
    KafkaStartError,
    cluster_id,
    find_java,
    format_storage,
    port_open,
    probe_cluster_id,
    write_properties,
)
from shared.infra.processes import CHILDREN, exit_status, pid_alive, send_signal, tail_file, wait_exit, write_atomically

CONTROLLER_HEAP = ("-Xmx192m", "-Xms64m")
BROKER_HEAP = ("-Xmx384m", "-Xms128m")


@dataclass
class Node:
    """One JVM of the cluster: a controller or a broker."""

    node_id: int
    role: str  # "controller" or "broker"
    port: int
    root: Path
    pid: int | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def server_properties(self) -> Path:
        return self.root / "config" / "server.properties"

    @property
    def log4j_config(self) -> Path:
        return self.root / "config" / "log4j2.properties"

    def alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.logs_dir / "kafka.out", self.logs_dir / "server.log"):
            with contextlib.suppress(FileNotFoundError):
                parts.append(f"--- {path} ---\n{tail_file(path, lines)}")
        return "\n".join(parts)


class LocalKafkaCluster:
    """Three controllers and three brokers under ``root``, running from the jars in ``lib_dir``.

    ``ports``: six free TCP ports, the controllers' three first. ``replication_factor`` and ``min_insync_replicas``
    are the cluster's defaults (internal topics included); the services still create their topics explicitly.
    """

    def __init__(
        self,
        root: Path,
        lib_dir: Path,
        ports: list[int],
        *,
        replication_factor: int = 3,
        min_insync_replicas: int = 2,
    ) -> None:
        if len(ports) != 6 or len(set(ports)) != 6 or not all(0 < p < 65536 for p in ports):
            raise ValueError(f"six distinct TCP ports are needed, got {ports}")
        self.root = root.resolve()
        self.lib_dir = lib_dir
        self.replication_factor = replication_factor
        self.min_insync_replicas = min_insync_replicas
        self.controllers = [Node(i + 1, "controller", ports[i], self.root / f"node-{i + 1}") for i in range(3)]
        self.brokers = [Node(i + 4, "broker", ports[i + 3], self.root / f"node-{i + 4}") for i in range(3)]
        self._cluster_id_file = self.root / "cluster.id"

    @property
    def nodes(self) -> list[Node]:
        return [*self.controllers, *self.brokers]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{HOST}:{b.port}" for b in self.brokers)

    @property
    def bootstrap_controllers(self) -> str:
        return ",".join(f"{HOST}:{c.port}" for c in self.controllers)

    @property
    def logs_dir(self) -> Path:
        """The first broker's logs (where a single broker's would be)."""
        return self.brokers[0].logs_dir

    def node(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> str:
        """Write every node's configuration, format every data folder (once), launch the six JVMs and return the
        bootstrap servers once every broker answers a metadata request. Raises ``KafkaStartError`` with the logs
        of the nodes that did not come up (and stops the cluster)."""
        java = find_java()
        cluster = cluster_id(self._cluster_id_file, self.root / "none")
        for node in self.nodes:
            write_properties(node.server_properties, node.log4j_config, self._settings(node))
        with ThreadPoolExecutor(max_workers=3) as pool:  # one JVM each: a few seconds apiece on a small machine
            for done in [pool.submit(self._format, java, cluster, n) for n in self.nodes]:
                done.result()
        try:
            for node in self.nodes:
                self._launch(java, node)
            for broker in self.brokers:
                self.wait_ready(broker, time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        return self.bootstrap_servers

    def start_node(self, node_id: int, timeout: float = 120.0) -> None:
        """Start one node again (after :meth:`kill`), on its data; a broker is waited for until it answers."""
        node = self.node(node_id)
        if node.alive():
            return
        self._launch(find_java(), node)
        if node.role == "broker":
            self.wait_ready(node, time.monotonic() + timeout)
        else:
            self._wait_port(node, time.monotonic() + timeout)

    def kill(self, node_id: int) -> None:
        """SIGKILL one node (a crash) and reap it; its data stays."""
        node = self.node(node_id)
        if node.pid is not None and node.alive():
            send_signal(node.pid, signal.SIGKILL)
            if not wait_exit(node.pid, 30.0):
                raise KafkaInfraError(f"node {node_id} (pid {node.pid}) survived SIGKILL")
        node.pid = None
        (node.root / "kafka.pid").unlink(missing_ok=True)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every node (brokers first), SIGKILL what is left after ``timeout``. Idempotent."""
        for group in (self.brokers, self.controllers):
            live = [n for n in group if n.pid is not None and n.alive()]
            for node in live:
                send_signal(node.pid, signal.SIGTERM)  # type: ignore[arg-type]
            for node in live:
                if not wait_exit(node.pid, timeout):  # type: ignore[arg-type]
                    send_signal(node.pid, signal.SIGKILL)  # type: ignore[arg-type]
                    wait_exit(node.pid, 30.0)  # type: ignore[arg-type]
            for node in group:
                node.pid = None
                (node.root / "kafka.pid").unlink(missing_ok=True)

    # -- internals ----------------------------------------------------------------------------------------------

    def _settings(self, node: Node) -> dict[str, str]:
        voters = ",".join(f"{c.node_id}@{HOST}:{c.port}" for c in self.controllers)
        common = {
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(node.data_dir),
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.dedupe.buffer.size": "16777216",
            # A crashed broker is fenced (its partitions move, it leaves the ISRs) after 3 s instead of 9 s.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
        }
        if node.role == "controller":
            return {
                **common,
                "process.roles": "controller",
                "listeners": f"CONTROLLER://{HOST}:{node.port}",
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT",
            }
        factor, min_isr = str(self.replication_factor), str(self.min_insync_replicas)
        return {
            **common,
            "process.roles": "broker",
            "listeners": f"PLAINTEXT://{HOST}:{node.port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{node.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "default.replication.factor": factor,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": factor,
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": factor,
            "transaction.state.log.min.isr": min_isr,
            "transaction.state.log.num.partitions": "3",
            "share.coordinator.state.topic.replication.factor": factor,
            "share.coordinator.state.topic.min.isr": min_isr,
            "share.coordinator.state.topic.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "unclean.leader.election.enable": "false",
            "replica.lag.time.max.ms": "10000",
            "auto.create.topics.enable": "false",
        }

    def _format(self, java: str, cluster: str, node: Node) -> None:
        format_storage(
            java,
            cluster,
            lib_dir=self.lib_dir,
            data_dir=node.data_dir,
            logs_dir=node.logs_dir,
            server_properties=node.server_properties,
            log4j_config=node.log4j_config,
            standalone=False,
        )

    def _launch(self, java: str, node: Node) -> None:
        if port_open(node.port):
            raise KafkaStartError(f"{HOST}:{node.port} is already in use (node {node.node_id})")
        node.logs_dir.mkdir(parents=True, exist_ok=True)
        out_log = node.logs_dir / "kafka.out"
        if out_log.exists():
            out_log.replace(out_log.with_name("kafka.out.prev"))
        heap = CONTROLLER_HEAP if node.role == "controller" else BROKER_HEAP
        options = [o for o in JVM_OPTIONS if not o.startswith(("-Xmx", "-Xms"))]
        command = [
            java, *heap, *options, f"-Dkafka.logs.dir={node.logs_dir}",
            f"-Dlog4j2.configurationFile={node.log4j_config}", "-cp", str(self.lib_dir / "*"), "kafka.Kafka",
            str(node.server_properties),
        ]  # fmt: skip
        with out_log.open("wb") as out:
            out.write(f"$ {shlex.join(command)}\n".encode())
            out.flush()
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=node.root,
                start_new_session=True,
            )
        CHILDREN[process.pid] = process
        node.pid = process.pid
        write_atomically(node.root / "kafka.pid", f"{process.pid}\n")

    def _wait_port(self, node: Node, deadline: float) -> None:
        while not port_open(node.port):
            self._check_alive(node)
            if time.monotonic() > deadline:
                raise KafkaStartError(f"node {node.node_id} not listening in time\n{node.log_tail()}")
            time.sleep(0.2)

    def wait_ready(self, broker: Node, deadline: float) -> None:
        """Until ``broker`` answers a metadata request for this cluster."""
        expected = cluster_id(self._cluster_id_file, self.root / "none")
        problem = "not listening yet"
        while True:
            self._check_alive(broker)
            if port_open(broker.port):
                try:
                    if probe_cluster_id(f"{HOST}:{broker.port}") == expected:
                        return
                    problem = "answers for another cluster"
                except Exception as error:  # not ready yet, whatever the failure
                    problem = repr(error)
            if time.monotonic() > deadline:
                raise KafkaStartError(f"broker {broker.node_id} not ready in time: {problem}\n{broker.log_tail()}")
            time.sleep(0.3)

    def _check_alive(self, node: Node) -> None:
        if node.pid is not None and not pid_alive(node.pid):
            raise KafkaStartError(f"node {node.node_id} exited{exit_status(node.pid)}\n{node.log_tail()}")
