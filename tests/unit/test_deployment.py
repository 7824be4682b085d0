"""The docker-compose deployment stays in step with the native runner and the settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.infra.system import SERVICES
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"


def compose() -> dict:  # type: ignore[type-arg]
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_every_service_has_a_container_with_a_health_check_waiting_for_healthy_infrastructure() -> None:
    services = compose()["services"]
    for name in SERVICES:
        container = services[name]
        assert container["environment"]["SERVICE"] == name
        assert "readyz" in " ".join(container["healthcheck"]["test"])
        assert container["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "kafka": {"condition": "service_healthy"},
        }
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["kafka"]


def test_compose_runs_the_same_kafka_as_the_native_runner_in_kraft_mode() -> None:
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    native = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert native is not None
    kafka = compose()["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{native.group(1)}"
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_every_pmo_variable_in_compose_is_a_known_setting() -> None:
    known = {f"PMO_{name.upper()}" for name in ServiceSettings.model_fields}
    for name in SERVICES:
        for variable in compose()["services"][name]["environment"]:
            if variable.startswith("PMO_"):
                assert variable in known, variable


def test_the_compose_tool_accepts_the_file() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose must be installed in CI (.ci/run installs it)")
        pytest.skip("docker-compose is not installed on this machine; .ci/run installs it and runs this check")
    env = {**os.environ, "PMO_JWT_SECRET": "only-for-validation"}
    subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"], check=True, env=env)
    missing = {k: v for k, v in env.items() if k != "PMO_JWT_SECRET"}
    refused = subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"], env=missing, capture_output=True, text=True)
    assert refused.returncode != 0 and "PMO_JWT_SECRET" in refused.stderr  # no default secret in production
