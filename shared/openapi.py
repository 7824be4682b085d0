"""The OpenAPI document of a service as it really answers and as it really reads input (served at ``/openapi.json``).

:func:`documented` post-processes FastAPI's document once per process:

* every error as ``application/problem+json`` (a ``Problem``), 401/403 on every secured operation, 400 and 413 where
  there is a body, 412 and the command headers (``ETag``, ``Location``, ``Idempotent-Replayed``) where a command
  takes ``If-Match``, a required ``ETag`` on the answers of the reads whose route writes one (:func:`etag_operations`:
  an aggregate read with its version, for the next command's ``If-Match``), ``text/csv`` beside the JSON answer where
  an operation takes ``format=csv``;
* every bound the request models check, stated where JSON Schema can state it, each derived from where the code
  keeps it (never copied by hand): decimals from their field's ``ge``/``gt``/``le``/``lt``, ``max_digits`` and
  ``decimal_places`` (an integer within the bounds, or plain decimal text whose pattern is generated from them), text
  without the characters :func:`shared.bounds.forbidden_character` refuses (:data:`shared.bounds.REFUSED_CHARACTERS`),
  text that must not be blank once trimmed (:data:`shared.bounds.WHITESPACE`), dates in the business range, ISO 4217
  currencies, headers absent rather than null, query bounds under their JSON Schema names.

What JSON Schema cannot state is listed in docs/problems.md ("What the document cannot say").
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute

from shared.bounds import DATE_PATTERN, REFUSED_CHARACTERS, WHITESPACE
from shared.money import MINOR_UNITS
from shared.problems import PROBLEM, Problem


def documented(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document as the service really answers: every error as ``application/problem+json`` (a Problem),
    401/403 on every secured operation, and ``text/csv`` where an operation takes ``format=csv``."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = FastAPI.openapi(app)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    for name, component in components.items():  # Money-Input and Money-Output: one title each, as client
        if name.endswith(("-Input", "-Output")):  # generators name their classes after the title
            component["title"] = name.replace("-", "")
    problem_content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    versioned, unversioned = etag_operations(app), unversioned_commands(app)
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if path not in ("/healthz", "/readyz"):
                responses.setdefault("401", {"description": "Missing, invalid or expired bearer token"})
                responses.setdefault("403", {"description": "The token's roles do not allow this operation"})
            responses.setdefault("414", {"description": "The path or query string is longer than the service takes"})
            responses.setdefault("431", {"description": "The headers are larger than the service takes"})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body is not JSON, or not a JSON object"})
                responses.setdefault("413", {"description": "The body is larger than the service takes"})
            if any(p.get("name", "").lower() == "if-match" for p in operation.get("parameters", [])):
                responses.setdefault("412", {"description": "If-Match is stale: the aggregate moved on"})
                for status, response in responses.items():  # a command: its answer's headers (see respond)
                    if status.startswith("2"):
                        etag = operation.get("operationId") not in unversioned
                        response.setdefault("headers", {}).update(_command_headers(status, etag=etag))
            elif operation.get("operationId") in versioned:
                for status, response in responses.items():  # a read that answers the aggregate's version
                    if status.startswith("2"):
                        response.setdefault("headers", {})["ETag"] = _etag_header(READ_ETAG)
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = dict(problem_content)
            if any(p.get("name") == "format" for p in operation.get("parameters", [])) and "200" in responses:
                responses["200"].setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}
    _name_operational_answers(schema)
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components and unused not in json.dumps(schema.get("paths", {})):
            components.pop(unused)
    _state_input_bounds(schema)
    app.openapi_schema = schema
    return schema


_OPERATIONAL = {
    "getHealth": (
        "Health",
        {
            "type": "object",
            "description": "The process is alive: status ok and the service's name",
            "properties": {"status": {"type": "string", "enum": ["ok"]}, "service": {"type": "string"}},
            "required": ["status", "service"],
        },
    ),
    "getReadiness": ("Readiness", None),
}
"""The answers of ``/healthz`` and ``/readyz`` (made by :func:`shared.web.create_app`), as named schemas."""


def _name_operational_answers(schema: dict[str, Any]) -> None:
    """``/healthz`` and ``/readyz`` answer with named schemas (``Health``, ``Readiness``), as every other 200 does."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            named = _OPERATIONAL.get(operation.get("operationId", ""))
            media = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
            if named is None or media is None:
                continue
            name, stated = named
            components[name] = {**(stated or media.get("schema", {})), "title": name}
            media["schema"] = {"$ref": f"#/components/schemas/{name}"}


