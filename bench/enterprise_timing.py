"""How the enterprise benchmark measures, against issue 17's targets: the reporting consumers' catch-up, the alert
evaluator's CPU at rest, and timed calls of the read side (p50/p99)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psutil
from sqlalchemy import text

from bench.common import Measurement, RssSampler, latency_ms
from bench.replay import _cpu, _machine_busy
from reporting import evaluation
from shared.service import ServiceRuntime

TARGETS = {
    "portfolio_report": "p99 < 150 ms",
    "project_report_2000_facts": "p99 < 20 ms",
    "project_report_20_facts": "p99 within 20 % of the 2,000-fact project's",
    "project_report_2000_facts_known_at": "p99 < 20 ms",
    "project_report_20_facts_known_at": "p99 within 20 % of the 2,000-fact project's",
    "s_curve_104_weeks": "< 30 ms",
    "dashboard_portfolio_page": "< 300 ms",
    "catch_up": ">= 20,000 events/s",
    "evaluator_at_rest": "< 5 % of a core",
    "reference": "none: the reference",
    "dashboard_heat_map_rows": "part of the dashboard page (< 300 ms in all)",
}


async def catch_up(rt: ServiceRuntime, ends: dict[tuple[str, int], int], events: int) -> dict[str, Any]:
    """Run every consumer of the runtime from the beginning until each has stored its topics' end offsets."""
    targets = {
        c.projection.name: {tp: end for tp, end in ends.items() if tp[0] in c.projection.topics and end}
        for c in rt.consumers
    }
    me = psutil.Process()
    stop = asyncio.Event()
    cpu0, machine0 = _cpu(me), _machine_busy()
    pg0 = postgres_cpu(rt.settings.database_url)
    started = time.perf_counter()
    first: float | None = None
    with RssSampler({"bench": me.pid}, interval=0.5) as rss:
        tasks = [asyncio.create_task(rt.feed.run(stop))] if rt.feed is not None else []
        try:
            while True:
                await asyncio.sleep(0.25)
                async with rt.engine.connect() as conn:
                    rows = (
                        await conn.execute(text("SELECT consumer, topic, partition, next_offset FROM consumer_offsets"))
                    ).all()
                stored = {(r.consumer, r.topic, r.partition): r.next_offset for r in rows}
                if stored and first is None:
                    first = time.perf_counter()
                if all(stored.get((name, *tp), 0) >= end for name, want in targets.items() for tp, end in want.items()):
                    break
                if all(t.done() for t in tasks):
                    raise RuntimeError("the consumers stopped before catching up")
            seconds = time.perf_counter() - started
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
    cpu = _cpu(me) - cpu0
    others = _machine_busy() - machine0 - cpu
    pg1 = postgres_cpu(rt.settings.database_url)
    database = None if pg0 is None or pg1 is None else pg1 - pg0
    m = Measurement(events, seconds)
    applied = sum(sum(want.values()) for want in targets.values())
    print(
        f"  catch-up of {', '.join(targets)}: {events} events in {seconds:.1f} s = {m.rate:,.0f} events/s "
        f"(target {TARGETS['catch_up']}); {applied} records read in all"
    )
    print(
        f"  {'':<4}CPU: this process {cpu:.1f} s ({cpu / max(events, 1) * 1e6:.0f} µs an event), the rest of the "
        f"machine {others:.1f} s"
        + (
            ""
            if database is None
            else f", of which PostgreSQL {database:.1f} s ({database / max(events, 1) * 1e6:.0f} µs an event)"
        )
    )
    return {
        **m.figures("events"),
        "records_read": applied,
        "read_models": list(targets),
        "seconds_from_first_stored_offset": round(seconds - (first - started), 1) if first else None,
        "process_cpu_seconds": round(cpu, 1),
        "other_processes_cpu_seconds": round(others, 1),
        "postgres_cpu_seconds": None if database is None else round(database, 1),
        "peak_rss_mib": rss.peak_mib()["bench"],
        "target": TARGETS["catch_up"],
        "within_target": m.rate >= 20_000,
    }


def postgres_cpu(database_url: str) -> float | None:
    """CPU seconds the PostgreSQL server of ``database_url`` has used so far (its postmaster, the backends that
    ended and those alive), or None when it is not a local server whose socket directory is its data directory (the
    private instance's layout): what the machine's CPU beside this process holds of the database's own work."""
    host = parse_qs(urlsplit(database_url).query).get("host", [None])[0]
    pid_file = Path(host) / "postmaster.pid" if host else None
    if pid_file is None or not pid_file.is_file():
        return None
    try:
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        t = postmaster.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in postmaster.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                c = child.cpu_times()
                total += c.user + c.system
        return float(total)
    except (psutil.Error, ValueError, IndexError, OSError):
        return None


