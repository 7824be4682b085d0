"""PMO_TEST_INFRA=containers (tests/deploy/containers.py) refuses what cannot work with a message naming it, never a
skip: a bad value, podman missing, podman's API not starting; and it removes only the containers of dead runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import containers
from tests.deploy.containers import ContainersUnavailableError

ROOT = Path(__file__).resolve().parents[2]


def fake_podman(folder: Path, script: str) -> None:
    tool = folder / "podman"
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


def test_an_unknown_choice_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMO_TEST_INFRA", "docker")
    with pytest.raises(ValueError, match="PMO_TEST_INFRA='docker': expected one of private, containers"):
        containers.infra_choice()
    monkeypatch.delenv("PMO_TEST_INFRA")
    assert containers.infra_choice() == "private"


def test_without_podman_pytest_stops_before_any_test_naming_what_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "PMO_TEST_INFRA": "containers", "CI": "true"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/integration/test_event_store.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert "PMO_TEST_INFRA=containers needs podman: podman and debootstrap not installed" in run.stderr
    assert "skipped" not in run.stdout


def test_a_podman_api_that_does_not_start_is_an_error_naming_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_podman(tmp_path, 'echo "cannot listen: permission denied" >&2; exit 125')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PMO_DEPLOY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(containers, "preflight", lambda: None)
    images = {"PMO_POSTGRES_IMAGE": "p", "PMO_KAFKA_IMAGE": "k"}
    monkeypatch.setattr(containers, "ensure_images", lambda timings: images)
    monkeypatch.setattr(containers, "remove_stale_containers", lambda: [])
    before = {k: os.environ.get(k) for k in ("DOCKER_HOST", "TESTCONTAINERS_RYUK_DISABLED")}
    with pytest.raises(ContainersUnavailableError) as refused, containers.container_infra():
        pytest.fail("no endpoints without podman's API")
    message = str(refused.value)
    assert message.startswith("PMO_TEST_INFRA=containers: starting podman's Docker-compatible API failed")
    assert "podman system service exited" in message and "cannot listen: permission denied" in message
    assert {k: os.environ.get(k) for k in before} == before  # nothing left in the environment


def test_only_the_containers_of_dead_runs_on_this_host_are_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    listed = [
        {"Id": "dead-run", "Labels": {containers.LABEL: f"{host}:{dead.pid}"}},
        {"Id": "live-run", "Labels": {containers.LABEL: f"{host}:{os.getpid()}"}},
        {"Id": "other-host", "Labels": {containers.LABEL: f"elsewhere:{dead.pid}"}},
    ]
    calls: list[tuple[str, ...]] = []

    def podman(*args: str, check: bool = True) -> Any:
        calls.append(args)
        out = json.dumps(listed) if args[0] == "ps" else ""
        return subprocess.CompletedProcess(["podman", *args], 0, stdout=out, stderr="")

    monkeypatch.setattr(containers, "podman", podman)
    assert containers.remove_stale_containers() == ["dead-run"]
    assert calls[-1] == ("rm", "-f", "-v", "dead-run")
    assert ("ps", "-a", "--format", "json", "--filter", f"label={containers.LABEL}") == calls[0]


def test_an_image_that_cannot_be_built_stops_the_run_with_the_tools_error(tmp_path: Path) -> None:
    fake_podman(tmp_path, 'echo "podman: storage is broken" >&2; exit 125')
    (tmp_path / "debootstrap").write_text('#!/bin/sh\necho "E: Failed getting release file" >&2\nexit 1\n')
    (tmp_path / "debootstrap").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "PMO_TEST_INFRA": "containers"}
    env["PMO_DEPLOY_CACHE"] = str(tmp_path / "cache")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/integration/test_event_store.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "PMO_TEST_INFRA=containers: building the images (tests/deploy/images.py) failed" in output
    assert "E: Failed getting release file" in output and "podman: storage is broken" in output
    assert " passed" not in output and "skipped" not in output


def test_ci_runs_the_whole_suite_once_on_containers() -> None:
    """CI runs the README's test command (the whole suite: no path given to pytest) once, with the suite's PostgreSQL
    and Kafka as containers; ``make test-containers`` stays for a quicker look at the integration package."""
    run = subprocess.run(["make", "-s", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True)
    command = run.stdout.strip().splitlines()[-1].split()
    assert command[1:] == ["-m", "pytest"], command
    ci = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in ci.splitlines()]
    runs = [line for line in lines if "make test" in line and not line.startswith(("#", "echo"))]
    assert runs == ["PMO_TEST_INFRA=containers make test"], runs
    run = subprocess.run(["make", "-s", "-n", "test-containers"], cwd=ROOT, capture_output=True, text=True, check=True)
    command = run.stdout.strip().splitlines()[-1].split()
    assert command[0] == "PMO_TEST_INFRA=containers" and command[2:] == ["-m", "pytest", "tests/integration"], command
