"""The OpenAPI document of every service is one a client generator can build on: a typed answer, a stable
lowerCamelCase operationId and an example body for every operation, the command headers documented, and every
error a problem with a documented, stable ``type`` (issue 20, design section 5)."""

from __future__ import annotations

import importlib
import inspect
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, cast

import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
from pydantic import Field, TypeAdapter, ValidationError

from shared.bounds import (
    REFUSED_CHARACTERS,
    WEEK_PATTERN,
    WHITESPACE,
    CurrencyCode,
    Instant,
    RequestBody,
    forbidden_character,
    iso_week,
)
from shared.errors import NotFoundError, SeparationOfDutiesError
from shared.money import ExactDecimal
from shared.openapi import _bounded, api_routes, etag_operations, integer_range, unversioned_commands
from shared.problems import PROBLEM, PROBLEM_TYPES, pmo_error, problem

SERVICES = ("projects", "budget", "invoicing", "resources", "reporting")
METHODS = {"get", "put", "post", "delete", "patch"}
CAMEL = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "problems.md"


@pytest.fixture(scope="module", params=SERVICES)
def service_app(request: pytest.FixtureRequest) -> FastAPI:
    with pytest.MonkeyPatch.context() as env:  # settings are read, nothing is connected
        env.setenv("PMO_ENV", "development")
        env.setenv("PMO_DATABASE_URL", "postgresql+asyncpg://unused/unused")
        env.setenv("PMO_KAFKA_BOOTSTRAP_SERVERS", "unused:9092")
        app: FastAPI = importlib.import_module(f"{request.param}.bootstrap").create_app()
        return app


@pytest.fixture(scope="module")
def document(service_app: FastAPI) -> dict[str, Any]:
    return service_app.openapi()


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


UNVERSIONED_COMMANDS = {
    "createWebhookSubscription": "a subscription is a row, not an event-sourced aggregate: no version to answer; it "
    "takes Idempotency-Key and refuses If-Match (412)",
}
"""The commands that answer no ETag, each with the reason (found by :func:`shared.openapi.unversioned_commands`)."""


def test_commands_document_if_match_idempotency_key_etag_and_location(document: dict[str, Any]) -> None:
    found = commands(document)
    assert found
    for method, path, op in found:
        headers = {p["name"].lower(): p for p in op["parameters"] if p["in"] == "header"}
        assert re.compile(headers["if-match"]["schema"]["pattern"]).match('"3"'), f"{method} {path}"
        assert not re.compile(headers["if-match"]["schema"]["pattern"]).match("3 or so")
        assert headers["idempotency-key"]["description"], f"{method} {path}"
        for code, response in op["responses"].items():
            if code.startswith("2") and op["operationId"] in UNVERSIONED_COMMANDS:
                assert "ETag" not in response["headers"], f"{method} {path}"
            elif code.startswith("2") and code != "204":
                assert response["headers"]["ETag"]["required"] is True, f"{method} {path}"
            if code == "201":
                assert "Location" in response["headers"], f"{method} {path}"


def _routes_writing_an_etag(app: FastAPI) -> dict[str, str]:
    """operationId -> method of every route whose source writes an ``ETag`` header itself (read from the source
    text, not as :func:`shared.openapi.etag_operations` finds them)."""
    found = {}
    for route in api_routes(app):
        source = inspect.getsource(route.endpoint)
        if re.search(r"""["']ETag["']\s*:""", source) and route.operation_id:
            found[route.operation_id] = sorted(route.methods or ())[0]
    return found


def test_every_operation_whose_route_sets_an_etag_documents_it(service_app: FastAPI, document: dict[str, Any]) -> None:
    """A read that answers an aggregate with its version (``ETag``, for the next command's ``If-Match``) documents
    the header, required, with its pattern, on its 2xx answers; a read whose route writes none documents none. The
    header is generated by :func:`shared.openapi.documented`, never written per route."""
    writing = _routes_writing_an_etag(service_app)
    by_id = {op["operationId"]: op for _, _, op in operations(document)}
    for operation_id in writing:
        for code, response in by_id[operation_id]["responses"].items():
            if code.startswith("2"):
                etag = response.get("headers", {}).get("ETag")
                assert etag is not None and etag["required"] is True, f"{operation_id} {code}"
                assert re.match(etag["schema"]["pattern"], '"12"') and not re.match(etag["schema"]["pattern"], "12")
    reads = {op["operationId"]: op for method, _, op in operations(document) if method == "GET"}
    with_etag = {i for i, op in reads.items() if any("ETag" in r.get("headers", {}) for r in op["responses"].values())}
    assert with_etag == {i for i in writing if i in reads}
    assert set(etag_operations(service_app)) == set(writing)


