"""Reporting queries: how the portfolio report and an as-of project report cost grows with the portfolio.

The reporting ``facts`` ledger is filled directly (executemany of valid contract events, as the facts read model
stores them) with 10, 100 and 1,000 projects, each with a registration, a budget baseline, 4 milestones, progress
on 2 of them and 3 approved work sheets (11 facts per project; ``--query-work-sheets`` for longer histories), and
each project's books (``project_books``) built from those facts by the facts consumer's code. Then
``reporting.api.reports.portfolio_report`` (every project's figures and the totals) and ``project_report`` as of a
past date are called directly, with a runtime holding the engine: the handlers' database work and computation,
without HTTP and JSON rendering.
p50/p99 over a few runs per size.

Run alone: ``python -m bench.queries [--query-sizes 10,100,1000] [--query-runs 3]``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import types
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import Measurement, describe, fresh_schema, parser, run_benchmarks
from bench.synthetic import START, project_history
from reporting import projections
from reporting.api.reports import portfolio_report, project_report
from shared.authz import CallerScope
from shared.db import migrate
from shared.infra.system import Endpoints

EVERY_PROJECT = CallerScope(None)  # the benchmark reads as the routes do for a caller who sees every project

NAME = "queries"
AS_OF = START + timedelta(days=120)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("queries")
    g.add_argument("--query-sizes", default="10,100,1000", help="projects per portfolio (default 10,100,1000)")
    g.add_argument("--query-runs", type=int, default=3, help="portfolio reports per size (default 3)")
    g.add_argument("--query-project-runs", type=int, default=20, help="as-of project reports per size")
    g.add_argument(
        "--query-work-sheets", type=int, default=3, help="approved work sheets per project (facts = 8 + this; max 990)"
    )


async def fill(engine: AsyncEngine, projects: int, work_sheets: int = 3) -> list[Any]:
    """Empty the ledger, then ``projects`` projects' facts; returns their ids."""
    at = datetime.now(UTC) - timedelta(days=400)
    rows: list[dict[str, Any]] = []
    ids = []
    for i in range(projects):
        history = project_history(i, "bench-queries", at + timedelta(minutes=i), work_sheets)
        ids.append(uuid.UUID(history[0][1].data["project_id"]))  # as the route hands it over
        for service, event in history:
            rows.append(
                {
                    "p": event.data["project_id"],
                    "e": event.event_id,
                    "s": service,
                    "n": event.name,
                    "v": event.schema_version,
                    "t": event.recorded_at,
                    "d": json.dumps(event.data),
                }
            )
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE facts"))
        await conn.execute(
            text(
                "INSERT INTO facts (project_id, event_id, service, name, version, recorded_at, data) "
                "VALUES (CAST(:p AS uuid), :e, :s, :n, :v, :t, CAST(:d AS jsonb))"
            ),
            rows,
        )
        # the books the facts consumer would have kept, built from the same facts by the same code
        await conn.execute(text("TRUNCATE project_books"))
        await projections.rebuild_books(conn)
        await conn.execute(text("ANALYZE facts"))
        await conn.execute(text("ANALYZE project_books"))
    return ids


async def timed(runs: int, call: Any) -> Measurement:
    latencies = []
    started = time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - t0)
    return Measurement(runs, time.perf_counter() - started, latencies)


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in str(args.query_sizes).split(",") if s.strip()]
    per_project = 8 + args.query_work_sheets
    figures: dict[str, Any] = {"as_of": AS_OF.isoformat(), "facts_per_project": per_project, "sizes": {}}
    async with fresh_schema(endpoints.database_url, "queries", pool_size=2, max_overflow=0) as (engine, schema):
        await migrate(engine, schema, projections.DDL)
        rt = types.SimpleNamespace(  # as the service holds it: its process memory too, its settings
            engine=engine, memo={}, settings=types.SimpleNamespace(reporting_currency="EUR")
        )
        for size in sizes:
            fill_started = time.perf_counter()
            ids = await fill(engine, size, args.query_work_sheets)
            fill_seconds = time.perf_counter() - fill_started
            first = await portfolio_report(
                rt=rt, scope=EVERY_PROJECT, as_of=AS_OF, portfolio_id=None, programme_id=None, format="json"
            )
            assert len(first["projects"]) == size, f"{len(first['projects'])} projects in the report, not {size}"

            async def one_portfolio() -> None:
                await portfolio_report(
                    rt=rt, scope=EVERY_PROJECT, as_of=AS_OF, portfolio_id=None, programme_id=None, format="json"
                )

            async def one_project(ids: list[Any] = ids) -> None:
                await project_report(random.choice(ids), rt=rt, as_of=AS_OF, format="json")

            await one_project()  # warm-up
            portfolio = await timed(args.query_runs, one_portfolio)
            project = await timed(args.query_project_runs, one_project)
            print(describe(f"{size:>5} projects: portfolio report", portfolio, "reports"))
            print(describe(f"{size:>5} projects: as-of project report", project, "reports"))
            figures["sizes"][str(size)] = {
                "facts": size * per_project,
                "fill_seconds": round(fill_seconds, 2),
                "portfolio_report": portfolio.figures("reports"),
                "project_report_as_of": project.figures("reports"),
                "portfolio_report_ms_per_project": round(portfolio.seconds / portfolio.operations / size * 1000, 3),
            }
    return figures


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.queries")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.queries")


if __name__ == "__main__":
    raise SystemExit(main())