# --- what the input bounds are, stated in the document --------------------------------------------------------

_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
"""Constraints FastAPI leaves under their Python names on an ``Annotated`` query type (``Whole``): JSON Schema's."""
_DECIMAL_KEYS = ("ge", "gt", "le", "lt", "max_digits", "decimal_places")
"""What pydantic leaves under its Python names beside an exact decimal's ``anyOf`` (it cannot put them on a branch)."""
FREE_TEXT_PATTERN = f"^[^{REFUSED_CHARACTERS}]*$"
"""Text as :func:`shared.bounds.forbidden_character` takes it: no control character but tab and line breaks, no
bidirectional override (lone surrogates cannot be written in JSON Schema and are refused all the same)."""
_NULL = {"type": "null"}
_LEADING_ZEROS = 20
"""Leading zeros a decimal's text may have (``"012.30"`` is 12.30, as the service reads it; it reads at most 40
digits)."""
_DEFAULT_DIGITS = 18
"""Whole and fractional digits of an exact decimal whose field states no ``max_digits`` (far below the 40 digits
:mod:`shared.money` reads, and below its largest value)."""


def non_blank_pattern(min_length: int) -> str:
    """Text of at least ``min_length`` characters once trimmed of :data:`~shared.bounds.WHITESPACE` (a request body
    is trimmed before its bounds are checked), without a refused character."""
    text, solid = f"[^{REFUSED_CHARACTERS}]", f"[^{WHITESPACE}{REFUSED_CHARACTERS}]"
    if min_length <= 1:
        return f"^{text}*{solid}{text}*$"
    return f"^{text}*{solid}{text}{{{min_length - 2},}}{solid}{text}*$"


def _same_length(low: str, high: str) -> str:
    """The integers from ``low`` to ``high`` (decimal strings of one length, ``low <= high``), as a regex."""
    if not low:
        return ""
    if low == high:
        return low
    rest = len(low) - 1
    if low[1:] == "0" * rest and high[1:] == "9" * rest:  # every number from a0 00..0 to b0 99..9
        digits = low[0] if low[0] == high[0] else f"[{low[0]}-{high[0]}]"
        return digits + (f"[0-9]{{{rest}}}" if rest else "")
    if low[0] == high[0]:
        return low[0] + _group(_same_length(low[1:], high[1:]))
    parts = [low[0] + _group(_same_length(low[1:], "9" * rest))] if rest else [low[0]]
    first, last = int(low[0]) + 1, int(high[0]) - 1
    if first <= last:
        digits = str(first) if first == last else f"[{first}-{last}]"
        parts.append(digits + (f"[0-9]{{{rest}}}" if rest else ""))
    parts.append(high[0] + _group(_same_length("0" * rest, high[1:])) if rest else high[0])
    return "|".join(parts)


def _group(regex: str) -> str:
    return f"({regex})" if "|" in regex else regex


def integer_range(low: int, high: int) -> str:
    """The integers ``low`` .. ``high`` (``0 <= low <= high``) written without leading zeros, as a regex (no
    anchors)."""
    parts = []
    for length in range(len(str(low)), len(str(high)) + 1):
        a = max(low, 10 ** (length - 1) if length > 1 else 0)
        b = min(high, 10**length - 1)
        if a <= b:
            parts.append(_same_length(str(a), str(b)))
    return "|".join(_group(p) for p in parts)


def decimal_text(*, positive: bool, signed: bool, below: int, upto: int | None, places: int) -> str:
    """The plain decimal strings with at most ``places`` decimals whose absolute value lies below ``below`` (an
    integer) or equals ``upto`` (only zeros after the point); above zero if ``positive``, possibly negative if
    ``signed``; leading zeros allowed: the pattern stating an exact decimal's bounds."""
    fraction = f"(\\.[0-9]{{1,{places}}})?" if places else ""
    zeros = f"(\\.0{{1,{places}}})?" if places else ""
    options = []
    if positive:
        if places:  # 0.x with a digit other than zero
            options.append("0\\.(" + "|".join(f"0{{{k}}}[1-9][0-9]{{0,{places - k - 1}}}" for k in range(places)) + ")")
        if below > 1:
            options.append(f"({integer_range(1, below - 1)}){fraction}")
    elif below > 0:
        options.append(f"({integer_range(0, below - 1)}){fraction}")
    if upto is not None:
        options.append(f"{upto}{zeros}")
    return f"^{'-?' if signed else ''}0{{0,{_LEADING_ZEROS}}}({'|'.join(options)})$"


