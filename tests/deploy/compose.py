"""deploy/docker-compose.yml run for real by podman: its Docker-compatible API on a private socket, driven by the
docker-compose tool (which honours ``depends_on`` conditions), with the local images of ``tests.deploy.images``.

podman schedules health checks through systemd timers; where no systemd runs (our machines, CI), a thread of ours
runs every container's own health check (``podman healthcheck run``) every four seconds, as the timers would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import string
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.infra.system import SERVICES
from tests.deploy.images import cache_dir, podman, podman_env

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
ALPHABET = string.ascii_letters + string.digits


def password() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(32))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    project: str
    env: dict[str, str]
    ports: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        tool = shutil.which("docker-compose")
        assert tool, "docker-compose is not installed (apt-get install docker-compose)"
        command = [tool, "-f", str(COMPOSE), "-p", self.project, *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)

    def containers(self, all_states: bool = True) -> list[dict[str, Any]]:
        args = ["ps", "--format", "json", "--filter", f"label=com.docker.compose.project={self.project}"]
        listed = podman(*args, *(["-a"] if all_states else []), check=False)
        return list(json.loads(listed.stdout or "[]"))

    def container(self, service: str) -> str:
        for item in self.containers():
            if (item.get("Labels") or {}).get("com.docker.compose.service") == service:
                return str(item["Id"])
        raise LookupError(service)

    def inspect(self, service: str) -> dict[str, Any]:
        out = podman("inspect", self.container(service)).stdout
        return dict(json.loads(out)[0])

    def health(self, service: str) -> str:
        state = self.inspect(service)["State"]
        health = state.get("Health") or state.get("Healthcheck") or {}  # podman 4.3 names it Healthcheck
        return str(health.get("Status", ""))

    def logs(self, service: str, lines: int = 40) -> str:
        try:
            result = podman("logs", "--tail", str(lines), self.container(service), check=False)
            return result.stdout + result.stderr
        except LookupError:
            return "(no container)"


class HealthChecks:
    """Runs each running container's health check every ``interval`` seconds until stopped."""

    def __init__(self, stack: Stack, interval: float = 4.0):
        self.stack, self.interval = stack, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="podman-healthchecks", daemon=True)

    def __enter__(self) -> HealthChecks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for item in self.stack.containers(all_states=False):
                if item.get("State") == "running":
                    podman("healthcheck", "run", str(item["Id"]), check=False)


@contextmanager
def podman_socket() -> Iterator[str]:
    """podman's Docker-compatible API on a socket of our own, for the time of the test."""
    # a name of its own: the compose test and the containers fixture (PMO_TEST_INFRA=containers) each start one in
    # the same pytest process, and one unlinking the other's socket broke the fixture's teardown
    path = cache_dir() / f"podman-{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
    path.unlink(missing_ok=True)
    process = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{path}"],
        env=podman_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            assert process.poll() is None, "podman system service exited"
            assert time.monotonic() < deadline, "podman's API socket did not appear in 30 s"
            time.sleep(0.2)
        yield f"unix://{path}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        path.unlink(missing_ok=True)


def stack_env(images: dict[str, str], docker_host: str) -> tuple[dict[str, str], dict[str, int]]:
    base = {k: v for k, v in podman_env().items() if not k.startswith("PMO_")}
    secrets_ = {"PMO_JWT_SECRET": password() + password(), "PMO_DB_PASSWORD": password()}
    secrets_["PMO_KAFKA_ADMIN_PASSWORD"] = password()
    for service in SERVICES:
        secrets_[f"PMO_DB_PASSWORD_{service.upper()}"] = password()
        secrets_[f"PMO_KAFKA_PASSWORD_{service.upper()}"] = password()
    ports = {service: free_port() for service in SERVICES}
    published = {f"PMO_PORT_{service.upper()}": str(port) for service, port in ports.items()}
    env = {**base, **images, **secrets_, **published, "PMO_BIND_ADDRESS": "127.0.0.1", "DOCKER_HOST": docker_host}
    env["COMPOSE_HTTP_TIMEOUT"] = "300"
    return env, ports
