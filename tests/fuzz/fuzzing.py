"""Fuzzing a service's HTTP API from its OpenAPI document with schemathesis' own engine, as ``schemathesis run
--checks all --phases examples,coverage,fuzzing,stateful --mode all`` runs it: every built-in check (no 5xx,
status codes, media types, response schemas and headers, positive data accepted, negative data rejected, missing
required headers, ignored auth, undeclared methods and ``Allow``, use after free, resource availability) plus ours
(:mod:`tests.fuzz.checks`: problem+json, error bodies as documented), over the service in process (its ASGI app,
with its lifespan: database schema, Kafka topics, relay and consumers) on the test PostgreSQL and Kafka.

The seed changes with every run (:data:`SEED`, from ``PMO_FUZZ_SEED`` or the clock) and is printed with the figures
and in every failure, so that a failure found once is replayed with ``PMO_FUZZ_SEED=<seed>``. Half of the generated
paths address aggregates made before the run (a project, a milestone, a budget, ...: :mod:`tests.fuzz.seeders`), so
that the fuzzer reaches the domain and not only the 404 of an unknown id; the stateful phase follows the
``Location`` of what it creates.

A last pass sends valid cases with one text value replaced by what attackers send (:data:`HOSTILE_TEXT`).

Every answer is checked and every failure kept (the run is not stopped at the first): the tests then assert on
the failures by check. Run once per service and cached, so that the tests of one service share one run.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.engine import events, from_schema
from schemathesis.python import asgi
from sqlalchemy import text

from shared.db import create_engine
from shared.infra.system import Endpoints
from tests.fuzz.checks import error_schema_failure, problem_json_failure
from tests.fuzz.seeders import AUTH, SEEDERS, no_aggregates

# Hypothesis keeps a cache under ``.hypothesis/`` in the working directory: not in the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "pmo-fuzz-hypothesis")


def _seed() -> int:
    given_seed = os.environ.get("PMO_FUZZ_SEED", "").strip()
    if given_seed:
        if not given_seed.isdigit() or len(given_seed) > 12:
            raise ValueError(f"PMO_FUZZ_SEED must be a whole number (at most 12 digits), not {given_seed!r}")
        return int(given_seed)
    return time.time_ns() % 1_000_000_007


SEED = _seed()
"""This run's seed: ``PMO_FUZZ_SEED`` to replay one, else a new one per run (printed with the figures)."""
EXAMPLES = 10
"""Cases per operation in the fuzzing phase, per generation mode (the coverage phase makes its own set)."""
PHASES = ("examples", "coverage", "fuzzing", "stateful")
STATEFUL_STEPS = 6
"""Steps per stateful scenario (schemathesis links operations by the ``Location`` of what a POST created)."""

POSITIVE_EXPECTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "429"]
"""What schema-valid input may answer besides success: schemathesis' default list without 5xx (never acceptable
here), with 412 (a syntactically valid ``If-Match`` naming a version the aggregate is not at: state, like 409)."""
NEGATIVE_EXPECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429", "431"]
"""What schema-violating input may answer: schemathesis' default list without 5xx, with 413, 414 and 431 (an
oversized body, URI or header is refused by its size before anything else: RFC 9110)."""

SEMANTIC = "Invalid command"
"""The title of a 422 that a domain rule gave on schema-valid input (a date in the future, a week that does not
start on a Monday, a project this service has not heard of yet): what no JSON Schema can state. Such an answer to a
positive case is counted, not a failure; a 422 from request validation (title ``Invalid request``) on schema-valid
input is a failure: the document and the code disagree."""

INTEGRAL_FLOAT = "not a float"
"""The reason of a refused JSON number written with a fraction or an exponent (``240.0``, ``2.4E2``). JSON Schema
cannot tell it from ``240``: both are the integer 240 in its data model, so a document that offers integers offers
``240.0`` too, while the service refuses every number not written as an integer (a float may have lost digits before
it was sent). The one kind of schema-valid input the document cannot exclude: a refusal of schema-valid input whose
every reason is this one is counted apart (:attr:`FuzzResult.integral_floats`), never as a failure (docs/problems.md,
"What the document cannot say")."""

