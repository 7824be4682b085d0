"""The reporting service as ``reporting.bootstrap`` builds it, reading and publishing on topics of the run's own.

``uvicorn bench.reporting_app:create_app --factory``. ``PMO_BENCH_SOURCE_TOPICS`` (comma-separated) replaces the
topics both read models (``reporting.portfolio``, ``reporting.facts``) consume; ``PMO_BENCH_TOPIC`` replaces
``pmo.alerts.v1``, where the alert evaluator publishes. Routes, read models, evaluator and settings are the
service's own.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from fastapi import FastAPI

from reporting import projections
from reporting.bootstrap import SPEC
from reporting.settings import Settings
from shared.service import build_app


class FactsOn(projections.FactsProjection):
    """``reporting.facts`` on other topics."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)  # type: ignore[misc]


class PortfolioOn(projections.PortfolioProjection):
    """``reporting.portfolio`` on other topics."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)  # type: ignore[misc]


def create_app() -> FastAPI:
    spec = SPEC
    sources = [t for t in os.environ.get("PMO_BENCH_SOURCE_TOPICS", "").split(",") if t.strip()]
    if sources:
        spec = dataclasses.replace(spec, projections=[PortfolioOn(sources), FactsOn(sources)])
    topic = os.environ.get("PMO_BENCH_TOPIC")
    if topic:
        spec = dataclasses.replace(spec, topic=topic)
    return build_app(spec, Settings())
