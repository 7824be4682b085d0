"""Reporting at enterprise scale (issue 17): a real PMO's portfolio, produced to the topics and read back by the
reporting service's own consumers, then its reports timed against the issue's targets and a plain SQL reference.

1. A synthetic portfolio (``bench.synthetic_enterprise.enterprise_history``, valid contract events; produced by
   ``bench.enterprise_portfolio``): ``--enterprise-projects`` projects (1,000) with ``--enterprise-weeks`` weeks
   (104) of history each, about 1,000 facts per project at full size (registration, approval, start; a baseline with
   categories, funding tranches, subcontracts, a yearly budget change; 6-10 milestones with weekly progress; 3-5
   people's and 0-2 vendors' weekly approved work sheets with their costed days; monthly vendor invoices received,
   matched, approved, paid; weekly status reports; KPIs measured every other week); plus one project with about 2,000
   facts and one with about 20. They are produced as CloudEvents records (``shared.kafka.to_record``, keyed by
   project) to topics of the run's own (``pmo.bench-enterprise-<run>-projects.v1``, ``-budget``, ``-resources``,
   ``-invoicing``; 3 partitions each), generated in ``--enterprise-workers`` processes while this one sends them
   (idempotent producer, ``acks=all``, batches of up to 256 KiB).
2. Catch-up: the reporting service's runtime (``shared.service.ServiceRuntime`` of ``reporting.bootstrap.SPEC``,
   its read models pointed at the run's topics, a fresh schema, consumer groups of the run's own) runs its
   consumers (every read model of the spec: today ``reporting.facts`` and ``reporting.portfolio``) in this process
   from the beginning until every one has stored the end offsets of its topics. Events/s = events on the topics over
   that time; beside it the CPU of this process and of the rest of the machine (PostgreSQL, Kafka) meanwhile.
3. The alert evaluator (``reporting.evaluation.evaluator``, the service's background task, with the service's
   default settings) run for two windows of ``--enterprise-evaluator-seconds`` (60 s) with no new events: the first
   holds the start-up evaluation of every project (raising the alerts); the second is the figure at rest. The share
   is this process's CPU over the window (nothing else runs in it then).
4. The read side, called as the routes call it with that runtime: ``portfolio_report`` as of today,
   ``project_report`` of the ~2,000-fact and the ~20-fact project as of a random past date and (when the route takes
   ``known_at``) known at a random past moment, ``s_curve`` of a random project as of today, the dashboard's
   ``overview`` and its heat map's ``utilisation_rows`` alone: one untimed first call, then up to
   ``--enterprise-runs`` calls or ``--enterprise-budget`` seconds per figure (at least 2); p50/p99 (with few runs p99
   is the slowest).
5. The reference: the same facts' amounts (business date, amount) copied into a plain table, and AC and PV per
   project as of today by one ``GROUP BY`` over it; its totals are checked against the portfolio report's.
6. With ``--enterprise-profile yes``, the process's first portfolio report (nothing remembered yet) under cProfile:
   the top functions by own time. The timed portfolio reports come after it (``first_call_ms`` is the next one).

The measurements of steps 2 to 4 and the targets they are held to: ``bench.enterprise_timing``.

Run alone: ``python -m bench.enterprise`` (full size, minutes); a small run: ``python -m bench.enterprise
--enterprise-projects 50 --enterprise-weeks 8``.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import inspect
import io
import pstats
import random
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import text

from bench.common import RESULTS_DIR, delete_topic, fresh_schema, parser, ratio, run_benchmarks, run_id
from bench.enterprise_portfolio import PARTITIONS, Portfolio, end_offsets, produce
from bench.enterprise_timing import catch_up, evaluator_at_rest, timed
from bench.service_app import on_topics
from reporting import bootstrap, dashboard
from reporting.api import reports
from reporting.settings import Settings
from shared.authz import CallerScope
from shared.db import driver, migrate
from shared.infra.system import Endpoints
from shared.kafka import KafkaOptions, ensure_topics
from shared.service import ServiceRuntime

EVERY_PROJECT = CallerScope(None)  # the benchmark reads as the routes do for a caller who sees every project

NAME = "enterprise"
SERVICES = ("projects", "budget", "resources", "invoicing")
PROFILE_FILE = RESULTS_DIR / "enterprise-portfolio-profile.txt"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("enterprise")
    g.add_argument("--enterprise-projects", type=int, default=1000, help="projects of about 1,000 facts (1000)")
    g.add_argument("--enterprise-weeks", type=int, default=104, help="weeks of history per project (104)")
    g.add_argument("--enterprise-runs", type=int, default=20, help="timed calls per figure at most (20)")
    g.add_argument("--enterprise-budget", type=float, default=60.0, help="seconds of timed calls per figure (60)")
    g.add_argument(
        "--enterprise-evaluator-seconds", type=float, default=60.0, help="each evaluator window, seconds (60)"
    )
    g.add_argument("--enterprise-profile", choices=("yes", "no"), default="yes", help="cProfile a portfolio report")
    g.add_argument("--enterprise-workers", type=int, default=2, help="processes generating events (2; 1: this one)")
    g.add_argument(
        "--enterprise-statement-timeout-ms",
        type=int,
        default=None,
        help="the runtime's PMO_DB_STATEMENT_TIMEOUT_MS (default: the service's, 15000; at most 3600000)",
    )


# ---------------------------------------------------------------------------------------------------------------
# The reporting service's runtime


def runtime(
    endpoints: Endpoints, schema: str, tag: str, topic_of: Callable[[str], str], statement_timeout_ms: int | None
) -> ServiceRuntime:
    """Reporting's runtime as its composition root builds it, on the run's topics, schema and consumer groups."""
    spec = dataclasses.replace(
        bootstrap.SPEC,
        topic=topic_of(bootstrap.SPEC.topic),
        projections=[on_topics(p, [topic_of(t) for t in p.topics]) for p in bootstrap.SPEC.projections],
    )
    settings = Settings(
        database_url=endpoints.database_url,
        kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=f"bench-enterprise-{tag}",
        env="development",
    )
    if statement_timeout_ms is not None:
        settings = settings.model_copy(update={"db_statement_timeout_ms": statement_timeout_ms})
    return ServiceRuntime(spec, settings)


# ---------------------------------------------------------------------------------------------------------------
# The first portfolio report under cProfile


async def profile_portfolio(call: Callable[[], Awaitable[Any]], top: int = 12) -> tuple[Any, list[dict[str, Any]]]:
    """The process's first portfolio report (nothing remembered yet) under cProfile: its answer, and the functions
    with the most own time (the rest is in the file)."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        report = await call()
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    PROFILE_FILE.write_text(out.getvalue())
    total = max(float(getattr(stats, "total_tt", 0.0)), 1e-9)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    hottest = [
        {
            "function": f"{func} ({file.rsplit('/', 1)[-1]}:{line})",
            "own_s": round(tt, 3),
            "own_share": round(tt / total, 3),
            "calls": nc,
        }
        for (file, line, func), (_, nc, tt, _ct, _callers) in rows
    ]
    print(f"  the first portfolio report under cProfile: {total:.2f} s; top own time:")
    for h in hottest[:8]:
        print(f"    {h['own_share']:6.1%}  {h['own_s']:7.2f} s  {h['calls']:>9} calls  {h['function']}")
    return report, hottest


