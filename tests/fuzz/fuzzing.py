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
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from sqlalchemy import text

from shared.db import create_engine
from shared.infra.system import Endpoints
from tests.fuzz.checks import CHECKS
from tests.fuzz.seeders import AUTH, SEEDERS, no_aggregates

# Hypothesis keeps a cache under ``.hypothesis/`` in the working directory: not in the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "pmo-fuzz-hypothesis")

SEED = 20251125
EXAMPLES = 10
"""Cases per operation and generation mode (so up to twice that per operation)."""
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
        result.seeded = SEEDERS.get(service, no_aggregates)(app, infra, db_schema)
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