def test_the_commands_without_an_etag_are_the_listed_ones(service_app: FastAPI, document: dict[str, Any]) -> None:
    commands_ = {op["operationId"] for _, _, op in commands(document)}
    assert unversioned_commands(service_app) & commands_ == set(UNVERSIONED_COMMANDS) & commands_


def test_the_aggregate_reads_are_the_ones_that_answer_an_etag() -> None:
    """The reads known to answer their aggregate's version are found (a change in how routes are found would
    otherwise document none and pass the test above)."""
    found: set[str] = set()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PMO_ENV", "development")
        env.setenv("PMO_DATABASE_URL", "postgresql+asyncpg://unused/unused")
        env.setenv("PMO_KAFKA_BOOTSTRAP_SERVERS", "unused:9092")
        for service in SERVICES:
            found |= etag_operations(importlib.import_module(f"{service}.bootstrap").create_app())
    known = {"getProject", "getRaidLog", "getBudget", "getInvoice", "getExpense", "getGoodsReceipt", "getResource"}
    assert known <= found, sorted(known - found)


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


# --- every 2xx a named schema, every field typed ----------------------------------------------------------------

FREE_FIELDS = {
    "AuditEntry.data": "an event's data: its schema is the published JSON Schema of its type and version",
    "AlertItem.figures": "an alert's figures: their names depend on its rule, as in the alert-raised event",
}
"""Fields that are a JSON object by design, each with the reason."""