# ---------------------------------------------------------------------------------------------------------------
# The reference: one aggregate over a plain table of the same facts

REFERENCE_DDL = [
    "CREATE TABLE reference_facts (project_id uuid NOT NULL, name text NOT NULL, on_date date NOT NULL, "
    "amount numeric)",
    # every fact, with its business date and the amount it brings to AC (a work sheet's cost) or PV (a milestone)
    """
    INSERT INTO reference_facts
    SELECT project_id, name,
           coalesce((data->>'approved_on')::date, (data->>'due_date')::date, recorded_at::date),
           CASE name WHEN 'work-sheet-approved' THEN (data->'cost'->>'amount')::numeric
                     WHEN 'milestone-planned' THEN (data->'planned_value'->>'amount')::numeric END
    FROM facts
    """,
    "ANALYZE reference_facts",
]
REFERENCE_QUERY = (
    "SELECT project_id, coalesce(sum(amount) FILTER (WHERE name = 'work-sheet-approved'), 0) AS ac, "
    "coalesce(sum(amount) FILTER (WHERE name = 'milestone-planned'), 0) AS pv "
    "FROM reference_facts WHERE on_date <= $1 GROUP BY project_id"
)


async def reference(rt: ServiceRuntime, args: argparse.Namespace, day: date) -> tuple[dict[str, Any], list[Any]]:
    async with rt.engine.begin() as conn:
        for statement in REFERENCE_DDL:
            await conn.execute(text(statement))
    last: list[Any] = []

    async def one() -> None:
        async with rt.engine.connect() as conn:
            last[:] = await (await driver(conn)).fetch(REFERENCE_QUERY, day)

    return await timed("reference: one SQL GROUP BY over the same facts", "reference", one, args, None), last