NULL_LINK = "null"
"""A path parameter a stateful step filled from a nullable field of an earlier answer: schemathesis links a response's
``risk_id`` to every ``{risk_id}`` path parameter, and an issue's ``risk_id`` is null when it is no risk's, so it asks
``POST .../risks/null/responses``, which the document refuses (a UUID) and the service too. A refusal of such a
request is counted apart (:attr:`FuzzResult.null_links`), never as a failure: the request is not schema-valid."""

HOSTILE = "hostile"
HOSTILE_TEXT = (
    "nul\x00byte",
    "\x1b[31mred\x1b[0m",
    "\u202eevil",
    "zero\u200bwidth",
    '=HYPERLINK("http://evil.example")',
    "1E+3000000",
    "1E+30",
    "-1E+30",
    "1_000",
    "\u0661\u0662\u0663",
    "NaN",
    "0001-01-01",
    "9999-12-31",
    "0001-W01",
    "x" * 5000,
)
HOSTILE_BODY_ONLY = ("\ud800 lone surrogate",)
"""Values that only JSON can carry (a URL cannot encode a lone surrogate)."""


@dataclass(frozen=True)
class Finding:
    check: str
    operation: str
    phase: str
    status: int | None
    detail: str
    request: str
    answer: str

    def line(self) -> str:
        return (
            f"[{self.check}] {self.operation} ({self.phase}) -> {self.status}: {self.detail}\n"
            f"    request: {self.request}\n    answer: {self.answer}\n    replay: PMO_FUZZ_SEED={SEED}"
        )


