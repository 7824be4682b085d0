"""Tracing: one trace from a command's HTTP request to the read model another service updates from Kafka, with an
in-memory exporter (real PostgreSQL and Kafka); and the JSON log lines carry the trace and span ids."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from shared import logs, tracing
from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.projects import REGISTRANT, project_body

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # one provider per process: keep one another test installed
        provider = TracerProvider()
        tracing.install(provider)
    tracing.install(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
async def services(infra: Any, spans: InMemorySpanExporter) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        yield {
            "projects": await service_client(stack, "projects", infra, auth_header("dora.director", "director")),
            "budget": await service_client(stack, "budget", infra, auth_header("fiona.finance", "finance")),
        }


def _hex(span: ReadableSpan) -> tuple[str, str, str | None]:
    context = span.get_span_context()
    assert context is not None
    parent = format(span.parent.span_id, "016x") if span.parent is not None else None
    return format(context.trace_id, "032x"), format(context.span_id, "016x"), parent


async def test_one_trace_goes_from_the_request_through_the_command_and_kafka_to_another_services_read_model(
    services: dict[str, httpx.AsyncClient], spans: InMemorySpanExporter
) -> None:
    response = await services["projects"].post(
        "/projects",
        json=project_body(),
        headers={**auth_header(REGISTRANT, "pmo"), "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
    )
    assert response.status_code == 201, response.text
    project_id = response.json()["project_id"]
    budget_engine = services["budget"].app.state.runtime.engine  # type: ignore[attr-defined]

    async def known_to_budget() -> None:
        async with budget_engine.connect() as conn:
            query = text("SELECT count(*) FROM known_projects WHERE project_id = :p")
            found = await conn.scalar(query, {"p": project_id})
        assert found == 1

    await eventually(known_to_budget, timeout=60)

    def in_trace() -> dict[str, ReadableSpan]:
        found = {s.name: s for s in spans.get_finished_spans() if _hex(s)[0] == CALLER_TRACE}
        assert "apply budget.projects" in found, sorted(found)
        return found

    found = await eventually(_sync(in_trace), timeout=60)
    by_id = {_hex(s)[1]: s for s in spans.get_finished_spans() if _hex(s)[0] == CALLER_TRACE}

    def descends(span: ReadableSpan, ancestor: ReadableSpan) -> bool:
        parent = _hex(span)[2]
        while parent is not None and parent in by_id:
            if parent == _hex(ancestor)[1]:
                return True
            parent = _hex(by_id[parent])[2]
        return False

    server = found["POST /projects"]
    command = found["command RegisterProject"]
    append = found["eventstore.append"]
    publish = found["publish pmo.projects.v1"]
    apply = found["apply budget.projects"]
    assert _hex(server)[2] == CALLER_SPAN  # the caller's span is the request's parent
    assert server.kind == trace.SpanKind.SERVER
    assert descends(command, server) and _hex(append)[2] == _hex(command)[1]
    # The event keeps the request's span as its cause: Kafka's headers carry it to the relay and the consumers.
    assert descends(publish, server) and publish.kind == trace.SpanKind.PRODUCER
    assert descends(apply, server) and apply.kind == trace.SpanKind.CONSUMER
    assert apply.attributes is not None and apply.attributes["messaging.destination.name"] == "pmo.projects.v1"
    assert apply.attributes["pmo.read_model"] == "budget.projects"
    print(
        "\ntrace",
        CALLER_TRACE,
        {name: round(((s.end_time or 0) - (s.start_time or 0)) / 1e6, 1) for name, s in sorted(found.items())},
        "ms",
    )


def _sync(check: Any) -> Any:
    async def run() -> Any:
        return check()

    return run


def test_a_log_line_carries_the_current_spans_trace_and_span_ids(spans: InMemorySpanExporter) -> None:
    formatter = logs.JsonFormatter("projects")
    record = logging.LogRecord("pmo", logging.INFO, __file__, 1, "inside", (), None)
    with trace.get_tracer("test").start_as_current_span("work") as span:
        line = json.loads(formatter.format(record))
        context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    token = logs.traceparent.set(f"00-{CALLER_TRACE}-{CALLER_SPAN}-01")
    try:  # outside any span: the ids of the traceparent being served
        line = json.loads(formatter.format(record))
    finally:
        logs.traceparent.reset(token)
    assert (line["trace_id"], line["span_id"]) == (CALLER_TRACE, CALLER_SPAN)


def test_tracing_is_off_unless_the_standard_variables_ask_for_it_and_an_unknown_exporter_is_refused() -> None:
    assert tracing._wanted({}) is None
    assert tracing._wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == "otlp"
    assert tracing._wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}) is None
    assert tracing._wanted({"OTEL_TRACES_EXPORTER": "console"}) == "console"
    assert tracing._wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) is None
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        tracing._wanted({"OTEL_TRACES_EXPORTER": "zipkin"})
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ or tracing.enabled()
