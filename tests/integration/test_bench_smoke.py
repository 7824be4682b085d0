"""The benchmarks stay runnable: the reporting-queries benchmark, at a tiny size, against the test infrastructure.

Figures are not asserted (the benchmarks print them); only that the benchmark runs through and measures what it
says: every report it times found every project it filled in.
"""

from __future__ import annotations

import pytest

from bench import queries
from shared.infra.system import Endpoints

pytestmark = pytest.mark.integration


async def test_the_queries_benchmark_runs_and_reports_every_size(infra: Endpoints) -> None:
    p = queries.parser("", "bench.queries")
    queries.add_arguments(p)
    args = p.parse_args(["--query-sizes", "3,5", "--query-runs", "1", "--query-project-runs", "2"])
    figures = await queries.run(infra, args)  # it checks each portfolio report holds every project it filled in
    assert set(figures["sizes"]) == {"3", "5"}
    for size, measured in figures["sizes"].items():
        assert measured["facts"] == int(size) * 11
        assert measured["portfolio_report"]["reports"] == 1 and measured["project_report_as_of"]["reports"] == 2
