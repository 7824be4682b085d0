"""Any of the five services exactly as its ``bootstrap`` builds it, but on topics of the benchmark run's own.

``PMO_BENCH_SERVICE=budget uvicorn bench.service_app:create_app --factory``. The environment says:

* ``PMO_BENCH_SERVICE``: ``projects``, ``budget``, ``resources``, ``invoicing`` or ``reporting`` (required);
* ``PMO_BENCH_TOPIC``: where the relay publishes instead of the service's ``pmo.<topic>.v1``;
* ``PMO_BENCH_SOURCE_TOPICS`` (comma-separated): the topics every read model of the service consumes instead of
  its own (``pmo.projects.v1`` for budget, the resources and budget topics for invoicing, every topic for
  reporting).

So a benchmark's records never reach the real topics, which tests and ``make run`` on the same private Kafka read
from the beginning, and a service reads only what the benchmark gives it. Routes, command executor, query
tables, relay, read models, background tasks and settings (``PMO_*``) are the service's own.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
from collections.abc import Mapping, Sequence

from fastapi import FastAPI

from shared.consumer import Projection
from shared.service import ServiceSpec, build_app
from shared.settings import ServiceSettings

SERVICES = ("projects", "budget", "resources", "invoicing", "reporting")


def on_topics(projection: Projection, topics: Sequence[str]) -> Projection:
    """A copy of ``projection`` consuming ``topics`` (an instance attribute shadowing the class's ``topics``)."""
    clone = copy.copy(projection)
    vars(clone)["topics"] = tuple(topics)
    return clone


def spec_for(service: str, env: Mapping[str, str] | None = None) -> ServiceSpec:
    """The service's ``SPEC`` with the topics ``env`` (default: the process environment) names."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    env = os.environ if env is None else env
    spec: ServiceSpec = importlib.import_module(f"{service}.bootstrap").SPEC
    topic = env.get("PMO_BENCH_TOPIC", "").strip()
    if topic:
        spec = dataclasses.replace(spec, topic=topic)
    sources = [t.strip() for t in env.get("PMO_BENCH_SOURCE_TOPICS", "").split(",") if t.strip()]
    if sources and spec.projections:
        spec = dataclasses.replace(spec, projections=[on_topics(p, sources) for p in spec.projections])
    return spec


def settings_for(service: str) -> ServiceSettings:
    """The service's own settings class (some add fields, e.g. the invoicing matcher's poll interval)."""
    settings: ServiceSettings = importlib.import_module(f"{service}.settings").Settings()
    return settings


def build(service: str, spec: ServiceSpec | None = None) -> FastAPI:
    return build_app(spec or spec_for(service), settings_for(service))


def create_app() -> FastAPI:
    service = os.environ.get("PMO_BENCH_SERVICE", "").strip()
    if not service:
        raise RuntimeError(f"set PMO_BENCH_SERVICE to one of {', '.join(SERVICES)}")
    return build(service)
