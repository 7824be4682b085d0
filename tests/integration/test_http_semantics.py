"""HTTP by the RFCs, over every service's app as it is composed: 405 with ``Allow`` for a method no route declares,
412 for a stale ``If-Match`` (409 stays for a race lost without one), 422 naming a garbage ``If-Match``, dates
written as numbers refused naming the parameter, 400 problem+json for a body that is not a JSON object, and an
``Idempotency-Key`` that belongs to its caller."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from shared.bounds import RequestBody
from shared.limits import MAX_HEADER_BYTES, MAX_PATH_BYTES, MAX_QUERY_STRING_BYTES
from shared.money import Money
from tests.integration.conftest import service_client
from tests.support import auth_header
from tests.support.projects import milestone_body, project_body

pytestmark = pytest.mark.integration

PMO = auth_header("pia.pmo", "pmo")
OTHER_PMO = auth_header("olaf.pmo", "pmo")
DIRECTOR = auth_header("dora.director", "director")
RESOURCE_MANAGER = auth_header("rita.rm", "resource-manager")
SERVICES = ("projects", "budget", "invoicing", "resources", "reporting")


@pytest.fixture(scope="module")
async def apps(infra: Any) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        extra: dict[str, dict[str, Any]] = {"reporting": {"evaluation_interval": 60, "full_evaluation_interval": 3600}}
        yield {name: await service_client(stack, name, infra, DIRECTOR, **extra.get(name, {})) for name in SERVICES}


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def fields(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem.get("errors", [])]


async def new_project(client: httpx.AsyncClient) -> str:
    created = await client.post("/projects", json=project_body(), headers=PMO)
    assert created.status_code == 201, created.text
    return str(created.json()["project_id"])


# --- 405 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("method", ["TRACE", "PATCH", "DELETE", "PUT"])
async def test_a_method_no_route_declares_is_405_with_allow_on_every_service(
    apps: dict[str, httpx.AsyncClient], service: str, method: str
) -> None:
    response = await apps[service].request(method, "/metrics")
    problem = problem_of(response, 405)
    assert response.headers["allow"] == "GET"
    assert method in problem["detail"]


async def test_allow_lists_every_method_declared_at_the_path_even_by_separate_routes(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    response = await apps["projects"].request("TRACE", "/projects")
    problem_of(response, 405)
    assert response.headers["allow"] == "GET, POST"
    pid = await new_project(apps["projects"])
    patched = await apps["projects"].patch(f"/projects/{pid}", json={"name": "x"})
    problem_of(patched, 405)
    assert "PATCH" not in patched.headers["allow"] and "GET" in patched.headers["allow"]


async def test_an_unknown_path_stays_404_and_a_declared_method_is_not_refused(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    problem_of(await apps["projects"].request("TRACE", "/no-such-thing"), 404)
    assert (await apps["projects"].get("/projects")).status_code == 200


async def test_405_is_answered_before_authentication_only_for_what_the_openapi_document_shows(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    anonymous = httpx.Headers({"Authorization": ""})
    response = await apps["projects"].request("TRACE", "/projects", headers=anonymous)
    assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
    assert (await apps["projects"].get("/projects", headers=anonymous)).status_code == 401


# --- If-Match ---------------------------------------------------------------------------------------------------


async def test_a_stale_if_match_is_412_with_the_current_version_and_appends_nothing(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    client = apps["projects"]
    pid = await new_project(client)
    url = f"/projects/{pid}/milestones"
    first = await client.post(url, json=milestone_body(name="M1"), headers={**PMO, "If-Match": '"1"'})
    assert first.status_code == 201 and first.headers["etag"] == '"2"', first.text
    stale = await client.post(url, json=milestone_body(name="M2"), headers={**PMO, "If-Match": '"1"'})
    problem = problem_of(stale, 412)
    assert problem["current_version"] == 2
    assert [m["name"] for m in (await client.get(f"/projects/{pid}")).json()["milestones"]] == ["M1"]


@pytest.mark.parametrize("tag", ['W/"2"', '"abc"', '"99999999999999999999"', '"\u00b2"', '"-1"'])
async def test_an_entity_tag_no_version_has_is_412_never_a_match(apps: dict[str, httpx.AsyncClient], tag: str) -> None:
    client = apps["projects"]
    pid = await new_project(client)
    response = await client.post(
        f"/projects/{pid}/milestones",
        json=milestone_body(),
        headers=[*((k.encode(), v.encode()) for k, v in PMO.items()), (b"If-Match", tag.encode("utf-8"))],
    )
    problem_of(response, 412)
    assert (await client.get(f"/projects/{pid}")).headers["etag"] == '"1"'


@pytest.mark.parametrize("garbage", ["2", "abc", '"2', '"2", "3"', "W/2", '"a b"', "**"])
async def test_a_garbage_if_match_is_422_naming_the_header(apps: dict[str, httpx.AsyncClient], garbage: str) -> None:
    client = apps["projects"]
    pid = await new_project(client)
    response = await client.post(
        f"/projects/{pid}/milestones", json=milestone_body(), headers={**PMO, "If-Match": garbage}
    )
    assert fields(problem_of(response, 422)) == ["If-Match"]


async def test_if_match_star_requires_the_aggregate_to_exist(apps: dict[str, httpx.AsyncClient]) -> None:
    client = apps["projects"]
    pid = await new_project(client)
    ok = await client.post(f"/projects/{pid}/milestones", json=milestone_body(), headers={**PMO, "If-Match": "*"})
    assert ok.status_code == 201, ok.text
    missing = await client.post(
        f"/projects/{uuid.uuid4()}/milestones", json=milestone_body(), headers={**PMO, "If-Match": "*"}
    )
    assert missing.status_code in (404, 412), missing.text
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_if_none_match_on_a_command_is_refused_naming_the_header(apps: dict[str, httpx.AsyncClient]) -> None:
    response = await apps["projects"].post("/projects", json=project_body(), headers={**PMO, "If-None-Match": "*"})
    assert fields(problem_of(response, 422)) == ["If-None-Match"]


# --- strict dates and numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "url", "field"),
    [
        ("reporting", "/reports/projects/{pid}?as_of=0", "as_of"),
        ("reporting", "/reports/projects/{pid}?known_at=0", "known_at"),
        ("budget", "/budgets/{pid}/funding?on=0", "on"),
        ("invoicing", "/invoices?on=0", "on"),
        ("invoicing", "/invoices?due_before=86400", "due_before"),
        ("projects", "/projects?limit=1.0", "limit"),
        ("projects", "/projects?offset=1_000", "offset"),
        ("projects", "/projects?limit=%2B5", "limit"),
    ],
)
async def test_numbers_where_a_date_or_a_whole_number_is_expected_are_422_naming_the_parameter(
    apps: dict[str, httpx.AsyncClient], service: str, url: str, field: str
) -> None:
    response = await apps[service].get(url.format(pid=uuid.uuid4()))
    assert fields(problem_of(response, 422)) == [field]


@pytest.mark.parametrize("on", [0, 86400, "0", "1700000000"])
async def test_a_date_in_a_body_written_as_a_number_is_422_naming_the_field(
    apps: dict[str, httpx.AsyncClient], on: Any
) -> None:
    response = await apps["projects"].post("/projects", json=project_body(planned_start=on), headers=PMO)
    assert fields(problem_of(response, 422)) == ["planned_start"]


# --- bodies that are not JSON objects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"name": "x",}', "application/json"),
        (b"[]", "application/json"),
        (b"42", "application/json"),
        (b'"a string"', "application/json"),
        (b"name=x", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "application/json"),
    ],
)
@pytest.mark.parametrize("service", ["projects", "resources"])
async def test_a_body_that_is_not_a_json_object_is_a_400_problem(
    apps: dict[str, httpx.AsyncClient], service: str, content: bytes, content_type: str
) -> None:
    url, token = ("/projects", PMO) if service == "projects" else ("/resources", RESOURCE_MANAGER)
    response = await apps[service].post(url, content=content, headers={**token, "content-type": content_type})
    assert fields(problem_of(response, 400)) == ["body"]


async def test_every_operation_with_a_body_documents_the_400_and_every_if_match_the_412(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    for name, client in apps.items():
        document = (await client.get("/openapi.json")).json()
        for path, item in document["paths"].items():
            for method, operation in item.items():
                responses = operation["responses"]
                if "requestBody" in operation:
                    assert "400" in responses, (name, method, path)
                    assert "application/problem+json" in responses["400"]["content"], (name, method, path)
                headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
                for header in headers:
                    if header["name"].lower() == "if-match":
                        assert "412" in responses, (name, method, path)
                        assert header["schema"]["pattern"].startswith("^(\\*|"), header


# --- Idempotency-Key --------------------------------------------------------------------------------------------


async def test_a_replayed_idempotency_key_from_another_caller_does_not_get_the_first_callers_answer(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    client = apps["projects"]
    key = str(uuid.uuid4())
    body = project_body()
    first = await client.post("/projects", json=body, headers={**PMO, "Idempotency-Key": key})
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await client.post("/projects", json=body, headers={**PMO, "Idempotency-Key": key})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["project_id"] == first.json()["project_id"]
    other = await client.post("/projects", json=project_body(), headers={**OTHER_PMO, "Idempotency-Key": key})
    assert other.status_code == 201 and "idempotent-replayed" not in other.headers, other.text
    assert other.json()["project_id"] != first.json()["project_id"]
    different = await client.post(
        "/projects", json=project_body(name="Another"), headers={**OTHER_PMO, "Idempotency-Key": key}
    )
    assert fields(problem_of(different, 422)) == ["Idempotency-Key"]


async def test_an_idempotency_key_past_its_retention_is_a_new_request_and_is_purged(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    from sqlalchemy import text

    client = apps["projects"]
    executor = client.app.state.runtime.executor  # type: ignore[attr-defined]
    key = str(uuid.uuid4())
    body = project_body()
    first = await client.post("/projects", json=body, headers={**PMO, "Idempotency-Key": key})
    assert first.status_code == 201
    reused = await client.post("/projects", json=project_body(), headers={**PMO, "Idempotency-Key": key})
    assert fields(problem_of(reused, 422)) == ["Idempotency-Key"]  # within the retention: the key is taken
    async with executor.engine.begin() as conn:
        await conn.execute(
            text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = :k"), {"k": key}
        )
    later = await client.post("/projects", json=project_body(), headers={**PMO, "Idempotency-Key": key})
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert later.json()["project_id"] != first.json()["project_id"]
    async with executor.engine.begin() as conn:
        await conn.execute(
            text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = :k"), {"k": key}
        )
    assert await executor.purge_expired_keys() >= 1
    async with executor.engine.connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM idempotency_keys WHERE key = :k"), {"k": key})).scalar()
    assert left == 0


# --- what the fuzzing found: the document and the code agree on every bound --------------------------------------


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def walk(node: Any) -> list[dict[str, Any]]:
    """Every JSON Schema object inside ``node``."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


