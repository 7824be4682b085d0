"""A private, single-node Apache Kafka 4.x broker in KRaft mode, run from jars that Maven fetches from Maven Central.

Nothing here runs at import time. ``LocalKafka().start()`` gathers the jars listed in ``deploy/kafka/pom.xml``
(once per version of that file), formats the data directory (once), launches the broker as a detached JVM and
returns its bootstrap servers once a client's metadata round trip succeeds. The broker outlives the Python
process that started it; a later ``start()`` in any process of the same checkout reuses it.

Everything lives under ``root`` (default ``state_dir() / "kafka"``, i.e. the git-ignored ``.pmo/kafka``)::

    lib/                         jars from Maven Central (emptied and refetched when the pom changes)
    lib.sha256                   sha256 of the pom that filled lib/, written after a successful fetch
    config/server.properties     rewritten at every launch
    config/log4j2.properties     rewritten at every launch
    data/                        log.dirs: KRaft metadata and topic data, kept across stop/start
    cluster.id                   the cluster id data/ was formatted with
    logs/server.log              the broker's log4j2 log (INFO; WARN for noisy loggers)
    logs/kafka.out               the JVM's stdout/stderr (kafka.out.prev: the previous launch's)
    kafka.pid                    pid of the running broker
    .lock                        serialises start/stop/kill/ensure_jars across processes

Command line: ``python -m shared.infra.kafka start|stop|status``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from shared.infra.kafka_setup import (
    HOST,
    JVM_OPTIONS,
    JarFetchError,
    KafkaInfraError,
    KafkaStartError,
    cluster_id,
    fetch_jars,
    find_java,
    format_storage,
    jars_fetched,
    port_open,
    probe_cluster_id,
    write_config,
)
from shared.infra.paths import (
    KAFKA_CONTROLLER_PORT_OFFSET,
    KAFKA_PORT_OFFSET,
    REPO_ROOT,
    port_base,
    state_dir,
)
from shared.infra.processes import (
    CHILDREN,
    exit_status,
    pid_alive,
    read_lines,
    send_signal,
    tail_file,
    wait_exit,
    write_atomically,
)

__all__ = ["HOST", "POM_PATH", "JarFetchError", "KafkaInfraError", "KafkaStartError", "LocalKafka", "main"]

POM_PATH = REPO_ROOT / "deploy" / "kafka" / "pom.xml"


class LocalKafka:
    """One checkout's private broker: ``broker,controller`` node 1 on ``127.0.0.1``, PLAINTEXT, no auth.

    ``root`` holds jars, config, data and logs (default ``state_dir() / "kafka"``). ``port`` and
    ``controller_port`` default to ``port_base()`` plus ``KAFKA_PORT_OFFSET`` / ``KAFKA_CONTROLLER_PORT_OFFSET``.
    Instances hold no resources: any number of them, in any process, may manage the same ``root``.
    """

    def __init__(self, root: Path | None = None, port: int | None = None, controller_port: int | None = None):
        self.root = (root if root is not None else state_dir() / "kafka").resolve()
        if port is None or controller_port is None:
            base = port_base()
            port = base + KAFKA_PORT_OFFSET if port is None else port
            controller_port = base + KAFKA_CONTROLLER_PORT_OFFSET if controller_port is None else controller_port
        for value in (port, controller_port):
            if not 0 < value < 65536:  # never 0: the socket must open only once the broker is ready
                raise ValueError(f"invalid TCP port {value}")
        if port == controller_port:
            raise ValueError("the client and controller ports must differ")
        self.port = port
        self.controller_port = controller_port
        self.pom = POM_PATH
        self.lib_dir = self.root / "lib"
        self.data_dir = self.root / "data"
        self.logs_dir = self.root / "logs"
        self.server_properties = self.root / "config" / "server.properties"
        self.log4j_config = self.root / "config" / "log4j2.properties"
        self._jars_marker = self.root / "lib.sha256"
        self._cluster_id_file = self.root / "cluster.id"
        self._pid_file = self.root / "kafka.pid"
        self._out_log = self.logs_dir / "kafka.out"

    @property
    def bootstrap_servers(self) -> str:
        """``"127.0.0.1:<port>"``, for the clients' ``bootstrap_servers``."""
        return f"{HOST}:{self.port}"

    def __repr__(self) -> str:
        return f"LocalKafka(root={str(self.root)!r}, port={self.port}, controller_port={self.controller_port})"

    # -- public API ---------------------------------------------------------------------------------------------

    def ensure_jars(self) -> None:
        """Make ``lib/`` hold the jars ``deploy/kafka/pom.xml`` resolves to, fetching only when needed.

        Nothing is fetched when ``lib.sha256`` matches the pom's sha256 and the Kafka jar is present. Otherwise
        ``lib/`` is emptied (two Kafka versions side by side break at run time), Maven copies the runtime
        dependencies into it, and the marker is written last. Raises ``JarFetchError`` (with Maven's output)
        on failure, and ``KafkaInfraError`` if a refetch is needed while the broker runs from ``lib/``.
        """
        with self._locked():
            self._ensure_jars()

    def start(self, timeout: float = 120.0) -> str:
        """Bring the broker up (or find it up) and return its bootstrap servers once it answers metadata requests.

        Idempotent: when this root's broker is already running it is reused (waiting for it if it is still
        starting) and nothing is fetched, formatted or launched. Otherwise: ensure the jars, write the config,
        format ``data/`` once (cluster id kept in ``cluster.id``), launch the JVM detached, write ``kafka.pid``
        and wait. ``timeout`` bounds the wait for readiness, not the jar fetch. Raises ``KafkaStartError`` with
        the log tail if the JVM exits or is not ready in time (a broker it launched is then stopped), or if
        another process holds the ports.
        """
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        with self._locked():
            pid = self._live_pid(forget_stale=True)
            if pid is not None:
                if self._listeners_line() not in read_lines(self.server_properties):
                    raise KafkaStartError(f"this root's broker (pid {pid}) listens on other ports: stop() it first")
                self._wait_ready(pid, time.monotonic() + timeout, timeout)
                return self.bootstrap_servers
            for port in (self.port, self.controller_port):
                if port_open(port):
                    raise KafkaStartError(f"{HOST}:{port} is already in use by a process that is not this broker")
            self._ensure_jars()
            java = find_java()
            write_config(
                self.server_properties,
                self.log4j_config,
                listeners=self._listeners_line().partition("=")[2],
                controller=f"{HOST}:{self.controller_port}",
                data_dir=self.data_dir,
            )
            format_storage(
                java,
                self._cluster_id(),
                lib_dir=self.lib_dir,
                data_dir=self.data_dir,
                logs_dir=self.logs_dir,
                server_properties=self.server_properties,
                log4j_config=self.log4j_config,
            )
            pid = self._launch(java)
            try:
                self._wait_ready(pid, time.monotonic() + timeout, timeout)
            except BaseException:
                self._terminate(pid, grace=10.0)
                self._pid_file.unlink(missing_ok=True)
                raise
            return self.bootstrap_servers

    def is_running(self) -> bool:
        """True while this root's broker JVM is alive; it may still be starting (``start()`` waits for ready)."""
        return self._live_pid(forget_stale=False) is not None

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker: SIGTERM (a clean shutdown), then SIGKILL after ``timeout`` seconds. Idempotent.

        Removes ``kafka.pid``; data is kept. A pid file naming a process that is not this broker is discarded
        without signalling anything.
        """
        with self._locked():
            pid = self._live_pid(forget_stale=True)
            if pid is not None:
                self._terminate(pid, grace=timeout)
            self._pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the broker (a crash, for fault tests), wait until it is gone and remove ``kafka.pid``.

        The next ``start()`` recovers the same data, as after a power cut. Does nothing if it is not running.
        """
        with self._locked():
            pid = self._live_pid(forget_stale=True)
            if pid is not None:
                send_signal(pid, signal.SIGKILL)
                if not wait_exit(pid, 30.0):
                    raise KafkaInfraError(f"broker pid {pid} survived SIGKILL")
            self._pid_file.unlink(missing_ok=True)

    # -- jars, config, storage ----------------------------------------------------------------------------------

    def _ensure_jars(self) -> None:
        digest = hashlib.sha256(self.pom.read_bytes()).hexdigest()
        if jars_fetched(self.lib_dir, self._jars_marker, digest):
            return
        if self._live_pid(forget_stale=False) is not None:
            raise KafkaInfraError(f"{self.pom} changed while the broker runs from {self.lib_dir}: stop it first")
        if self.lib_dir.is_symlink():  # jars borrowed from another root, for an older pom: fetch ours instead
            self.lib_dir.unlink()
        fetch_jars(self.pom, self.lib_dir, self._jars_marker, digest)

    def _listeners_line(self) -> str:
        return f"listeners=PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}"

    def _cluster_id(self) -> str:
        return cluster_id(self._cluster_id_file, self.data_dir)

    # -- process ------------------------------------------------------------------------------------------------

    def _launch(self, java: str) -> int:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        if self._out_log.exists():
            self._out_log.replace(self._out_log.with_name("kafka.out.prev"))
        command = [
            java, *JVM_OPTIONS, f"-Dkafka.logs.dir={self.logs_dir}", f"-Dlog4j2.configurationFile={self.log4j_config}",
            "-cp", str(self.lib_dir / "*"), "kafka.Kafka", str(self.server_properties),
        ]  # fmt: skip
        with self._out_log.open("wb") as out:
            out.write(f"$ {shlex.join(command)}\n".encode())
            out.flush()
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,  # a Ctrl-C in the starting terminal must not reach the broker
            )
        CHILDREN[process.pid] = process
        write_atomically(self._pid_file, f"{process.pid}\n")
        return process.pid

    def _wait_ready(self, pid: int, deadline: float, timeout: float) -> None:
        """Return once the port accepts connections and a metadata round trip reports this root's cluster."""
        expected = self._cluster_id()
        problem = f"{self.bootstrap_servers} not accepting connections yet"
        while True:
            if not pid_alive(pid):
                self._pid_file.unlink(missing_ok=True)
                raise KafkaStartError(f"the broker JVM (pid {pid}) exited{exit_status(pid)}\n{self._log_tail()}")
            if port_open(self.port):
                try:
                    found = probe_cluster_id(self.bootstrap_servers)
                except Exception as error:  # whatever the failure, the broker is not ready yet
                    problem = f"metadata request failed: {error!r}"
                else:
                    if found == expected:
                        return
                    raise KafkaStartError(
                        f"{self.bootstrap_servers} answers for cluster {found!r}, not {expected!r} ({self.root})"
                    )
            if time.monotonic() >= deadline:
                raise KafkaStartError(f"broker not ready within {timeout:.0f}s: {problem}\n{self._log_tail()}")
            time.sleep(0.2)

    def _terminate(self, pid: int, grace: float) -> None:
        send_signal(pid, signal.SIGTERM)
        if wait_exit(pid, grace):
            return
        send_signal(pid, signal.SIGKILL)
        if not wait_exit(pid, 30.0):
            raise KafkaInfraError(f"broker pid {pid} survived SIGKILL")

    def _live_pid(self, *, forget_stale: bool) -> int | None:
        """The pid in ``kafka.pid`` if that process is alive and is this root's broker; else None.

        ``forget_stale`` removes a stale pid file; only callers holding the lock may do that.
        """
        try:
            pid = int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            pid = 0
        if pid > 0 and pid_alive(pid) and self._is_our_broker(pid):
            return pid
        if forget_stale:
            self._pid_file.unlink(missing_ok=True)
        return None

    def _is_our_broker(self, pid: int) -> bool:
        """Guards against a reused pid: the process must be ``kafka.Kafka`` with this root's server.properties."""
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return False
        except OSError:  # no procfs (not Linux): trust the pid file
            return True
        return b"kafka.Kafka" in arguments and os.fsencode(self.server_properties) in arguments

    def _log_tail(self) -> str:
        parts = []
        for path, lines in ((self._out_log, 30), (self.logs_dir / "server.log", 60)):
            with contextlib.suppress(FileNotFoundError):
                parts.append(f"--- last lines of {path} ---\n{tail_file(path, lines)}")
        return "\n".join(parts) or f"(no logs in {self.logs_dir})"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive across processes and threads (one open file description per call; flock is not reentrant)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    """``start`` prints the bootstrap servers once ready; ``status`` prints them and exits 0 when the broker
    accepts connections, prints ``starting`` (exit 1) or ``stopped`` (exit 3) otherwise; ``stop`` prints ``stopped``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m shared.infra.kafka", description="Run this checkout's private Kafka broker."
    )
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--timeout", type=float, default=None, help="seconds (start: readiness; stop: before SIGKILL)")
    arguments = parser.parse_args(argv)
    kafka = LocalKafka()
    try:
        if arguments.command == "start":
            print(kafka.start(arguments.timeout or 120.0))
            return 0
        if arguments.command == "stop":
            kafka.stop(arguments.timeout or 30.0)
            print("stopped")
            return 0
        if not kafka.is_running():
            print("stopped")
            return 3
        if not port_open(kafka.port):
            print("starting")
            return 1
        print(kafka.bootstrap_servers)
        return 0
    except KafkaInfraError as error:
        print(f"kafka {arguments.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
