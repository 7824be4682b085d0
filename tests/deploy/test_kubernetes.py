"""deploy/kubernetes: every manifest valid against Kubernetes' own OpenAPI schemas (kubernetes-validate, strict:
unknown fields refused), and in step with the services, their settings and the compose file."""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from shared.infra.system import SERVICES
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest and the newest Kubernetes versions we claim: the policy/v1, batch/v1 and apps/v1 kinds used are stable
# in both.
VERSIONS = ("1.30.0", "1.37.0")


@functools.cache
def parsed() -> tuple[dict[str, Any], ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        docs += [doc for doc in yaml.load_all(path.read_text(), Loader=loader) if doc]
    return tuple(docs)


def documents() -> list[dict[str, Any]]:
    return list(parsed())


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    docs = documents()
    assert len(docs) >= 3 + 3 * len(SERVICES)
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError naming the field


def test_the_validator_refuses_a_wrong_type_and_an_unknown_field() -> None:
    deployment = by_kind("Deployment")["pmo-projects"]
    wrong = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError, match="replicas"):
        kubernetes_validate.validate(wrong, VERSIONS[-1], strict=True)
    unknown = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, VERSIONS[-1], strict=True)


def container(doc: dict[str, Any]) -> dict[str, Any]:
    containers = doc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_every_service_has_a_deployment_with_probes_resources_a_service_and_a_disruption_budget() -> None:
    deployments, services, budgets = by_kind("Deployment"), by_kind("Service"), by_kind("PodDisruptionBudget")
    for name in SERVICES:
        main = container(deployments[f"pmo-{name}"])
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(main["resources"]["requests"]) and set(main["resources"]["limits"])
        assert main["securityContext"]["readOnlyRootFilesystem"] is True
        assert services[f"pmo-{name}"]["spec"]["selector"] == {"app.kubernetes.io/name": f"pmo-{name}"}
        assert budgets[f"pmo-{name}"]["spec"]["maxUnavailable"] == 1
        assert deployments[f"pmo-{name}"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_secrets_come_from_the_cluster_and_every_pmo_variable_is_a_known_setting() -> None:
    assert not by_kind("Secret"), "no Secret with values in the repository"
    settings = dict(by_kind("ConfigMap")["pmo-settings"]["data"])
    for name in SERVICES:
        known = {f"PMO_{f.upper()}" for f in ServiceSettings.model_fields}
        known |= {f"PMO_{f.upper()}" for f in importlib.import_module(f"{name}.settings").Settings.model_fields}
        env = {item["name"]: item for item in container(by_kind("Deployment")[f"pmo-{name}"])["env"]}
        for variable in [*env, *settings]:
            if variable.startswith("PMO_"):
                assert variable in known, (name, variable)
        for secret in ("PMO_DATABASE_URL", "PMO_JWT_SECRET", "PMO_KAFKA_SASL_PASSWORD"):
            assert env[secret]["valueFrom"]["secretKeyRef"]["name"] == "pmo-secrets", secret
        assert env["PMO_REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert env["SERVICE"]["value"] == name
    assert settings["PMO_MIGRATE_ON_START"] == "false"


def test_the_migration_job_migrates_every_service_with_its_own_role_and_infrastructure_is_external() -> None:
    job = by_kind("Job")["pmo-migrate"]
    main = container(job)
    assert main["command"] == ["pmo", "migrate"]
    env = {item["name"]: item["valueFrom"]["secretKeyRef"]["key"] for item in main["env"]}
    assert env == {f"PMO_DATABASE_URL_{name.upper()}": f"database-url-{name}" for name in SERVICES}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    services = by_kind("Service")
    for external in ("pmo-postgres", "pmo-kafka"):
        assert services[external]["spec"]["type"] == "ExternalName"
    assert dict(by_kind("ConfigMap")["pmo-settings"]["data"])["PMO_KAFKA_BOOTSTRAP_SERVERS"].startswith("pmo-kafka:")
