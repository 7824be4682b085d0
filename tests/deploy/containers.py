"""PostgreSQL and Kafka for the test suite as testcontainers containers, selected by ``PMO_TEST_INFRA=containers``
(tests/conftest.py; the private instances stay the default: they start faster and need no podman).

The containers run through podman's Docker-compatible API on a socket of our own (``tests.deploy.compose``), with the
local images of ``tests.deploy.images`` (built from Debian's packages, no registry) and testcontainers' reaper
disabled (no reaper image is available, and our own teardown removes every container). Ports are published on
127.0.0.1 only. The broker has the private broker's single-node settings (``shared.infra.kafka_setup``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from shared.infra.kafka_setup import single_node_settings
from shared.infra.system import Endpoints
from tests.deploy.compose import free_port, password, podman_socket
from tests.deploy.images import ensure_images

CHOICES = ("private", "containers")


def infra_choice() -> str:
    """``PMO_TEST_INFRA``: ``private`` (default) or ``containers``; anything else is refused with the choices."""
    value = (os.environ.get("PMO_TEST_INFRA") or "private").strip().lower()
    if value not in CHOICES:
        raise ValueError(f"PMO_TEST_INFRA={value!r}: expected one of {', '.join(CHOICES)} (default private)")
    return value


def kafka_environment(port: int) -> dict[str, str]:
    """The image's KAFKA_* variables (deploy/images/kafka/run turns them into server.properties): one plaintext
    node listening on ``port`` inside the container, published on the same host port so the advertised address
    works from the host and from the broker itself."""
    settings = single_node_settings(
        listeners=f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://127.0.0.1:9093",
        controller="127.0.0.1:9093",
        data_dir=Path("/var/lib/kafka/data"),
    )
    settings["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{port}"
    settings["controller.quorum.voters"] = "1@127.0.0.1:9093"
    del settings["controller.quorum.bootstrap.servers"]

    def variable(key: str) -> str:
        return "KAFKA_" + key.replace("-", "___").replace("_", "__").replace(".", "_").upper()

    return {variable(key): value for key, value in settings.items()}


@contextmanager
def container_infra(database: str = "pmo_test", timings: dict[str, float] | None = None) -> Iterator[Endpoints]:
    """Start both containers (images built if missing), yield their endpoints, remove them at the end."""
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    images = ensure_images(timings)
    with ExitStack() as stack:
        docker_host = stack.enter_context(podman_socket())
        saved = {k: os.environ.get(k) for k in ("DOCKER_HOST", "TESTCONTAINERS_RYUK_DISABLED")}
        os.environ["DOCKER_HOST"] = docker_host
        os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        stack.callback(_restore, saved)

        pg_port, kafka_port = free_port(), free_port()
        postgres: Any = PostgresContainer(
            images["PMO_POSTGRES_IMAGE"], username="pmo_admin", password=password(), dbname=database, driver="asyncpg"
        )
        postgres.ports["5432"] = ("127.0.0.1", pg_port)  # docker-py's (address, port): loopback only
        postgres.with_command("postgres -c max_connections=300 -c fsync=off")
        kafka: Any = DockerContainer(images["PMO_KAFKA_IMAGE"])
        kafka.ports[str(kafka_port)] = ("127.0.0.1", kafka_port)
        for name, value in kafka_environment(kafka_port).items():
            kafka.with_env(name, value)
        kafka.with_env("KAFKA_HEAP_OPTS", "-Xmx512m")
        kafka.waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(180))

        stack.enter_context(postgres)
        stack.enter_context(kafka)
        url = f"postgresql+asyncpg://pmo_admin:{postgres.password}@127.0.0.1:{pg_port}/{database}"
        yield Endpoints(url, f"127.0.0.1:{kafka_port}", kafka_instance="containers")


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
