"""The private world: a PostgreSQL, a Kafka broker and the five services of its own."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.infra.kafka import LocalKafka
from shared.infra.postgres import LocalPostgres
from shared.infra.system import SERVICES, Endpoints, System, create_database, local_kafka
from shared.kafka import KafkaOptions
from tests.support.chaos.common import free_ports

# --- the private world ---------------------------------------------------------------------------------------


class PrivateInfra:
    """A PostgreSQL and a single-node Kafka in ``root``, on ports of their own, for tests that break them.

    The broker reuses the jars the shared broker already fetched (``lib/`` is a symlink to them and the
    ``lib.sha256`` marker is copied, so :meth:`LocalKafka.ensure_jars` finds them and fetches nothing).
    """

    def __init__(self, root: Path, jars_from: str = "kafka-test") -> None:
        self.root = root
        self.postgres = LocalPostgres(root=root)
        kafka_root = root / "kafka"
        kafka_root.mkdir(parents=True, exist_ok=True)
        shared = local_kafka(jars_from)  # the checkout's broker of that name: only its jars are used
        if not (shared.root / "lib.sha256").is_file():
            shared.ensure_jars()
        (kafka_root / "lib").symlink_to(shared.lib_dir, target_is_directory=True)
        shutil.copyfile(shared.root / "lib.sha256", kafka_root / "lib.sha256")
        port, controller = free_ports(2)
        self.kafka = LocalKafka(root=kafka_root, port=port, controller_port=controller)
        self.database_url = ""

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def kafka_options(self) -> KafkaOptions:
        return KafkaOptions(bootstrap_servers=self.kafka.bootstrap_servers)

    def start(self) -> None:
        base = self.postgres.start()
        asyncio.run(create_database(base, "pmo"))
        self.database_url = base.replace("/postgres?", "/pmo?")
        self.kafka.start(timeout=120)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.kafka.stop(timeout=20)
        with contextlib.suppress(Exception):
            self.postgres.stop()


class PrivateWorld:
    """The five services as processes on a :class:`PrivateInfra`."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, jars_from: str = "kafka-test") -> None:
        self.root = root
        self.infra = PrivateInfra(root, jars_from)
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        self.env = {
            "PMO_ENV": "development",
            "PMO_KAFKA_GROUP_PREFIX": "chaos",
            "PMO_TOPIC_PARTITIONS": "3",
            "PMO_RECONCILE_ON_START": "true",  # its own Kafka: one schema per topic
            **(env or {}),
        }
        self.system: System | None = None
        self.engine: AsyncEngine | None = None
        self.foreign_ids: set[str] = set()
        """Ids of events a test put on a topic itself (no service wrote them)."""

    @classmethod
    def create(cls, env: dict[str, str] | None = None, jars_from: str = "kafka-test") -> PrivateWorld:
        # short: the PostgreSQL socket lives in the data folder and unix socket paths are limited to ~100 bytes
        world = cls(Path(tempfile.mkdtemp(prefix="pmo-chaos-")), env, jars_from)
        atexit.register(world.stop)  # PostgreSQL and the broker outlive their starter: never leave them behind
        return world

    def start(self) -> None:
        self.infra.start()
        self.system = System(Endpoints(self.infra.database_url, self.infra.bootstrap_servers))
        for name in SERVICES:
            self.system.start_service(name, self.ports[name], self.logs / f"{name}.log", self.env)
        self.system.wait_ready(120)

    async def open(self) -> AsyncEngine:
        """An engine on the private database (schema-qualified queries), made on the running event loop. It checks
        each connection before use: the scenarios restart this PostgreSQL under it (the services themselves answer
        503 once per dropped connection instead)."""
        if self.engine is None:
            self.engine = create_engine(self.infra.database_url, "public", pool_size=4, max_overflow=4, pre_ping=True)
        return self.engine

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    def stop(self) -> None:
        atexit.unregister(self.stop)
        if not self.root.exists():
            return
        if self.system is not None:
            self.system.stop()
        self.infra.stop()
        # The logs outlive the world (the last run's only), for a look after a failure.
        kept = Path(tempfile.gettempdir()) / "pmo-chaos-last-logs"
        shutil.rmtree(kept, ignore_errors=True)
        with contextlib.suppress(OSError):
            shutil.copytree(self.logs, kept)
            shutil.copy(self.infra.kafka.logs_dir / "server.log", kept / "kafka-server.log")
            shutil.copy(self.infra.postgres.pgdata / "log", kept / "postgres.log")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def kill(self, service: str) -> None:
        """SIGKILL the service's process (no shutdown of any kind) and reap it."""
        assert self.system is not None
        process = self.system.services[service].process
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def terminate(self, service: str) -> None:
        """SIGTERM: a graceful stop (relays and consumers finish their batch, the consumer leaves its group)."""
        assert self.system is not None
        process = self.system.services[service].process
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, service: str, timeout: float = 60.0) -> None:
        assert self.system is not None
        self.system.start_service(service, self.ports[service], self.logs / f"{service}.log", self.env)
        wait_ready(self.url(service), timeout)

    def log_tail(self, service: str, lines: int = 40) -> str:
        path = self.logs / f"{service}.log"
        with contextlib.suppress(OSError):
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def wait_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not ready after {timeout}s")
        time.sleep(0.2)