def _exact_decimal(node: dict[str, Any], number: dict[str, Any]) -> list[dict[str, Any]]:
    """An exact decimal's two documented forms, from its field's bounds (left on ``node`` or on its ``number``
    branch by pydantic): an integer within them, or plain decimal text whose pattern states them."""
    bounds = {key: node.pop(key) for key in _DECIMAL_KEYS if key in node}
    for key, keyword in _KEYWORDS.items():
        if keyword in number and key not in bounds:
            bounds[key] = number[keyword]
        if key in number and key not in bounds:
            bounds[key] = number[key]
    places = int(bounds.get("decimal_places", _DEFAULT_DIGITS))
    whole = int(bounds["max_digits"]) - places if "max_digits" in bounds else _DEFAULT_DIGITS
    below, upto = 10**whole, None
    for key, inclusive in (("le", True), ("lt", False)):
        if key in bounds:
            limit = Decimal(str(bounds[key]))
            if limit != limit.to_integral_value() or limit < 0:
                raise ValueError(f"an exact decimal's {key} must be a whole number >= 0 to be documented: {limit}")
            if int(limit) < below:
                below, upto = int(limit), (int(limit) if inclusive else None)
    low = bounds.get("ge", bounds.get("gt"))
    if low is not None and Decimal(str(low)) != 0:
        raise ValueError(f"an exact decimal's lower bound must be 0 (ge or gt) to be documented: {low}")
    positive, signed = "gt" in bounds, low is None
    largest = upto if upto is not None else below - 1
    integer: dict[str, Any] = {"type": "integer", "minimum": -largest if signed else int(positive), "maximum": largest}
    pattern = decimal_text(positive=positive, signed=signed, below=below, upto=upto, places=places)
    return [integer, {"type": "string", "pattern": pattern}]


def _state_input_bounds(schema: dict[str, Any]) -> None:
    """The bounds the request models check, stated in the document where JSON Schema can state them (see the module's
    docstring), so that a client (or a fuzzer) that keeps to the document is not refused for what it could not read.
    Only the schemas a request reaches change."""
    components = schema.get("components", {}).get("schemas", {})
    inputs: set[str] = set()

    def reach(node: Any) -> None:
        if isinstance(node, dict):
            ref = str(node.get("$ref", ""))
            name = ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else ""
            if name and name not in inputs and name in components:
                inputs.add(name)
                reach(components[name])
            for value in node.values():
                reach(value)
        elif isinstance(node, list):
            for value in node:
                reach(value)

    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                header = parameter.get("in") == "header"
                parameter["schema"] = _bounded(parameter.get("schema", {}), header=header)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                reach(media.get("schema", {}))
                media["schema"] = _bounded(media.get("schema", {}), trimmed=True)
    for name in sorted(inputs - {"Problem", "FieldError"}):
        components[name] = _bounded(components[name], trimmed=True)
    money = components.get("Money-Input")
    if money is not None:
        money["properties"]["currency"] = {"type": "string", "enum": sorted(MINOR_UNITS), "title": "Currency"}


def _decimal(node: dict[str, Any]) -> list[Any] | None:
    """pydantic's number-or-string of a ``Decimal`` as this API takes it: an integer or a plain decimal string, both
    within the field's bounds."""
    options = node["anyOf"]
    numbers = [o for o in options if isinstance(o, dict) and o.get("type") == "number"]
    texts = [o for o in options if isinstance(o, dict) and o.get("type") == "string" and len(o) == 1]
    if len(numbers) != 1 or len(texts) != 1:
        return None
    integer, text = _exact_decimal(node, numbers[0])
    return [integer if o is numbers[0] else text if o is texts[0] else o for o in options]


