"""The checks of ours every fuzzed answer goes through besides schemathesis' own (``--checks all``): every error is
RFC 9457 problem+json, and an error's body matches the schema documented for its status. Registered with
schemathesis (``@schemathesis.check``), so its engine runs them in every phase like its built-in checks."""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import schemathesis

PROBLEM = "application/problem+json"


def _content_type(answer: Any) -> str:
    value = answer.headers.get("content-type") or [""]
    return str(value[0] if isinstance(value, list) else value)


def problem_json_failure(answer: Any) -> str | None:
    """Why an error answer is not RFC 9457 problem+json (the media type, and ``type``, ``title``, ``status`` (the
    HTTP status) and ``detail`` in the body), or ``None``."""
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


def error_schema_failure(document: dict[str, Any], path: str, method: str, answer: Any) -> str | None:
    """Why an error answer's body does not match the schema documented for its status (read as the JSON it is,
    whatever media type the document gives), or ``None``."""
    if answer.status_code < 400:
        return None
    operation = document["paths"].get(path, {}).get(method.lower())
    if operation is None:  # a method the path does not declare (schemathesis' unsupported_method checks those)
        return None
    responses = operation.get("responses", {})
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


@schemathesis.check
def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx is RFC 9457 problem+json."""
    failure = problem_json_failure(response)
    if failure:
        raise AssertionError(failure)
    return None


@schemathesis.check
def error_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """An error answer's body conforms to the schema documented for its status."""
    operation = case.operation
    failure = error_schema_failure(operation.schema.raw_schema, operation.path, case.method, response)
    if failure:
        raise AssertionError(failure)
    return None