@dataclass
class FuzzResult:
    service: str
    operations: int = 0
    cases: int = 0
    seconds: float = 0.0
    seeded: dict[str, list[str]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    """How many times each check ran (schemathesis' and ours), failed or not."""
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    semantic: int = 0
    integral_floats: int = 0
    null_links: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.counts[finding.check] += 1
        kept = self.findings.setdefault(finding.check, [])
        if len(kept) < 200 and all((f.operation, f.detail) != (finding.operation, finding.detail) for f in kept):
            kept.append(finding)

    def of(self, check: str) -> list[Finding]:
        return self.findings.get(check, [])

    def line(self) -> str:
        return (
            f"{self.service}: {self.cases} cases over {self.operations} operations in {self.seconds:.1f}s "
            f"(seed {SEED}, phases {dict(self.phases)}, {EXAMPLES} examples per operation and mode; existing "
            f"{', '.join(self.seeded) or 'none'} in half of the paths), "
            f"statuses {dict(sorted(self.statuses.items()))}, "
            f"semantic 422s on valid input {self.semantic}, integral floats refused {self.integral_floats}, "
            f"null links refused {self.null_links}, "
            f"checks run {len(self.checks)} ({sum(self.checks.values())} times), "
            f"failures {dict(self.counts) or 'none'}"
        )


RESULTS: dict[str, FuzzResult] = {}


def fuzz(service: str, infra: Endpoints) -> FuzzResult:
    """The failures of fuzzing ``service`` (run once per process)."""
    if service not in RESULTS:
        RESULTS[service] = _fuzz(service, infra)
    return RESULTS[service]


def config() -> schemathesis.Config:
    """``--checks all``, every phase, both generation modes, this run's seed, the director's token."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": AUTH,
            "workers": 1,
            "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": False},
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": POSITIVE_EXPECTED},
                "negative_data_rejection": {"expected-statuses": NEGATIVE_EXPECTED},
            },
            "phases": {
                **{phase: {"enabled": True} for phase in PHASES},
                "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
            },
        }
    )


def _fuzz(service: str, infra: Endpoints) -> FuzzResult:
    result = FuzzResult(service)
    bootstrap = importlib.import_module(f"{service}.bootstrap")
    settings_type = importlib.import_module(f"{service}.settings").Settings
    db_schema = f"t_fuzz_{service}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_consume_from_now_on(infra, db_schema, bootstrap.SPEC.projections))
    app = bootstrap.create_app(
        settings_type(
            env="development",
            database_url=infra.database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            db_schema=db_schema,
            kafka_group_prefix=f"fuzz-{uuid.uuid4().hex[:8]}",
        )
    )
    started = time.monotonic()
    try:
        api = schemathesis.openapi.from_asgi("/openapi.json", app, config=config())  # starts the app's lifespan
        result.seeded = SEEDERS.get(service, no_aggregates)(app, infra, db_schema)
        _known_ids(api, result.seeded)
        _engine(api, result)
        document = app.openapi()
        for found in api.get_all_operations():
            if isinstance(found, Ok):
                _hostile(found.ok(), document, result)
    finally:
        asgi.shutdown_lifespans()
        asyncio.run(_drop(infra.database_url, db_schema))
        result.seconds = time.monotonic() - started
    return result


def _known_ids(api: Any, known: dict[str, list[str]]) -> None:
    """Half of the generated paths name an aggregate that exists."""

    @api.hook  # type: ignore[untyped-decorator]
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
        # Only a value valid for its parameter is replaced: a case generated to break the path (negative data) stays
        # broken (replaced, a negative case left with only an unknown query parameter, which the services ignore,
        # was answered 200 and reported as invalid data accepted).
        names = [
            name
            for name, value in (path_parameters or {}).items()
            if name in known and _valid_path_value(context, name, value)
        ]
        if not names:
            return st.just(path_parameters)
        return st.one_of(
            st.just(path_parameters),
            st.tuples(*(st.sampled_from(known[name]) for name in names)).map(
                lambda ids: {**path_parameters, **dict(zip(names, ids, strict=True))}
            ),
        )


def _valid_path_value(context: Any, name: str, value: Any) -> bool:
    """Whether ``value`` is valid for the operation's path parameter ``name`` (its JSON Schema, formats checked)."""
    import jsonschema

    operation = getattr(context, "operation", None)
    parameter = operation.path_parameters.get(name) if operation is not None else None
    schema = getattr(parameter, "validation_schema", None)
    if not isinstance(schema, dict):
        return True
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return bool(validator.is_valid(value))


def _engine(api: Any, result: FuzzResult) -> None:
    """schemathesis' engine over every phase; every failure kept as a finding."""
    operations: set[str] = set()
    for event in from_schema(api).execute():
        if isinstance(event, events.ScenarioFinished):
            _scenario(event, result, operations)
        elif isinstance(event, events.NonFatalError):
            result.errors.append(f"{event.label}: {_first_line(event.value)}")
        elif isinstance(event, events.FatalError):
            result.errors.append(f"fatal: {_first_line(event.exception)}")
        elif isinstance(event, events.EngineFinished):
            for failure in event.failures:
                result.add(Finding(failure.title, failure.operation or "run", "after run", None,
                                   failure.message[:400], "", ""))  # fmt: skip
    result.operations = len(operations)


def _scenario(event: Any, result: FuzzResult, operations: set[str]) -> None:
    recorder = event.recorder
    phase = event.phase.value
    for case_id, interaction in recorder.interactions.items():
        if interaction.response is not None:
            result.cases += 1
            result.phases[phase] += 1
            result.statuses[interaction.response.status_code] += 1
            node = recorder.cases.get(case_id)
            if node is not None:
                operations.add(node.value.operation.label)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            result.checks[check.name] += 1
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            case = recorder.cases[case_id].value
            interaction = recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            if check.name == "positive_data_acceptance" and _semantic_refusal(response):
                result.semantic += 1
                continue
            if check.name == "positive_data_acceptance" and _integral_float_refusal(response):
                result.integral_floats += 1
                continue
            if check.name == "positive_data_acceptance" and _null_link(case, response):
                result.null_links += 1
                continue
            result.add(
                Finding(
                    check.name,
                    case.operation.label,
                    phase,
                    response.status_code if response is not None else None,
                    f"{failure.title}: {' '.join(str(failure.message).split())[:400]}",
                    _curl(case),
                    _text(response)[:600] if response is not None else "",
                )
            )


def _semantic_refusal(response: Any) -> bool:
    if response is None or response.status_code != 422:
        return False
    try:
        return bool(json.loads(response.content).get("title") == SEMANTIC)
    except (ValueError, AttributeError):
        return False


def _null_link(case: Any, response: Any) -> bool:
    """Whether ``response`` is a 422 to a request with a path parameter that is null (see :data:`NULL_LINK`)."""
    if response is None or response.status_code != 422:
        return False
    parameters = getattr(case, "path_parameters", None) or {}
    return any(value is None or value == NULL_LINK for value in parameters.values())


def _integral_float_refusal(response: Any) -> bool:
    """Whether ``response`` is a 422 whose every error is a JSON number refused for being written as a float (see
    :data:`INTEGRAL_FLOAT`)."""
    if response is None or response.status_code != 422:
        return False
    try:
        errors = json.loads(response.content).get("errors") or []
    except (ValueError, AttributeError):
        return False
    return bool(errors) and all(INTEGRAL_FLOAT in str(error.get("reason", "")) for error in errors)


def _hostile(operation: Any, document: dict[str, Any], result: FuzzResult) -> None:
    """Valid cases of ``operation`` with one text value replaced by a hostile one: no 5xx, problem+json errors."""
    known = result.seeded

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE), data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @seed(SEED)
    def one(case: Any, data: Any) -> None:
        for name in list(case.path_parameters or {}):
            if name in known and data.draw(st.booleans(), label=f"known {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(known[name]), label=name)
        _inject(case, data)
        answer = case.call(headers=AUTH)
        result.cases += 1
        result.phases[HOSTILE] += 1
        result.statuses[answer.status_code] += 1
        details = []
        try:
            case.validate_response(answer, checks=[not_a_server_error])
        except FailureGroup as group:
            details += [_first_line(e) for e in group.exceptions]
        except AssertionError as exc:
            details.append(_first_line(exc))
        details += [
            d
            for d in (
                problem_json_failure(answer),
                error_schema_failure(document, operation.path, case.method, answer),
            )
            if d
        ]
        for detail in details:
            result.add(Finding(HOSTILE, operation.label, HOSTILE, answer.status_code, detail, _curl(case),
                               _text(answer)[:600]))  # fmt: skip

    try:
        one()
    except Unsatisfiable:
        pass
    except Exception as exc:  # the fuzzer itself failed on this operation: reported, never hidden
        result.errors.append(f"{operation.label} ({HOSTILE}): {_first_line(exc)}")


def _inject(case: Any, data: Any) -> None:
    """Replace one text value of ``case`` (a body string, a query or a path parameter) by a hostile one."""
    places: list[tuple[str, Any, Any]] = []

    def collect(container: Any) -> None:
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, value in list(items):
            if isinstance(value, str):
                places.append(("body", container, key))
            elif isinstance(value, (dict, list)):
                collect(value)

    if isinstance(case.body, (dict, list)):
        collect(case.body)
    for kind in ("query", "path_parameters"):
        params = getattr(case, kind, None) or {}
        places.extend((kind, params, key) for key, value in params.items() if isinstance(value, str))
    if not places:
        return
    kind, container, key = data.draw(st.sampled_from(places), label="hostile place")
    choices = HOSTILE_TEXT + (HOSTILE_BODY_ONLY if kind == "body" else ())
    container[key] = data.draw(st.sampled_from(choices), label="hostile value")


def _curl(case: Any) -> str:
    try:
        return str(case.as_curl_command(headers={"Authorization": "Bearer <director token>"}))[:800]
    except Exception:  # pragma: no cover - only for the report
        return f"{case.method} {case.formatted_path}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {' '.join(lines[:3])}"[:400]


def _text(answer: Any) -> str:
    try:
        return str(answer.content.decode(errors="replace"))
    except Exception:  # pragma: no cover
        return ""


async def _consume_from_now_on(infra: Endpoints, db_schema: str, projections: Any) -> None:
    """Store today's end offsets as the consumers' positions, so that the service in the fuzz run does not first
    consume the whole history of the test broker's topics (its read models are seeded directly instead)."""
    from shared import consumer as consumer_module
    from shared.db import migrate
    from shared.kafka import KafkaOptions
    from tests.support.chaos import end_offsets

    topics = sorted({t for p in projections for t in p.topics})
    if not topics:
        return
    kafka = KafkaOptions(bootstrap_servers=infra.kafka_bootstrap_servers)
    ends = await end_offsets(kafka, topics)
    engine = create_engine(infra.database_url, db_schema, pool_size=1)
    try:
        await migrate(engine, db_schema, consumer_module.DDL)
        async with engine.begin() as conn:
            for projection in projections:
                for (topic, partition), offset in ends.items():
                    if topic in projection.topics:
                        await conn.execute(
                            text(
                                "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) "
                                "VALUES (:c, :t, :p, :o)"
                            ),
                            {"c": projection.name, "t": topic, "p": partition, "o": offset},
                        )
    finally:
        await engine.dispose()


async def _drop(database_url: str, db_schema: str) -> None:
    engine = create_engine(database_url, "public", pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{db_schema}" CASCADE'))
    finally:
        await engine.dispose()