async def test_query_bounds_are_stated_under_their_json_schema_names_and_hold_at_the_edge(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    """FastAPI left ``ge``/``le`` (Python's names, which JSON Schema ignores) on the ``Whole`` query parameters: a
    client could not read the bound and a fuzzer sent ``limit=0``."""
    for name, client in apps.items():
        document = (await client.get("/openapi.json")).json()
        for method, path, op in operations(document):
            for parameter in op.get("parameters", []):
                schemas = walk(parameter["schema"])
                assert not [s for s in schemas if {"ge", "le", "gt", "lt"} & s.keys()], (name, method, path, parameter)
    document = (await apps["projects"].get("/openapi.json")).json()
    limit = next(p for p in document["paths"]["/projects"]["get"]["parameters"] if p["name"] == "limit")
    low, high = limit["schema"]["minimum"], limit["schema"]["maximum"]
    assert (await apps["projects"].get(f"/projects?limit={high}")).status_code == 200
    for outside in (low - 1, high + 1):
        assert fields(problem_of(await apps["projects"].get(f"/projects?limit={outside}"), 422)) == ["limit"]


async def test_headers_are_documented_as_absent_or_a_value_and_null_is_just_a_bad_value(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    """Optional headers were documented as ``string | null``: a fuzzer sent the text ``null``, which the service
    rightly refused as a malformed entity tag (and the document called valid)."""
    for name, client in apps.items():
        document = (await client.get("/openapi.json")).json()
        for method, path, op in operations(document):
            for header in [p for p in op.get("parameters", []) if p["in"] == "header"]:
                assert {"type": "null"} not in walk(header["schema"]), (name, method, path, header["name"])
    client = apps["projects"]
    pid = await new_project(client)
    response = await client.post(
        f"/projects/{pid}/milestones", json=milestone_body(), headers={**PMO, "If-Match": "null"}
    )
    assert fields(problem_of(response, 422)) == ["If-Match"]


async def test_decimals_are_documented_as_integer_or_plain_decimal_text_and_a_float_is_refused(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    """A JSON float for an amount is refused (it may already have lost the cents on the client's side); the document
    says so instead of offering ``number``."""
    for name, client in apps.items():
        document = (await client.get("/openapi.json")).json()
        for schema_name, schema in document["components"]["schemas"].items():
            if schema_name.endswith("-Output") or schema_name in ("Problem", "FieldError"):
                continue
            assert not [s for s in walk(schema) if s.get("type") == "number"], (name, schema_name)
    budget = apps["budget"]
    url = f"/budgets/{uuid.uuid4()}/baseline"
    finance = auth_header("fay.finance", "finance")
    for amount, field in ((1250.5, "total.amount"), ("1.25e3", "total.amount"), ("1_250", "total.amount")):
        line = {"category": "labour", "amount": {"amount": "1250.50", "currency": "EUR"}}
        body = {"total": {"amount": amount, "currency": "EUR"}, "categories": [line]}
        assert fields(problem_of(await budget.post(url, json=body, headers=finance), 422)) == [field], amount


class _Priced(RequestBody):
    price: Money


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("1250.50", "EUR"), ("1250.505", "EUR"), ("1250.5", "JPY"), ("1250", "JPY"), ("1.505", "KWD"),
        ("1.5055", "KWD"), ("0.0001", "CLF"), ("1000000000000", "EUR"), ("1000000000000.01", "EUR"),
        ("1000000000001", "EUR"), ("999999999999999", "IDR"), ("1000000000000001", "IDR"), ("-1000000000000", "USD"),
        ("012.30", "USD"), (10**12, "EUR"), (10**12 + 1, "EUR"), (10**15, "KRW"),
    ],
)  # fmt: skip
async def test_an_amount_is_accepted_exactly_when_the_document_says_it_is_valid(
    apps: dict[str, httpx.AsyncClient], amount: Any, currency: str
) -> None:
    """Decimals per currency (the minor unit) and the bound per currency are stated in ``Money-Input``: the document
    and the request models agree on every amount (schemathesis found valid-looking amounts refused)."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

    document = (await apps["budget"].get("/openapi.json")).json()
    money = {**document["components"]["schemas"]["Money-Input"], "components": document["components"]}
    documented = Draft202012Validator(money).is_valid({"amount": amount, "currency": currency})
    try:
        _Priced(price={"amount": amount, "currency": currency})
        accepted = True
    except ValidationError:
        accepted = False
    assert documented == accepted, (amount, currency, documented)


async def test_text_with_a_control_character_is_refused_naming_the_field_as_documented(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    document = (await apps["projects"].get("/openapi.json")).json()
    register = document["components"]["schemas"]["RegisterProjectRequest"]["properties"]["objectives"]
    pattern = next(s["pattern"] for s in walk(register) if "pattern" in s)
    for text in ("red\x1b[31m", "nul\x00", "\u202eevil", "bell\x07"):
        assert not re.search(pattern, text), text
        response = await apps["projects"].post("/projects", json=project_body(objectives=text), headers=PMO)
        assert fields(problem_of(response, 422)) == ["objectives"], text
    assert re.search(pattern, "two\nlines\tand a tab")


@pytest.mark.parametrize("day", ["1899-12-31", "2200-01-01", "0001-01-01", "9999-12-31"])
async def test_a_date_outside_the_business_years_is_refused_in_a_body_and_a_query(
    apps: dict[str, httpx.AsyncClient], day: str
) -> None:
    response = await apps["projects"].post("/projects", json=project_body(planned_start=day), headers=PMO)
    assert fields(problem_of(response, 422)) == ["planned_start"]
    report = await apps["reporting"].get(f"/reports/projects/{uuid.uuid4()}", params={"as_of": day})
    assert fields(problem_of(report, 422)) == ["as_of"]
    document = (await apps["projects"].get("/openapi.json")).json()
    start = document["components"]["schemas"]["RegisterProjectRequest"]["properties"]["planned_start"]
    assert not re.search(next(s["pattern"] for s in walk(start) if "pattern" in s), day)


async def test_an_oversized_uri_is_a_documented_414_and_oversized_headers_a_documented_431(
    apps: dict[str, httpx.AsyncClient],
) -> None:
    for name, client in apps.items():
        document = (await client.get("/openapi.json")).json()
        for method, path, op in operations(document):
            assert {"414", "431"} <= op["responses"].keys(), (name, method, path)
    projects = apps["projects"]
    problem_of(await projects.get("/projects", params={"vendor": "x" * (MAX_QUERY_STRING_BYTES + 1)}), 414)
    problem_of(await projects.get("/projects/" + "a" * (MAX_PATH_BYTES + 1)), 414)
    problem_of(await projects.get("/projects", headers={"X-Padding": "x" * MAX_HEADER_BYTES}), 431)
