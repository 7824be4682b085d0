"""The projects service exactly as ``projects.bootstrap.create_app`` builds it, publishing on a topic of the run's own.

``uvicorn bench.projects_app:create_app --factory``: :mod:`bench.service_app` for ``projects``. With
``PMO_BENCH_TOPIC`` set, the relay publishes there instead of ``pmo.projects.v1``, so a benchmark's thousands of
projects never reach the real topic, which tests and ``make run`` on the same private Kafka read from the
beginning. Everything else (routes, command executor, query tables, relay, settings from ``PMO_*``) is the
service's own.
"""

from __future__ import annotations

from fastapi import FastAPI

from bench.service_app import build


def create_app() -> FastAPI:
    return build("projects")