def _schema_gaps(document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Where ``schema`` (a 2xx answer's) leaves a value untyped: no type at all, or an object of anything."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _schema_gaps(document, document["components"]["schemas"][name], name, seen)
    if where in FREE_FIELDS:
        return []
    if not ({"type", "enum", "const", "anyOf", "oneOf", "allOf"} & schema.keys()):
        return [f"{where}: no type"]
    gaps = []
    if (
        schema.get("type") == "object"
        and not schema.get("properties")
        and schema.get("additionalProperties")
        in (
            None,
            True,
            {},
        )
    ):
        gaps.append(f"{where}: an object of anything")
    if isinstance(schema.get("additionalProperties"), dict):
        gaps += _schema_gaps(document, schema["additionalProperties"], f"{where}.*", seen)
    for name, field in (schema.get("properties") or {}).items():
        gaps += _schema_gaps(document, field, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        gaps += _schema_gaps(document, schema["items"], where, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            gaps += _schema_gaps(document, option, where, seen)
    return gaps


def _named(schema: dict[str, Any]) -> bool:
    """A named schema, a list of one, or a choice between named schemas."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _named(schema.get("items") or {})
    options = schema.get("oneOf") or schema.get("anyOf") or []
    return bool(options) and all(_named(o) for o in options)


def test_every_success_answer_is_a_named_schema_with_every_field_typed(document: dict[str, Any]) -> None:
    """No exception: the reporting service's reports and explanations are typed too (the list of operations left
    untyped is gone)."""
    untyped: dict[str, list[str]] = {}
    for method, path, op in operations(document):
        for code, response in op["responses"].items():
            if not code.startswith("2"):
                continue
            for media_type, media in (response.get("content") or {}).items():
                if media_type.startswith("text/"):
                    continue
                schema = media.get("schema") or {}
                gaps = [] if _named(schema) else [f"{method} {path} {code}: not a named schema"]
                gaps += _schema_gaps(document, schema, f"{method} {path}", set())
                if gaps:
                    untyped.setdefault(op["operationId"], []).extend(gaps)
    assert untyped == {}


# --- the document states the bounds the request models keep ---------------------------------------------------


class _Bounded(RequestBody):
    hours: ExactDecimal = Field(gt=0, le=168, max_digits=5, decimal_places=2)
    target: Annotated[ExactDecimal, Field(max_digits=20, decimal_places=6)]
    share: Annotated[ExactDecimal, Field(ge=0, le=100, max_digits=6, decimal_places=2)] = Decimal(0)
    name: Annotated[str, Field(min_length=1, max_length=50)]
    code: Annotated[str, Field(min_length=3, max_length=10)] = "abc"
    email: Annotated[str | None, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = None
    currency: CurrencyCode = "EUR"


def _documented_schema(model: type[RequestBody]) -> dict[str, Any]:
    return cast(dict[str, Any], _bounded(model.model_json_schema(), trimmed=True))


def _agree(field: str, value: Any) -> tuple[bool, bool]:
    """Whether the document takes ``value`` for ``field``, and whether the model does."""
    body = {"hours": "1", "target": "0", "name": "x", field: value}
    documented = Draft202012Validator(_documented_schema(_Bounded)).is_valid(body)
    try:
        _Bounded.model_validate(body)
        accepted = True
    except ValidationError:
        accepted = False
    return documented, accepted


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hours", "168"), ("hours", "168.00"), ("hours", "168.01"), ("hours", "167.99"), ("hours", "0"),
        ("hours", "0.01"), ("hours", "0.001"), ("hours", 168), ("hours", 169), ("hours", 0), ("hours", "1000"),
        ("hours", "0.00000000000000005"), ("hours", "-1"), ("hours", "99.5"), ("hours", "0168"), ("hours", "00.5"),
        ("hours", "0169"), ("target", "012.30"),
        ("target", "99999999999999.999999"), ("target", "100000000000000"), ("target", "-518985346666555019.78"),
        ("target", 3636526478209232896), ("target", 99999999999999), ("target", "-0.5"), ("target", "1.1234567"),
        ("share", "100"), ("share", "100.5"), ("share", "0"), ("share", "-0.01"),
        ("name", "\n"), ("name", " a "), ("name", "   "), ("name", "ok"), ("name", "bell\x07"), ("name", "\u202eevil"),
        ("code", "  ab "), ("code", " abc "), ("code", "a b"),
        ("email", "ada@example.org"), ("email", "a\x07@b.c"), ("email", "a@b"),
        ("currency", "EUR"), ("currency", "XYZ"), ("currency", "eur"),
    ],
)  # fmt: skip
def test_a_request_value_is_documented_valid_exactly_when_the_model_accepts_it(field: str, value: Any) -> None:
    """The bounds of decimals (from ``ge``/``gt``/``le``, ``max_digits``, ``decimal_places``), text (refused characters,
    not blank once trimmed), patterns and currency codes are generated into the document from the model: what the
    fuzzer found refused although documented valid (``0.00000000000000005`` hours, a 19-digit KPI target, a
    reason of one line break, a control character in an e-mail address, a currency outside ISO 4217)."""
    documented, accepted = _agree(field, value)
    assert documented == accepted, (field, value, documented, accepted)


def test_the_documented_refused_characters_and_whitespace_are_the_ones_the_code_refuses_and_trims() -> None:
    refused = re.compile(f"[{REFUSED_CHARACTERS}]")
    blank = re.compile(f"^[{WHITESPACE}]*$")
    for code in range(0x10000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        assert bool(refused.match(char)) == (forbidden_character(char) is not None), hex(code)
        assert bool(blank.match(char)) == (char.strip() == ""), hex(code)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2027-03-01", True), ("2027-03-01T17:30:00Z", True), ("2027-03-01T17:30:00.123456+05:30", True),
        ("0420-06-01T21:35:33+17:13", False), ("2200-01-01", False), ("1899-12-31T23:59:59Z", False), ("0", False),
    ],
)  # fmt: skip
def test_known_at_is_documented_within_the_business_years_as_read(value: str, valid: bool) -> None:
    schema = _bounded(TypeAdapter(Instant).json_schema(mode="validation"))
    assert Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(value) is valid
    try:
        TypeAdapter(Instant).validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is valid


def test_decimal_text_states_integer_ranges_exactly() -> None:
    for low, high in ((0, 0), (0, 9), (1, 167), (5, 12345), (0, 10**6)):
        pattern = re.compile(f"^({integer_range(low, high)})$")
        for n in range(0, min(high + 50, 20_000)):
            assert bool(pattern.match(str(n))) == (low <= n <= high), (low, high, n)


def test_an_iso_week_is_documented_exactly_as_iso_week_reads_it() -> None:
    """A week in a year outside the business years, week 00 or 54, and week 53 of a 52-week year are refused by the
    pattern as by :func:`shared.bounds.iso_week` (the fuzzer sent 3185-W33)."""
    pattern = re.compile(WEEK_PATTERN)
    for year in (1899, 1900, 2015, 2020, 2026, 2027, 2199, 2200, 3185):
        for week in range(0, 55):
            label = f"{year}-W{week:02d}"
            try:
                iso_week(label)
                valid = True
            except ValueError:
                valid = False
            assert bool(pattern.match(label)) is valid, label
