"""Running the whole system locally: infrastructure, then the five services as processes.

Used by ``pmo run`` (the README's run command) and by the end-to-end tests, so both run the same way.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.infra.paths import SERVICE_PORT_OFFSETS, port_base, state_dir

SERVICES = ("projects", "budget", "invoicing", "resources", "reporting")


@dataclass
class Endpoints:
    """Where the infrastructure answers."""

    database_url: str
    kafka_bootstrap_servers: str
    started_postgres: bool = False
    started_kafka: bool = False
    kafka_instance: str = "kafka"


def uvicorn_command(app: str, port: int, env: Mapping[str, str], host: str = "127.0.0.1") -> list[str]:
    """The command that serves ``app`` (an app factory) on ``host:port`` as the image does (deploy/Dockerfile): uvicorn
    through :mod:`shared.serve`, with ``PMO_WORKERS`` of ``env`` worker processes (docs/operations.md, "Workers")."""
    workers = env.get("PMO_WORKERS", "").strip() or "1"
    return [sys.executable, "-m", "shared.serve", app, "--factory", "--host", host, "--port", str(port),
            "--workers", workers, "--no-access-log", "--log-level", "warning"]  # fmt: skip


def local_kafka(instance: str = "kafka") -> Any:
    """The private broker ``instance``: ``kafka`` for ``pmo run``, ``kafka-test`` for the tests (their topics never
    mix), each with its own data folder and ports."""
    from shared.infra.kafka import LocalKafka
    from shared.infra.paths import KAFKA_CONTROLLER_PORT_OFFSET, KAFKA_PORT_OFFSET, port_base

    if instance == "kafka":
        return LocalKafka()
    shift = 2 * (1 + ["kafka-test", "kafka-bench"].index(instance))
    base = port_base()
    return LocalKafka(
        root=state_dir() / instance,
        port=base + KAFKA_PORT_OFFSET + shift,
        controller_port=base + KAFKA_CONTROLLER_PORT_OFFSET + shift,
    )


def ensure_infrastructure(database: str = "pmo", kafka_instance: str = "kafka") -> Endpoints:
    """Use ``PMO_DATABASE_URL`` / ``PMO_KAFKA_BOOTSTRAP_SERVERS`` when set, else start the private ones.

    For the private PostgreSQL, ``database`` is created if missing and the URL points at it; ``kafka_instance``
    names the private broker (see :func:`local_kafka`).
    """
    database_url = os.environ.get("PMO_DATABASE_URL")
    started_pg = started_kafka = False
    if not database_url:
        from shared.infra.postgres import LocalPostgres

        pg = LocalPostgres()
        started_pg = not pg.is_running()
        base = pg.start()
        asyncio.run(create_database(base, database))
        database_url = base.replace("/postgres?", f"/{database}?")
    bootstrap = os.environ.get("PMO_KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        kafka = local_kafka(kafka_instance)
        started_kafka = not kafka.is_running()
        bootstrap = kafka.start()
    return Endpoints(database_url, bootstrap, started_pg, started_kafka, kafka_instance)


def stop_infrastructure(endpoints: Endpoints) -> None:
    """Stop what :func:`ensure_infrastructure` started (and nothing it merely reused)."""
    if endpoints.started_kafka:
        local_kafka(endpoints.kafka_instance).stop()
    if endpoints.started_postgres:
        from shared.infra.postgres import LocalPostgres

        LocalPostgres().stop()


async def create_database(base_url: str, database: str) -> None:
    """Create ``database`` on the server of ``base_url`` unless it exists."""
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    dsn = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def drop_database(base_url: str, database: str) -> None:
    """Drop ``database`` on the server of ``base_url`` if it exists, ending its sessions (a test run's own)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class System:
    """The five services running as child processes of this one."""

    endpoints: Endpoints
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def start(
        self, ports: Mapping[str, int] | None = None, env: Mapping[str, str] | None = None, timeout: float = 60.0
    ) -> None:
        """Start every service and wait until each answers ``/readyz``."""
        logs = state_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        base = port_base()
        chosen = {name: (ports or {}).get(name) or base + SERVICE_PORT_OFFSETS[name] for name in SERVICES}
        env = {"PMO_REPORTING_URL": f"http://127.0.0.1:{chosen['reporting']}", **(env or {})}  # for gate figures
        for name in SERVICES:
            self.start_service(name, chosen[name], logs / f"{name}.log", env)
        self.wait_ready(timeout)

    def start_service(self, name: str, port: int, log_path: Path, env: Mapping[str, str] | None = None) -> None:
        child_env = {
            **os.environ,
            "PMO_DATABASE_URL": self.endpoints.database_url,
            "PMO_KAFKA_BOOTSTRAP_SERVERS": self.endpoints.kafka_bootstrap_servers,
            "PMO_ENV": os.environ.get("PMO_ENV", "development"),
            **(env or {}),
        }
        log = log_path.open("ab")
        process = subprocess.Popen(
            uvicorn_command(f"{name}.bootstrap:create_app", port, child_env),
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.services[name] = ServiceProcess(name, port, process, log_path)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for service in self.services.values():
            while True:
                if service.process.poll() is not None:
                    raise RuntimeError(f"{service.name} exited; see {service.log_path}:\n{_tail(service.log_path)}")
                try:
                    if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{service.name} not ready after {timeout}s; see {service.log_path}")
                time.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every service (graceful: relays and consumers finish their batch), SIGKILL stragglers."""
        for service in self.services.values():
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for service in self.services.values():
            try:
                service.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        self.services.clear()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
