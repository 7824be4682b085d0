"""Tracing with OpenTelemetry: one trace from the HTTP request through the command, the event store append, the
relay's publish and every consumer that applies the event.

Off unless configured by the standard variables: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) or
``OTEL_TRACES_EXPORTER=otlp|console``; ``OTEL_SDK_DISABLED=true`` turns it off again. The exporter is OTLP over HTTP
(protobuf), which reads the rest of its ``OTEL_EXPORTER_OTLP_*`` variables itself (headers, timeout, certificate);
the sampler is ``OTEL_TRACES_SAMPLER`` / ``..._ARG`` (default: parent-based, always on); the resource is
``service.name=pmo-<service>`` unless ``OTEL_SERVICE_NAME`` says otherwise, plus ``OTEL_RESOURCE_ATTRIBUTES``.
Off, every hook here costs one flag test.

Spans: ``<METHOD> <route>`` (server, child of the caller's W3C ``traceparent``, refused requests too) with its
``fastapi.dependencies`` and ``fastapi.endpoint`` children come from FastAPI's own OpenTelemetry support (on once a
provider is installed; ``FASTAPI_OTEL_AUTO_CONFIGURE`` stays off: the exporter is set up here);
``command <Command>`` (:func:`traced` on the executor), ``eventstore.append`` (its child), ``publish <topic>``
(producer, one per event once Kafka acknowledged it, from the event's recording; its parent is the ``traceparent``
the event keeps in its metadata and record headers) and ``apply <read model>`` (consumer, one per record of a batch
once the batch's transaction committed, over the batch's time; parent: the record's ``traceparent``).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "configure",
    "consumed",
    "enabled",
    "install",
    "published",
    "traced",
    "traceparent",
]

_PROPAGATOR = TraceContextTextMapPropagator()
_TRUE = ("1", "true", "yes", "on")
_EXPORTERS = ("otlp", "console", "none")
_state = {"enabled": False}

P = ParamSpec("P")
R = TypeVar("R")


def enabled() -> bool:
    """Whether spans are recorded (a provider was configured or installed)."""
    return _state["enabled"]


def _wanted(env: Mapping[str, str]) -> str | None:
    """The exporter the environment asks for (``otlp``, ``console``), or None; raises on an unknown one."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return None
    named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named and named not in _EXPORTERS:
        raise ValueError(f"OTEL_TRACES_EXPORTER={named!r}: one of {', '.join(_EXPORTERS)}")
    if named == "none":
        return None
    if named:
        return named
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return "otlp" if endpoint else None


def configure(service: str, env: Mapping[str, str] | None = None) -> bool:
    """Install the process's tracer provider from the ``OTEL_*`` variables; True when tracing is on. Idempotent
    (a provider already installed is kept). An unknown ``OTEL_TRACES_EXPORTER`` is refused at start."""
    wanted = _wanted(os.environ if env is None else env)
    if wanted is None or enabled():
        return enabled()
    # The SDK only where tracing is on: the hooks need the API alone (which FastAPI requires anyway).
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if wanted == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter()
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"pmo-{service}"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    return True


def install(provider: trace.TracerProvider) -> None:
    """Make ``provider`` the process's tracer provider (OpenTelemetry allows one per process; tests install one
    with an in-memory exporter) and turn the hooks on."""
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
    _state["enabled"] = True


def _tracer() -> trace.Tracer:
    return trace.get_tracer("pmo")


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (what an event records as its cause), or None without one."""
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def _parent(value: str | bytes | None) -> Context | None:
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return _PROPAGATOR.extract({"traceparent": text})


def traced(
    name: str | Callable[[Mapping[str, Any]], str],
    attributes: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate a coroutine function (called with keyword arguments) with a span named ``name`` (or
    ``name(kwargs)``), child of the current one; an exception is recorded on it and re-raised."""

    def wrap(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(fn)
        async def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            if not enabled():
                return await fn(*args, **kwargs)
            title = name(kwargs) if callable(name) else name
            with _tracer().start_as_current_span(title, attributes=attributes(kwargs) if attributes else None):
                return await fn(*args, **kwargs)

        return inner

    return wrap


def _header(headers: Iterable[tuple[str, bytes]] | None, key: str) -> bytes | None:
    for name, value in headers or ():
        if name == key:
            return value
    return None


def published(topic: str, records: Iterable[Any]) -> None:
    """One producer span per record Kafka acknowledged (``Outgoing``: its event row as ``item``), from the event's
    recording to now, child of the record's ``traceparent``."""
    if not enabled():
        return
    now = time.time_ns()
    tracer = _tracer()
    for record in records:
        parent = _parent(_header(record.headers, "traceparent"))
        recorded = getattr(record.item, "recorded_at", None)
        start = int(recorded.timestamp() * 1e9) if recorded is not None else now
        span = tracer.start_span(
            f"publish {topic}",
            context=parent,
            kind=SpanKind.PRODUCER,
            start_time=min(start, now),
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
                "messaging.message.id": str(getattr(record.item, "event_id", "")),
            },
        )
        span.end(end_time=now)


def consumed(fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Decorate a consumer's ``process(self, tp, records)``: once it returned (the batch committed), one consumer
    span per record, over the batch's time, child of the record's ``traceparent``."""

    @functools.wraps(fn)
    async def inner(self: Any, tp: Any, records: Any, **kwargs: Any) -> None:
        if not enabled():
            return await fn(self, tp, records, **kwargs)
        start = time.time_ns()
        await fn(self, tp, records, **kwargs)
        end = time.time_ns()
        tracer = _tracer()
        name = getattr(getattr(self, "projection", None), "name", "consumer")
        for record in records:
            headers = record.headers or ()
            span = tracer.start_span(
                f"apply {name}",
                context=_parent(_header(headers, "traceparent")),
                kind=SpanKind.CONSUMER,
                start_time=start,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": tp.topic,
                    "messaging.kafka.destination.partition": tp.partition,
                    "messaging.kafka.message.offset": record.offset,
                    "messaging.message.id": (_header(headers, "ce_id") or b"").decode("latin-1"),
                    "pmo.read_model": name,
                },
            )
            span.end(end_time=end)

    return inner
