"""The projects service exactly as ``projects.bootstrap.create_app`` builds it, publishing on a topic of the run's own.

``uvicorn bench.projects_app:create_app --factory``. With ``PMO_BENCH_TOPIC`` set, the relay publishes there instead
of ``pmo.projects.v1``, so a benchmark's thousands of projects never reach the real topic, which tests and
``make run`` on the same private Kafka read from the beginning. Everything else (routes, command executor, query
tables, relay, settings from ``PMO_*``) is the service's own.
"""

from __future__ import annotations

import dataclasses
import os

from fastapi import FastAPI

from projects.bootstrap import SPEC
from projects.settings import Settings
from shared.service import build_app


def create_app() -> FastAPI:
    topic = os.environ.get("PMO_BENCH_TOPIC") or SPEC.topic
    return build_app(dataclasses.replace(SPEC, topic=topic), Settings())
