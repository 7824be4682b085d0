"""The reporting service as ``reporting.bootstrap`` builds it, reading and publishing on topics of the run's own.

``uvicorn bench.reporting_app:create_app --factory``: :mod:`bench.service_app` for ``reporting``.
``PMO_BENCH_SOURCE_TOPICS`` (comma-separated) replaces the topics both read models (``reporting.portfolio``,
``reporting.facts``) consume; ``PMO_BENCH_TOPIC`` replaces ``pmo.alerts.v1``, where the alert evaluator publishes.
Routes, read models, evaluator and settings are the service's own. :class:`FactsOn` and :class:`PortfolioOn` are
the two read models on other topics, for benchmarks that run them without the service.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from bench.service_app import build
from reporting import projections


class FactsOn(projections.FactsProjection):
    """``reporting.facts`` on other topics."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)  # type: ignore[misc]


class PortfolioOn(projections.PortfolioProjection):
    """``reporting.portfolio`` on other topics."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)  # type: ignore[misc]


def create_app() -> FastAPI:
    return build("reporting")
