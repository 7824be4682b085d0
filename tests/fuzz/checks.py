"""The checks every fuzzed answer goes through (no 5xx, problem+json errors, documented schemas and media types),
by the name its findings are kept under."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

PROBLEM = "application/problem+json"


def _content_type(answer: Any) -> str:
    value = answer.headers.get("content-type") or [""]
    return str(value[0] if isinstance(value, list) else value)


def check_server_error(case: Any, answer: Any, document: dict[str, Any]) -> str | None:
    """No 5xx (schemathesis' ``not_a_server_error``)."""
    case.validate_response(answer, checks=[not_a_server_error])
    return None


def check_problem_json(case: Any, answer: Any, document: dict[str, Any]) -> str | None:
    """Every 4xx and 5xx is RFC 9457 problem+json: the media type, and ``type``, ``title``, ``status`` (the HTTP
    status) and ``detail`` in the body."""
    if answer.status_code < 400:
        return None
    media_type = _content_type(answer).split(";")[0].strip()
    if media_type != PROBLEM:
        return f"content-type {media_type!r}, not {PROBLEM}"
    try:
        body = json.loads(answer.content)
    except ValueError:
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    wrong = [k for k, kind in (("type", str), ("title", str), ("detail", str)) if not isinstance(body.get(k), kind)]
    if body.get("status") != answer.status_code:
        wrong.append("status")
    return f"problem members missing or wrong: {wrong}" if wrong else None


def check_success_schema(case: Any, answer: Any, document: dict[str, Any]) -> str | None:
    """A 2xx answer conforms to the schema documented for its status (schemathesis' response_schema_conformance)."""
    if answer.status_code >= 400:
        return None
    case.validate_response(answer, checks=[response_schema_conformance])
    return None


def check_error_schema(case: Any, answer: Any, document: dict[str, Any]) -> str | None:
    """An error answer's body conforms to the schema documented for its status (read as the JSON it is, whatever
    media type the document gives)."""
    if answer.status_code < 400:
        return None
    responses = document["paths"][case.operation.path][case.method.lower()].get("responses", {})
    documented = responses.get(str(answer.status_code)) or responses.get("default")
    if documented is None:
        return None
    content = documented.get("content") or {}
    schema = next((c.get("schema") for c in content.values() if c.get("schema")), None)
    if schema is None:
        return None
    try:
        body = json.loads(answer.content)
    except ValueError:
        return "the body is not JSON"
    root = {**schema, "components": document.get("components", {})}
    errors = sorted(jsonschema.Draft202012Validator(root).iter_errors(body), key=lambda e: list(e.path))
    if errors:
        name = schema.get("$ref", "").rsplit("/", 1)[-1] or "inline schema"
        return f"does not match the documented {name}: {errors[0].message[:200]}"
    return None


def check_media_type(case: Any, answer: Any, document: dict[str, Any]) -> str | None:
    """The answer's media type is one the document lists for its status (schemathesis' content_type_conformance)."""
    case.validate_response(answer, checks=[content_type_conformance])
    return None


CHECKS: dict[str, Callable[[Any, Any, dict[str, Any]], str | None]] = {
    "server error": check_server_error,
    "problem+json": check_problem_json,
    "success schema": check_success_schema,
    "error schema": check_error_schema,
    "media type": check_media_type,
}
