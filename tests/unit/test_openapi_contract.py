"""The OpenAPI document of every service is one a client generator can build on: a typed answer, a stable
lowerCamelCase operationId and an example body for every operation, the command headers documented, and every
error a problem with a documented, stable ``type`` (issue 20, design section 5)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

from shared.errors import NotFoundError, SeparationOfDutiesError
from shared.problems import PROBLEM, PROBLEM_TYPES, pmo_error, problem

SERVICES = ("projects", "budget", "invoicing", "resources", "reporting")
METHODS = {"get", "put", "post", "delete", "patch"}
CAMEL = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "problems.md"


@pytest.fixture(scope="module", params=SERVICES)
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as env:  # settings are read, nothing is connected
        env.setenv("PMO_ENV", "development")
        env.setenv("PMO_DATABASE_URL", "postgresql+asyncpg://unused/unused")
        env.setenv("PMO_KAFKA_BOOTSTRAP_SERVERS", "unused:9092")
        app: FastAPI = importlib.import_module(f"{request.param}.bootstrap").create_app()
        return app.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert found
    return found


def commands(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The operations that take ``If-Match``: the commands on an aggregate."""
    return [
        (method, path, op)
        for method, path, op in operations(document)
        if any(p["in"] == "header" and p["name"].lower() == "if-match" for p in op.get("parameters", []))
    ]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_operation_has_a_typed_success_answer(document: dict[str, Any]) -> None:
    untyped = []
    for method, path, op in operations(document):
        successes = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        typed = [
            code
            for code, response in successes.items()
            if code == "204"
            or any(media.get("schema") not in (None, {}) for media in response.get("content", {}).values())
        ]
        if not typed:
            untyped.append(f"{method} {path}")
    assert untyped == []


def test_every_operation_has_a_unique_lower_camel_case_operation_id(document: dict[str, Any]) -> None:
    ids = [op.get("operationId", "") for _, _, op in operations(document)]
    assert [i for i in ids if not CAMEL.match(i)] == []
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


def test_every_request_body_has_an_example_its_schema_takes(document: dict[str, Any]) -> None:
    bodies = [(m, p, op) for m, p, op in operations(document) if "requestBody" in op]
    assert bodies
    for method, path, op in bodies:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        examples = resolve(document, schema).get("examples")
        assert examples, f"{method} {path} has no example body"
        validator = Draft202012Validator({**schema, "components": document["components"]})
        for example in examples:
            assert [e.message for e in validator.iter_errors(example)] == [], f"{method} {path}"


def test_request_bodies_still_refuse_unknown_fields(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        if "requestBody" in op:
            schema = resolve(document, op["requestBody"]["content"]["application/json"]["schema"])
            assert schema.get("additionalProperties") is False, f"{method} {path}"


def test_commands_document_if_match_idempotency_key_etag_and_location(document: dict[str, Any]) -> None:
    found = commands(document)
    assert found
    for method, path, op in found:
        headers = {p["name"].lower(): p for p in op["parameters"] if p["in"] == "header"}
        assert re.compile(headers["if-match"]["schema"]["pattern"]).match('"3"'), f"{method} {path}"
        assert not re.compile(headers["if-match"]["schema"]["pattern"]).match("3 or so")
        assert headers["idempotency-key"]["description"], f"{method} {path}"
        for code, response in op["responses"].items():
            if code.startswith("2") and code != "204":
                assert response["headers"]["ETag"]["required"] is True, f"{method} {path}"
            if code == "201":
                assert "Location" in response["headers"], f"{method} {path}"


def test_every_error_an_operation_can_answer_is_a_documented_problem(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        responses = op["responses"]
        expected = set() if path in ("/healthz", "/readyz") else {"401", "403"}
        if "requestBody" in op:
            expected |= {"400", "413", "422"}
        if (method, path, op) in commands(document):
            expected |= {"404", "409", "412", "422"}
        assert expected <= set(responses), f"{method} {path} lacks {sorted(expected - set(responses))}"
        for code, response in responses.items():
            if int(code) >= 400:
                assert response["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_problem_types_are_stable_uris_by_kind_all_documented() -> None:
    documented = set(re.findall(r"`(https://pmo\.example/problems/[a-z-]+)`", DOCS.read_text()))
    assert problem(404, "Not found", "no such project").body
    answers = {
        status: problem(status, "t", "d").body
        for status in (400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 429, 500, 503)
    }
    for status, body in answers.items():
        kind = re.search(rb'"type":"([^"]+)"', body)
        assert kind is not None and kind.group(1).decode().startswith(PROBLEM_TYPES), status
        assert kind.group(1).decode() in documented, status
    assert b'"type":"https://pmo.example/problems/not-found"' in answers[404]
    assert b'"type":"https://pmo.example/problems/precondition-failed"' in answers[412]


async def test_a_service_error_carries_the_type_of_its_kind() -> None:
    refused = await pmo_error(None, SeparationOfDutiesError("the requester may not approve"))  # type: ignore[arg-type]
    missing = await pmo_error(None, NotFoundError("no such budget"))  # type: ignore[arg-type]
    assert b'"type":"https://pmo.example/problems/separation-of-duties"' in refused.body
    assert refused.status_code == 409
    assert b'"type":"https://pmo.example/problems/not-found"' in missing.body