class ErrorCount(logging.Handler):
    """Keeps the first line of each error logged (the evaluator logs a failed pass and retries)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        cause = record.exc_info[1] if record.exc_info else None
        self.errors.append(f"{type(cause).__name__}: {str(cause).splitlines()[0][:160]}" if cause else record.msg)

    def take(self) -> list[str]:
        taken, self.errors = self.errors, []
        return taken


async def evaluator_at_rest(rt: ServiceRuntime, seconds: float) -> dict[str, Any]:
    """The service's evaluator for two windows of ``seconds``: start-up (every project evaluated, alerts raised),
    then at rest. This process runs nothing else meanwhile."""
    me = psutil.Process()
    stop = asyncio.Event()
    failures = ErrorCount()
    logging.getLogger(evaluation.__name__).addHandler(failures)
    task = asyncio.create_task(evaluation.evaluator(rt, stop))
    windows = []
    try:
        for _ in range(2):
            cpu0, machine0, t0 = _cpu(me), _machine_busy(), time.perf_counter()
            await asyncio.sleep(seconds)
            wall = time.perf_counter() - t0
            cpu = _cpu(me) - cpu0
            windows.append((wall, cpu, _machine_busy() - machine0 - cpu, failures.take()))
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=600)
        logging.getLogger(evaluation.__name__).removeHandler(failures)
    async with rt.engine.connect() as conn:
        alerts = int((await conn.execute(text("SELECT count(*) FROM alerts WHERE status = 'open'"))).scalar_one())
    (w1, c1, _, e1), (w2, c2, o2, e2) = windows
    print(
        f"  evaluator start-up window: {c1:.1f} s CPU in {w1:.0f} s = {c1 / w1:.1%} of a core; {alerts} open alerts"
        + (f"; {len(e1)} failed passes: {e1[0]}" if e1 else "")
    )
    print(
        f"  evaluator at rest: {c2:.1f} s CPU in {w2:.0f} s = {c2 / w2:.1%} of a core "
        f"(target {TARGETS['evaluator_at_rest']}); the rest of the machine {o2:.1f} s"
        + (f"; {len(e2)} failed passes: {e2[0]}" if e2 else "")
    )
    return {
        "window_seconds": round(w2, 1),
        "cpu_seconds": round(c2, 2),
        "cpu_share_of_a_core": round(c2 / w2, 4),
        "other_processes_cpu_seconds": round(o2, 1),
        "failed_passes": len(e2),
        "start_up_window": {
            "cpu_seconds": round(c1, 2),
            "cpu_share_of_a_core": round(c1 / w1, 4),
            "failed_passes": len(e1),
            **({"failure": e1[0]} if e1 else {}),
        },
        "open_alerts": alerts,
        "target": TARGETS["evaluator_at_rest"],
        "within_target": c2 / w2 < 0.05,
    }


async def timed(
    label: str, key: str, call: Callable[[], Awaitable[Any]], args: argparse.Namespace, limit_ms: float | None
) -> dict[str, Any]:
    """One untimed first call, then timed calls until ``--enterprise-runs`` or ``--enterprise-budget`` (at least 2).
    A call that raises (a statement timeout) is counted in ``errors`` and kept out of the latencies."""
    errors: list[str] = []

    async def attempt() -> float | None:
        t0 = time.perf_counter()
        try:
            await call()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            return None
        return time.perf_counter() - t0

    first = await attempt()
    latencies: list[float] = []
    calls = 0
    started = time.perf_counter()
    while calls < args.enterprise_runs and (calls < 2 or time.perf_counter() - started < args.enterprise_budget):
        calls += 1
        seconds = await attempt()
        if seconds is not None:
            latencies.append(seconds)
    out: dict[str, Any] = {
        "runs": len(latencies),
        **(latency_ms(latencies) if latencies else {}),
        "first_call_ms": None if first is None else round(first * 1000, 1),
        "target": TARGETS[key],
        "load_average_1m": round(psutil.getloadavg()[0], 2),
    }
    if errors:
        out["errors"] = len(errors)
        out["error_sample"] = errors[0]
    shown = f"p50 {out['p50_ms']:9.1f} ms  p99 {out['p99_ms']:9.1f} ms" if latencies else "no call succeeded".ljust(33)
    failed = f"   {len(errors)} failed: {errors[0]}" if errors else ""
    print(f"  {label:<52} {len(latencies):>3} runs  {shown}   target {TARGETS[key]}{failed}")
    if limit_ms is not None:
        out["within_target"] = bool(latencies) and not errors and out["p99_ms"] < limit_ms
    return out
