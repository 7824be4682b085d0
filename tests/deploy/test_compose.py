"""The compose stack started for real (podman, images built from Debian's packages): every container healthy, the
one-shot jobs done, a command driven through to reporting, a service container restarted with nothing lost, and
everything torn down. About 90 s with the images built; their first build takes longer (docs/operations.md,
"Deployment").

Without podman the test fails in CI (CI=true: .ci/run installs it) and is skipped elsewhere, saying why.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from shared.auth import mint_token
from shared.infra.system import SERVICES
from tests.deploy.compose import HealthChecks, Stack, podman_socket, stack_env
from tests.deploy.images import ensure_images, podman
from tests.support.projects import project_body

# About 90 s with the images in podman's storage; a fresh machine first builds them (about 16 minutes under heavy
# load, docs/operations.md, "Deployment"), hence the limit.
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1500)]
T = TypeVar("T")


def require_podman() -> None:
    missing = [tool for tool in ("podman", "debootstrap", "docker-compose") if shutil.which(tool) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed: apt-get install podman debootstrap docker-compose"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (.ci/run installs them)")
    pytest.skip(f"{message}; the compose stack test needs them")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(interval)


def wait_healthy(stack: Stack, service: str, timeout: float) -> None:
    wait_for(f"{service} healthy", lambda: True if stack.health(service) == "healthy" else None, timeout)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    require_podman()
    timings: dict[str, float] = {}
    started = time.monotonic()
    images = ensure_images(timings)
    timings["images"] = round(time.monotonic() - started, 1)
    with podman_socket() as docker_host:
        env, ports = stack_env(images, docker_host)
        stack = Stack(project=f"pmotest{uuid.uuid4().hex[:8]}", env=env, ports=ports, timings=timings)
        try:
            with HealthChecks(stack):
                up = time.monotonic()
                result = stack.compose("up", "-d", "--no-build")
                assert result.returncode == 0, result.stderr[-4000:] + "".join(
                    f"\n--- {name}\n{stack.logs(name)}" for name in ("postgres", "kafka", "kafka-init", "migrate")
                )
                for name in SERVICES:
                    wait_healthy(stack, name, 180)
                timings["up"] = round(time.monotonic() - up, 1)
                yield stack
        finally:
            down = time.monotonic()
            result = stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")
            timings["down"] = round(time.monotonic() - down, 1)
            print(f"\ncompose stack figures (s): {timings}")
            assert result.returncode == 0, result.stderr[-2000:]
            assert stack.containers() == [], "containers left behind"
            volumes = podman("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}")
            assert volumes.stdout.strip() == "", "volumes left behind"
            networks = podman("network", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}")
            assert networks.stdout.strip() == "", "networks left behind"


def client(stack: Stack) -> httpx.Client:
    token = mint_token("compose.pmo", ["pmo", "director"], secret=stack.env["PMO_JWT_SECRET"], ttl_seconds=3600)
    return httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=10)


def test_every_container_is_healthy_and_the_one_shot_jobs_succeeded(stack: Stack) -> None:
    for name in ("postgres", "kafka", *SERVICES):
        assert stack.health(name) == "healthy", f"{name}: {stack.logs(name)}"
    for job in ("kafka-init", "migrate"):
        state = stack.inspect(job)["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 0, f"{job}: {stack.logs(job)}"
    with client(stack) as http:
        assert http.get(f"{stack.url('projects')}/projects").status_code == 200
        unauthenticated = httpx.get(f"{stack.url('projects')}/projects", timeout=10)
        assert unauthenticated.status_code == 401  # production mode: the development key is refused


def register(http: httpx.Client, stack: Stack, portfolio: str) -> str:
    created = http.post(f"{stack.url('projects')}/projects", json=project_body(portfolio_id=portfolio))
    assert created.status_code == 201, created.text
    return str(created.json()["project_id"])


def in_reporting(http: httpx.Client, stack: Stack, pid: str) -> dict[str, Any] | None:
    response = http.get(f"{stack.url('reporting')}/portfolio/projects/{pid}")
    return dict(response.json()) if response.status_code == 200 else None


def wait_in_reporting(what: str, http: httpx.Client, stack: Stack, pid: str) -> dict[str, Any]:
    """The project in reporting within 60 s; if not, the failure carries the logs of the services on its way."""
    try:
        return wait_for(what, lambda: in_reporting(http, stack, pid), 60, 0.5)
    except AssertionError as missing:
        logs = "".join(f"\n--- {name}\n{stack.logs(name, 120)}" for name in ("projects", "kafka", "reporting"))
        raise AssertionError(f"{missing}{logs}") from None


def test_a_command_reaches_reporting_and_a_restarted_service_loses_nothing(stack: Stack) -> None:
    with client(stack) as http:
        portfolio = f"pf-{uuid.uuid4().hex[:8]}"
        made = http.post(f"{stack.url('projects')}/portfolios", json={"portfolio_id": portfolio, "name": "Compose"})
        assert made.status_code == 201, made.text
        first = register(http, stack, portfolio)
        sent = time.monotonic()
        seen = wait_in_reporting("the project in reporting", http, stack, first)
        stack.timings["command_to_reporting"] = round(time.monotonic() - sent, 2)
        assert seen["project_id"] == first and seen["status"] == "proposed"

        # Reporting stopped: a project registered meanwhile waits in Kafka and arrives once it is back.
        reporting = stack.container("reporting")
        assert podman("stop", "--time", "20", reporting).returncode == 0
        second = register(http, stack, portfolio)
        restarted = time.monotonic()
        assert podman("start", reporting).returncode == 0
        wait_healthy(stack, "reporting", 120)
        wait_in_reporting("the second project in reporting", http, stack, second)
        stack.timings["restart_to_caught_up"] = round(time.monotonic() - restarted, 2)

        # The projects service restarted: what it had stored is still served, and it takes commands again.
        assert podman("restart", "--time", "20", stack.container("projects")).returncode == 0
        wait_healthy(stack, "projects", 120)
        for pid in (first, second):
            assert http.get(f"{stack.url('projects')}/projects/{pid}").status_code == 200, pid
        third = register(http, stack, portfolio)
        wait_in_reporting("the third project in reporting", http, stack, third)
        listed = http.get(f"{stack.url('reporting')}/portfolio/projects", params={"portfolio_id": portfolio}).json()
        assert sorted(p["project_id"] for p in listed["items"]) == sorted([first, second, third])