def _bounded(node: Any, *, header: bool = False, trimmed: bool = False) -> Any:
    """``node`` (a JSON Schema) with its bounds stated (see :func:`_state_input_bounds`); ``trimmed``: text is
    trimmed before it is checked (a request body's)."""
    if isinstance(node, list):
        return [_bounded(item, trimmed=trimmed) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") in ("integer", "number"):
        node = {_KEYWORDS.get(key, key): value for key, value in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o != _NULL]
        if header and len(rest) == 1 and len(options) == 2:  # a header is absent or has a value, never null
            return _bounded({**{k: v for k, v in node.items() if k != "anyOf"}, **rest[0]})
        node["anyOf"] = _decimal(node) or options
    for key in ("properties", "$defs"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _bounded(value, trimmed=trimmed) for name, value in node[key].items()}
    for key in ("items", "anyOf", "oneOf", "allOf", "prefixItems"):
        if key in node:
            node[key] = _bounded(node[key], trimmed=trimmed)
    if node.get("type") == "string" and not {"enum", "const"} & node.keys():
        if "pattern" in node:  # the field's own pattern: the characters refused besides it are not in its classes
            node["pattern"] = str(node["pattern"]).replace("[^", f"[^{REFUSED_CHARACTERS}")
        elif node.get("format") == "date":
            node["pattern"] = DATE_PATTERN
        elif "format" not in node:
            minimum = int(node.get("minLength", 0))
            node["pattern"] = non_blank_pattern(minimum) if trimmed and minimum > 0 else FREE_TEXT_PATTERN
    return node


# --- the headers of answers: a command's, a versioned read's ------------------------------------------


ETAG_PATTERN = r'^"[0-9]{1,9}"$'
"""An ``ETag`` as the services write it: the aggregate's version, a strong entity tag (``"3"``)."""
READ_ETAG = (
    'The aggregate\'s version as read, e.g. "3": send it back as If-Match with the next command on it (a read '
    "answers in full every time: If-None-Match is not evaluated)"
)


def _etag_header(description: str) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": "string", "pattern": ETAG_PATTERN}}


def etag_operations(app: FastAPI) -> set[str]:
    """The operationIds whose route writes an ``ETag`` header itself (``headers={"ETag": ...}`` in the route: a read
    of an aggregate answering its version; commands set theirs through :func:`shared.web.respond`). Found in the
    compiled route (the header's name among its code's constants), so a new route that answers an ETag is documented
    without a word per route."""
    found = set()
    for route in api_routes(app):
        code = getattr(route.endpoint, "__code__", None)
        if code is not None and "ETag" in code.co_consts and route.operation_id:
            found.add(route.operation_id)
    return found


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every :class:`~fastapi.routing.APIRoute` of ``app``, through the routers it includes."""
    contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if contexts is None:  # FastAPI before included routers kept their own routes
        return [r for r in app.routes if isinstance(r, APIRoute)]
    routes = [getattr(c, "original_route", None) for c in contexts(app.routes)]
    return [r for r in routes if isinstance(r, APIRoute)]


def unversioned_commands(app: FastAPI) -> set[str]:
    """The operationIds of the commands that answer no ``ETag``: a route that makes its own answer (a
    ``JSONResponse`` or ``Response``), neither through :func:`shared.web.respond` nor with an ``ETag`` header of its
    own, because what it creates is not an event-sourced aggregate with a version (a webhook subscription). Every
    other command answers its aggregate's version (:func:`shared.web.respond`, or a helper of its route over it)."""
    found = set()
    for route in api_routes(app):
        code = getattr(route.endpoint, "__code__", None)
        if code is None or not route.operation_id:
            continue
        own_answer = {"JSONResponse", "Response"} & set(code.co_names)
        if own_answer and "respond" not in code.co_names and "ETag" not in code.co_consts:
            found.add(route.operation_id)
    return found


def _command_headers(status: str, *, etag: bool = True) -> dict[str, Any]:
    """The headers :func:`shared.web.respond` sets, as OpenAPI documents them on a command's 2xx answer (``etag``:
    whether it answers its aggregate's version)."""
    headers: dict[str, Any] = {
        "Idempotent-Replayed": {
            "description": "true when this is the first answer replayed for a retried Idempotency-Key",
            "schema": {"type": "string", "enum": ["true"]},
        },
    }
    if etag:
        headers["ETag"] = _etag_header('The aggregate\'s version after the command, e.g. "3": send it back as If-Match')
    if status == "201":
        headers["Location"] = {"description": "Where the created resource is read", "schema": {"type": "string"}}
    return headers
