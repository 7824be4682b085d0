"""The benchmarks stay runnable: the reporting-queries and enterprise-scale benchmarks, at a tiny size, against the
test infrastructure.

Figures are not asserted (the benchmarks print them); only that the benchmark runs through and measures what it
says: every report it times found every project it filled in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import enterprise, queries
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


async def test_the_enterprise_benchmark_runs_end_to_end_at_a_tiny_size(
    infra: Endpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enterprise, "PROFILE_FILE", tmp_path / "profile.txt")  # not over a full run's profile
    p = enterprise.parser("", "bench.enterprise")
    enterprise.add_arguments(p)
    args = p.parse_args(
        [
            *("--enterprise-projects", "5", "--enterprise-weeks", "2", "--enterprise-runs", "2"),
            *("--enterprise-budget", "0", "--enterprise-evaluator-seconds", "0.5", "--enterprise-workers", "1"),
        ]
    )
    figures = await enterprise.run(infra, args)  # it checks the portfolio report holds every project it produced
    assert figures["portfolio"]["projects"] == 7
    assert figures["catch_up"]["events"] == figures["portfolio"]["events"] > 0
    assert figures["reference_sql"]["same_totals_as_the_report"] is True
    for name in (
        "portfolio_report",
        "project_report_2000_facts",
        "project_report_20_facts",
        "s_curve_104_weeks",
        "dashboard_portfolio_page",
    ):
        assert figures[name]["runs"] == 2 and {"p50_ms", "p99_ms", "target"} <= set(figures[name])
    assert {"cpu_share_of_a_core", "target"} <= set(figures["evaluator"])
    assert figures["portfolio_report_profile"]
