"""HTTP by the RFCs without a database: If-Match as RFC 9110 writes an entity tag, 405 with ``Allow`` from the union of
the routes at a path, 400 for a body that is not a JSON object, and dates and whole numbers read only as written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query
from pydantic import TypeAdapter, ValidationError

from shared.auth import AccessPolicy, AuthConfig, Role, TokenVerifier, mint_token
from shared.bounds import Day, RequestBody, Whole
from shared.commands import UNMATCHABLE
from shared.errors import InvalidCommandError
from shared.web import _parse_if_match, create_app

TOKEN = {"Authorization": f"Bearer {mint_token('pia.pmo', ['pmo'])}"}


class Thing(RequestBody):
    name: str
    on: date | None = None


def app() -> FastAPI:
    router = APIRouter()

    @router.get("/things")
    async def list_things(limit: Annotated[Whole, Query(ge=1, le=10)] = 5, on: Day | None = None) -> dict[str, Any]:
        return {"limit": limit, "on": on}

    @router.post("/things")
    async def add_thing(body: Thing) -> dict[str, str]:
        return {"name": body.name}

    @router.delete("/things/{thing_id}")
    async def remove_thing(thing_id: str) -> None:
        return None

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    return create_app(
        service="http-test",
        version="0",
        description="",
        routers=[router],
        lifespan=lifespan,
        readiness=lambda app: [],
        verifier=TokenVerifier(AuthConfig(mode="development", issuer="pmo", audience="pmo-api")),
        access=AccessPolicy(writers=frozenset({Role.PMO})),
    )


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://http", headers=TOKEN)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, (None, False)),
        ('"3"', (3, False)),
        (' "3" ', (3, False)),
        ("*", (None, True)),
        ('W/"3"', (UNMATCHABLE, False)),  # strong comparison: a weak tag never matches
        ('"abc"', (UNMATCHABLE, False)),
        ('"1234567890"', (UNMATCHABLE, False)),
        ('""', (UNMATCHABLE, False)),
        ('"\u00c2\u00b2"', (UNMATCHABLE, False)),  # obs-text, as Starlette decodes the bytes of "²"
    ],
)
def test_an_entity_tag_is_a_version_of_ours_or_one_no_version_matches(
    header: str | None, expected: tuple[int | None, bool]
) -> None:
    assert _parse_if_match(header) == expected


@pytest.mark.parametrize("header", ["3", "W/3", '"3', '3"', '"3", "4"', '"a b"', '"a"b"', "**", "", '"\x7f"'])
def test_text_that_is_not_one_entity_tag_is_refused_naming_the_header(header: str) -> None:
    with pytest.raises(InvalidCommandError) as refused:
        _parse_if_match(header)
    assert refused.value.field == "If-Match"


@pytest.mark.parametrize("text", ["0", "86400", "2027-1-1", "2027-01-01T00:00", "20270101"])
def test_a_query_date_is_read_only_as_yyyy_mm_dd(text: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Day).validate_python(text)
    assert TypeAdapter(Day).validate_python("2027-01-31") == date(2027, 1, 31)


@pytest.mark.parametrize("value", [0, 86400, "0", "1700000000", 1.5e9, "2027-01-01T00:00:00"])
def test_a_body_date_is_read_only_as_yyyy_mm_dd(value: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        Thing.model_validate({"name": "x", "on": value})
    assert [e["loc"] for e in refused.value.errors()] == [("on",)]
    assert Thing.model_validate({"name": "x", "on": "2027-01-31"}).on == date(2027, 1, 31)


@pytest.mark.parametrize("text", ["1.0", "+1", " 1", "1_000", "1e2", "0x10", ""])
def test_a_whole_number_is_read_only_as_decimal_digits(text: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Whole).validate_python(text)
    assert TypeAdapter(Whole).validate_python("12") == 12


async def test_405_lists_in_allow_every_method_of_every_route_at_the_path() -> None:
    async with client() as http:
        for method in ("TRACE", "PATCH", "PUT", "OPTIONS"):
            response = await http.request(method, "/things/42")
            assert response.status_code == 405, response.text
            assert response.headers["allow"] == "DELETE, GET"
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 405
        response = await http.request("DELETE", "/things")
        assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
        assert (await http.request("TRACE", "/nothing")).status_code == 404
        assert (await http.get("/things/42")).status_code == 200


async def test_405_needs_no_token_but_the_route_still_does() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://http") as http:
        assert (await http.request("TRACE", "/things")).status_code == 405
        assert (await http.get("/things")).status_code == 401


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"{", "application/json"), (b"[]", "application/json"), (b"null", "application/json"), (b"a=b", "text/plain")],
)
async def test_a_body_that_is_not_a_json_object_is_400_naming_the_body(content: bytes, content_type: str) -> None:
    async with client() as http:
        response = await http.post("/things", content=content, headers={"content-type": content_type})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["body"]


async def test_a_field_that_is_wrong_in_a_json_object_is_still_422_naming_it() -> None:
    async with client() as http:
        response = await http.post("/things", json={"name": "x", "on": 0})
        query = await http.get("/things", params={"limit": "1.0", "on": "0"})
    assert response.status_code == 422 and [e["field"] for e in response.json()["errors"]] == ["on"]
    assert query.status_code == 422 and sorted(e["field"] for e in query.json()["errors"]) == ["limit", "on"]


async def test_the_openapi_document_shows_the_400_on_operations_that_take_a_body_only() -> None:
    async with client() as http:
        document = (await http.get("/openapi.json")).json()
    assert "400" in document["paths"]["/things"]["post"]["responses"]
    assert "400" not in document["paths"]["/things"]["get"]["responses"]