# ---------------------------------------------------------------------------------------------------------------


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    kafka = KafkaOptions(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    tag = run_id()

    def topic_of(topic: str) -> str:
        return f"pmo.bench-enterprise-{tag}-{topic.removeprefix('pmo.').removesuffix('.v1')}.v1"

    by_service = {s: topic_of(f"pmo.{s}.v1") for s in SERVICES}
    figures: dict[str, Any] = {"load_average_at_start": [round(x, 2) for x in psutil.getloadavg()]}
    await ensure_topics(kafka, list(by_service.values()), partitions=PARTITIONS, replication_factor=1)
    rng = random.Random(17)
    try:
        portfolio, produced = await produce(kafka, by_service, args)
        print(
            f"  produced {portfolio.events} events of {len(portfolio.regular) + 2} projects in {produced.seconds:.1f} s"
            f" = {produced.rate:,.0f} events/s (generated in {max(1, args.enterprise_workers)} process(es))"
        )
        figures["portfolio"] = {
            "projects": len(portfolio.regular) + 2,
            "events": portfolio.events,
            "events_per_regular_project": round(
                (portfolio.events - portfolio.big_facts - portfolio.small_facts) / max(1, len(portfolio.regular)), 1
            ),
            "big_project_facts": portfolio.big_facts,
            "small_project_facts": portfolio.small_facts,
            "weeks": args.enterprise_weeks,
        }
        figures["produce"] = produced.figures("events")
        ends = await end_offsets(kafka, list(by_service.values()))
        async with fresh_schema(endpoints.database_url, "enterprise", pool_size=2, max_overflow=0) as (engine, schema):
            rt = runtime(endpoints, schema, tag, topic_of, args.enterprise_statement_timeout_ms)
            figures["statement_timeout_ms"] = rt.settings.db_statement_timeout_ms
            try:
                await migrate(engine, schema, rt.spec.ddl)
                figures["catch_up"] = await catch_up(rt, ends, portfolio.events)
                tables = sorted({t for c in rt.consumers for t in getattr(c.projection, "tables", ())})
                async with rt.engine.begin() as conn:  # what autovacuum does on its own after such a load
                    await conn.execute(text(f"ANALYZE {', '.join(tables)}"))
                figures["evaluator"] = await evaluator_at_rest(rt, args.enterprise_evaluator_seconds)
                figures.update(await read_side(rt, portfolio, args, rng))
            finally:
                await rt.engine.dispose()
    finally:
        for topic in by_service.values():
            await delete_topic(kafka, topic)
    return figures


async def read_side(
    rt: ServiceRuntime, portfolio: Portfolio, args: argparse.Namespace, rng: random.Random
) -> dict[str, Any]:
    today = rt.executor.clock.now().date()
    out: dict[str, Any] = {}
    expected = len(portfolio.regular) + 2

    async def first_report() -> Any:
        return await reports.portfolio_report(
            rt, EVERY_PROJECT, as_of=None, portfolio_id=None, programme_id=None, format="json"
        )

    profiling, t0 = args.enterprise_profile == "yes", time.perf_counter()
    try:
        if profiling:
            report, out["portfolio_report_profile"] = await profile_portfolio(first_report)
        else:
            report = await first_report()
        out["portfolio_report_first_of_the_process_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        out["portfolio_report_first_of_the_process_under_cprofile"] = profiling
    except Exception as exc:  # e.g. the service's statement timeout at this size: the other figures still count
        print(f"  the portfolio report failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        report = None
    else:
        found = len(report["projects"])
        assert found == expected, f"{found} projects in the report, not {expected}"

    async def portfolio_call() -> None:
        await reports.portfolio_report(
            rt, EVERY_PROJECT, as_of=None, portfolio_id=None, programme_id=None, format="json"
        )

    def past(start: date) -> date:
        return start + timedelta(days=rng.randrange(max(1, (today - start).days)))

    async def big() -> None:
        await reports.project_report(uuid.UUID(portfolio.big), rt, as_of=past(portfolio.big_start), format="json")

    async def small() -> None:
        await reports.project_report(uuid.UUID(portfolio.small), rt, as_of=past(portfolio.small_start), format="json")

    async def curve() -> None:
        await reports.s_curve(uuid.UUID(rng.choice(portfolio.regular)), rt, as_of=None, format="json")

    async def page() -> None:
        await dashboard.overview(rt, EVERY_PROJECT, as_of=None)

    out["portfolio_report"] = await timed(
        f"portfolio report, {expected} projects, as of today", "portfolio_report", portfolio_call, args, 150
    )
    out["project_report_2000_facts"] = await timed(
        f"project report, {portfolio.big_facts} facts, as of a past date", "project_report_2000_facts", big, args, 20
    )
    small_figures = await timed(
        f"project report, {portfolio.small_facts} facts, as of a past date",
        "project_report_20_facts",
        small,
        args,
        None,
    )
    out["project_report_20_facts"] = small_figures
    if "known_at" in inspect.signature(reports.project_report).parameters:

        def moment(start: date) -> datetime:
            return datetime.combine(past(start), datetime.min.time(), UTC) + timedelta(hours=rng.randrange(24))

        async def big_known() -> None:
            at = moment(portfolio.big_start)
            await reports.project_report(uuid.UUID(portfolio.big), rt, as_of=at.date(), known_at=at, format="json")

        async def small_known() -> None:
            at = moment(portfolio.small_start)
            await reports.project_report(uuid.UUID(portfolio.small), rt, as_of=at.date(), known_at=at, format="json")

        out["project_report_2000_facts_known_at"] = await timed(
            f"project report, {portfolio.big_facts} facts, known at a past moment",
            "project_report_2000_facts_known_at",
            big_known,
            args,
            20,
        )
        out["project_report_20_facts_known_at"] = await timed(
            f"project report, {portfolio.small_facts} facts, known at a past moment",
            "project_report_20_facts_known_at",
            small_known,
            args,
            None,
        )
    for suffix in ("", "_known_at"):
        big_p99 = out.get(f"project_report_2000_facts{suffix}", {}).get("p99_ms")
        light: dict[str, Any] = out.get(f"project_report_20_facts{suffix}", {})
        if big_p99 and light.get("p99_ms"):
            light["ratio_to_2000_facts_p99"] = ratio(light["p99_ms"], big_p99)
            # the same cost whatever the history's length: neither more than 20 % apart
            light["within_target"] = 0.8 * big_p99 <= light["p99_ms"] <= 1.2 * big_p99
    weeks = len((await reports.s_curve(uuid.UUID(portfolio.regular[0]), rt, as_of=None, format="json"))["points"])
    out["s_curve_104_weeks"] = await timed(f"S-curve, {weeks} points", "s_curve_104_weeks", curve, args, 30)
    out["dashboard_portfolio_page"] = await timed(
        "dashboard portfolio page (/dashboard)", "dashboard_portfolio_page", page, args, 300
    )
    if "utilisation_rows" in vars(reports):  # the page's heat map: 8 weeks of every person's load

        async def heat_map() -> None:
            await reports.utilisation_rows(rt, today, 8)

        out["dashboard_heat_map_rows"] = await timed(
            "the page's heat map alone (utilisation_rows, 8 weeks)", "dashboard_heat_map_rows", heat_map, args, None
        )
    ref, rows = await reference(rt, args, today)
    totals: dict[str, Any] = next((t for t in (report or {}).get("totals", []) if t["currency"] == "EUR"), {})
    ac = sum((r["ac"] for r in rows), start=type(rows[0]["ac"])(0)) if rows else 0
    pv = sum((r["pv"] for r in rows), start=type(rows[0]["pv"])(0)) if rows else 0
    ref["same_totals_as_the_report"] = f"{ac:.2f}" == totals.get("ac") and f"{pv:.2f}" == totals.get("pv")
    ours = out["portfolio_report"]
    for q in ("p50", "p99"):
        both = f"{q}_ms" in ours and f"{q}_ms" in ref
        ref[f"ratio_portfolio_report_to_reference_{q}"] = ratio(ours[f"{q}_ms"], ref[f"{q}_ms"]) if both else None
    print(
        f"  reference totals (AC {ac:.2f}, PV {pv:.2f}) equal the report's: {ref['same_totals_as_the_report']}; "
        f"portfolio report / reference: {ref['ratio_portfolio_report_to_reference_p50']}x at p50, "
        f"{ref['ratio_portfolio_report_to_reference_p99']}x at p99"
    )
    out["reference_sql"] = ref
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"  peak resident memory of this process: {out['peak_rss_mib']} MiB")
    return out


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.enterprise")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.enterprise")


if __name__ == "__main__":
    raise SystemExit(main())
