"""Fuzzing a service's HTTP API from its OpenAPI document with schemathesis: a fixed seed, a bounded number of
cases per operation and generation mode (valid and invalid input), the service in process (its ASGI app, with its
lifespan: database schema, Kafka topics, relay and consumers) on the test PostgreSQL and Kafka.

Half of the cases address aggregates that exist (ids of a project, a milestone, a budget, ... made before the run),
so that the fuzzer reaches the domain and not only the 404 of an unknown id.

Every answer is checked and every finding kept (the runs are not stopped at the first): the tests then assert on
the findings by kind. Run once per service and cached, so that the tests of one service share one run.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from sqlalchemy import text

from shared.auth import mint_token
from shared.db import create_engine
from shared.infra.system import Endpoints

# Hypothesis keeps a cache under ``.hypothesis/`` in the working directory: not in the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "pmo-fuzz-hypothesis")

SEED = 20251125
EXAMPLES = 10
"""Cases per operation and generation mode (so up to twice that per operation)."""
PROBLEM = "application/problem+json"
AUTH = {"Authorization": f"Bearer {mint_token('dora.director', ['director'], ttl_seconds=3 * 3600)}"}
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
HOSTILE = "hostile"
"""A third pass: valid cases with one text value (body, query or path) replaced by what attackers send."""

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
    mode: str
    status: int
    detail: str
    request: str
    answer: str

    def line(self) -> str:
        return (
            f"[{self.check}] {self.operation} ({self.mode}) -> {self.status}: {self.detail}\n"
            f"    request: {self.request}\n    answer: {self.answer}"
        )


@dataclass
class FuzzResult:
    service: str
    operations: int = 0
    cases: int = 0
    seconds: float = 0.0
    seeded: dict[str, list[str]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
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
            f"(seed {SEED}, at most {EXAMPLES} per operation and mode; existing {', '.join(self.seeded) or 'none'} "
            f"in half of the paths), statuses {dict(sorted(self.statuses.items()))}, findings "
            f"{dict(self.counts) or 'none'}"
        )


RESULTS: dict[str, FuzzResult] = {}


def fuzz(service: str, infra: Endpoints) -> FuzzResult:
    """The findings of fuzzing ``service`` (run once per process)."""
    if service not in RESULTS:
        RESULTS[service] = _fuzz(service, infra)
    return RESULTS[service]


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
        api = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app's lifespan
        document = app.openapi()
        result.seeded = SEEDERS.get(service, _nothing)(app, infra, db_schema)
        for found in api.get_all_operations():
            if not isinstance(found, Ok):  # an operation schemathesis cannot read: a finding about the document
                result.errors.append(f"unreadable operation: {_first_line(found.err())}")
                continue
            operation = found.ok()
            result.operations += 1
            for mode in MODES:
                _run(operation, mode, document, result)
            _run(operation, GenerationMode.POSITIVE, document, result, hostile=True)
    finally:
        asgi.shutdown_lifespans()
        asyncio.run(_drop(infra.database_url, db_schema))
        result.seconds = time.monotonic() - started
    return result


def _run(
    operation: Any, mode: GenerationMode, document: dict[str, Any], result: FuzzResult, *, hostile: bool = False
) -> None:
    known = result.seeded
    label = HOSTILE if hostile else mode.value

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @seed(SEED)
    def one(case: Any, data: Any) -> None:
        for name in list(case.path_parameters or {}):
            if name in known and data.draw(st.booleans(), label=f"known {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(known[name]), label=name)
        if hostile:
            _inject(case, data)
        answer = case.call(headers=AUTH)
        result.cases += 1
        result.statuses[answer.status_code] += 1
        for check, run in CHECKS.items():
            try:
                detail = run(case, answer, document)
            except FailureGroup as group:  # a schemathesis check raises its failures as a group
                detail = "; ".join(_first_line(e) for e in group.exceptions)
            except Exception as exc:
                detail = _first_line(exc)
            if detail:
                result.add(_finding(check, operation.label, label, case, answer, detail))

    try:
        one()
    except Unsatisfiable:
        pass  # e.g. no invalid input exists for an operation without parameters
    except Exception as exc:  # the fuzzer itself failed on this operation: reported, never hidden
        result.errors.append(f"{operation.label} ({label}): {_first_line(exc)}")


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


def _finding(check: str, label: str, mode: str, case: Any, answer: Any, detail: str) -> Finding:
    try:
        request = case.as_curl_command(headers={"Authorization": "Bearer <director token>"})
    except Exception:  # pragma: no cover - only for the report
        request = f"{case.method} {case.formatted_path}"
    return Finding(check, label, mode, answer.status_code, detail, request, _text(answer)[:600])


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {' '.join(lines[:3])}"[:400]


def _text(answer: Any) -> str:
    try:
        return str(answer.content.decode(errors="replace"))
    except Exception:  # pragma: no cover
        return ""


def _content_type(answer: Any) -> str:
    value = answer.headers.get("content-type") or [""]
    return str(value[0] if isinstance(value, list) else value)


# --- the checks ----------------------------------------------------------------------------------------------


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


# --- aggregates that exist, for half of the cases ------------------------------------------------------------


def _nothing(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    return {}


def _client(app: Any) -> Any:
    client = asgi.get_client(app)
    client.headers.update(AUTH)
    return client


def _created(answer: Any, key: str) -> str | None:
    return str(answer.json()[key]) if answer.status_code in (200, 201) else None


def _projects(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    known: dict[str, list[str]] = {}
    with _client(app) as c:
        c.post("/portfolios", json={"portfolio_id": "fuzz-pf", "name": "Fuzz"})
        c.post("/portfolios/fuzz-pf/programmes", json={"programme_id": "fuzz-pg", "name": "Fuzz"})
        known["portfolio_id"] = ["fuzz-pf"]
        project = c.post(
            "/projects",
            json={
                "code": "FUZZ-1",
                "name": "Fuzzed",
                "sponsor": "dora",
                "manager": "max",
                "planned_start": "2027-01-04",
                "planned_end": "2027-12-17",
                "currency": "EUR",
                "portfolio_id": "fuzz-pf",
                "programme_id": "fuzz-pg",
            },
        )
        pid = _created(project, "project_id")
        if pid is None:
            return known
        known["project_id"] = [pid]
        base = f"/projects/{pid}"
        steps = {
            "milestone_id": (
                "milestones",
                {"name": "Design", "due_date": "2027-03-31", "planned_value": {"amount": "1000.00", "currency": "EUR"}},
            ),
            "kpi_id": (
                "kpis",
                {"name": "Reach", "unit": "%", "target": "80", "direction": "at_least", "review_date": "2027-06-30"},
            ),
            "partner_id": ("partners", {"name": "ACME", "kind": "external_partner", "role": "supplier"}),
        }
        for key, (path, body) in steps.items():
            made = _created(c.post(f"{base}/{path}", json=body), key)
            if made:
                known[key] = [made]
        if "partner_id" in known:
            body = {
                "partner_id": known["partner_id"][0],
                "on": "2027-01-10",
                "channel": "email",
                "summary": "kick-off",
                "follow_up_due": "2027-02-01",
            }
            made = _created(c.post(f"{base}/communications", json=body), "communication_id")
            if made:
                known["communication_id"] = [made]
    return known


def _budget(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    pid, mid = uuid.uuid4(), uuid.uuid4()

    async def reference() -> None:  # what the budget service would have consumed from pmo.projects.v1
        engine = create_engine(infra.database_url, db_schema, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO known_projects VALUES (:p, 'FUZZ-1', 'EUR', 'proposed')"), {"p": pid}
                )
                await conn.execute(
                    text("INSERT INTO known_milestones VALUES (:m, :p, 'Design', '2027-03-31')"), {"m": mid, "p": pid}
                )
        finally:
            await engine.dispose()

    asyncio.run(reference())
    known: dict[str, list[str]] = {"project_id": [str(pid)], "milestone_id": [str(mid)]}
    eur = {"amount": "1000.00", "currency": "EUR"}
    base = f"/budgets/{pid}"
    with _client(app) as c:
        c.post(f"{base}/baseline", json={"total": eur, "categories": [{"category": "labour", "amount": eur}]})
        made = {
            "change_id": _created(
                c.post(f"{base}/change-requests", json={"category": "labour", "amount": eur, "reason": "more"}),
                "change_id",
            ),
            "source_id": _created(
                c.post(f"{base}/funding-sources", json={"name": "Grant", "kind": "grant"}), "source_id"
            ),
            "commitment_id": _created(
                c.post(
                    f"{base}/commitments",
                    json={"kind": "purchase_order", "vendor": "ACME", "reference": "PO-1", "category": "labour",
                          "amount": {"amount": "100.00", "currency": "EUR"}},
                ),
                "commitment_id",
            ),
        }  # fmt: skip
        if made["source_id"]:
            made["tranche_id"] = _created(
                c.post(
                    f"{base}/funding-sources/{made['source_id']}/tranches",
                    json={"amount": eur, "available_on": "2027-02-01"},
                ),
                "tranche_id",
            )
    known |= {k: [v] for k, v in made.items() if v}
    return known


def _reporting(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    from shared.contracts import budget as b
    from shared.contracts import projects as p
    from shared.money import Money

    pid, mid = uuid.uuid4(), uuid.uuid4()
    today = date.today()
    eur = Money.of("1000.00", "EUR")
    facts = [
        (
            "projects",
            p.ProjectRegistered(
                project_id=pid,
                portfolio_id="fuzz-pf",
                programme_id=None,
                code="FUZZ-1",
                name="Fuzzed",
                objectives="",
                sponsor="dora",
                manager="max",
                planned_start=today - timedelta(days=60),
                planned_end=today + timedelta(days=120),
                currency="EUR",
            ),
        ),
        (
            "projects",
            p.MilestonePlanned(
                project_id=pid,
                milestone_id=mid,
                name="Design",
                due_date=today,
                planned_value=eur,
                acceptance_criteria="",
            ),
        ),
        (
            "budget",
            b.BudgetBaselined(
                project_id=pid,
                total=eur,
                categories=[b.CategoryAmount(category=b.CostCategory.LABOUR, amount=eur)],
                phasing=[],
                baselined_by="fiona",
            ),
        ),
    ]

    async def store() -> None:  # what the reporting service would have consumed from the topics
        engine = create_engine(infra.database_url, db_schema, pool_size=1)
        try:
            async with engine.begin() as conn:
                for service, event in facts:
                    await conn.execute(
                        text(
                            "INSERT INTO facts (project_id, event_id, service, name, version, recorded_at, data) "
                            "VALUES (:p, :e, :s, :n, :v, :t, :d)"
                        ),
                        {
                            "p": pid,
                            "e": uuid.uuid4(),
                            "s": service,
                            "n": event.event_name,
                            "v": event.event_version,
                            "t": datetime.now(UTC) - timedelta(days=30),
                            "d": json.dumps(event.model_dump(mode="json")),
                        },
                    )
        finally:
            await engine.dispose()

    asyncio.run(store())
    return {"project_id": [str(pid)], "portfolio_id": ["fuzz-pf"], "figure": ["cpi", "ev", "bac", "vac"]}


def _resources(app: Any, infra: Endpoints, db_schema: str) -> dict[str, list[str]]:
    known: dict[str, list[str]] = {"role": ["developer"], "department": ["engineering"]}
    with _client(app) as c:
        made = _created(
            c.post(
                "/resources",
                json={
                    "name": "Ada Lovelace",
                    "kind": "person",
                    "role": "developer",
                    "department": "engineering",
                    "weekly_capacity_hours": "40",
                    "currency": "EUR",
                },
            ),
            "resource_id",
        )
        if made:
            known["resource_id"] = [made]
            c.post(
                f"/resources/{made}/rates",
                json={"hourly_rate": {"amount": "80.00", "currency": "EUR"}, "effective_from": "2020-01-06"},
            )
    return known


SEEDERS: dict[str, Callable[[Any, Endpoints, str], dict[str, list[str]]]] = {
    "projects": _projects,
    "budget": _budget,
    "reporting": _reporting,
    "resources": _resources,
}


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
