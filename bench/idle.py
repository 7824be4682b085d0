"""The whole system at rest: CPU of the five services, their PostgreSQL sessions and the Kafka broker, no request.

The five services start as ``pmo run`` starts them (``uvicorn <service>.bootstrap:create_app``, one worker,
``PMO_ENV=development``), each on a fresh schema, against the benchmarks' private Kafka. Once every one answers
``/readyz`` and ``--idle-settle`` seconds (default 10) have passed (start-up work: topic metadata, the evaluator's
first pass), nothing is sent for ``--idle-seconds`` (default 60) and the CPU time each process used meanwhile is read
from ``/proc`` (``utime + stime`` of the process and its threads, via psutil):

* each service process;
* PostgreSQL: the sessions of these services (``pg_stat_activity`` rows whose ``application_name`` names the run's
  schemas), and apart from them the cluster's own background processes (checkpointer, WAL writer, background
  writer, autovacuum launcher, ...), which serve every database of the cluster;
* the Kafka broker's JVM (the benchmarks' broker, ``kafka.pid`` of its folder), which also serves any other
  benchmark running on this machine.

Figures: CPU seconds and the share of one core over the window for each, and the total (target: below 3 % of one
core). The load average is recorded before and after: the machine is shared.

Run alone: ``python -m bench.idle [--idle-seconds 60] [--idle-settle 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from typing import Any

import psutil  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import fresh_schema, parser, run_benchmarks, run_id
from bench.http import Server, start_server, stop_server, wait_ready
from shared.infra.system import SERVICES, Endpoints, local_kafka

NAME = "idle"
TARGET_SHARE = 0.03


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("idle")
    g.add_argument("--idle-seconds", type=float, default=60.0, help="how long the system is watched at rest")
    g.add_argument("--idle-settle", type=float, default=10.0, help="seconds after start before watching")


def cpu_seconds(pid: int) -> float | None:
    """``utime + stime`` of a process (all its threads), from ``/proc/<pid>/stat``; None when it is gone."""
    try:
        t = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(t.user + t.system)


async def postgres_pids(engine: AsyncEngine, tag: str) -> tuple[set[int], set[int]]:
    """The sessions of the run's services, and the cluster's background processes."""
    async with engine.connect() as conn:
        ours = await conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name LIKE :p"), {"p": f"%{tag}%"}
        )
        background = await conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE backend_type NOT IN ('client backend', 'walsender')")
        )
        return {r.pid for r in ours}, {r.pid for r in background}


def kafka_pid(endpoints: Endpoints) -> int | None:
    try:
        broker = local_kafka(endpoints.kafka_instance)
        return int((broker.root / "kafka.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _sum(pids: set[int], start: dict[int, float]) -> float:
    """CPU used since the start by ``pids`` (a process not there at the start counts from its own start)."""
    used = 0.0
    for pid in pids:
        now = cpu_seconds(pid)
        if now is not None:
            used += now - start.get(pid, 0.0)
    return used


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    tag = run_id()
    servers: dict[str, Server] = {}
    seconds, settle = float(args.idle_seconds), float(args.idle_settle)
    async with contextlib.AsyncExitStack() as stack:
        watcher: AsyncEngine | None = None
        try:
            for name in SERVICES:
                engine, schema = await stack.enter_async_context(
                    fresh_schema(endpoints.database_url, f"idle_{tag}_{name}", pool_size=1, max_overflow=0)
                )
                watcher = watcher or engine
                env = {
                    "PMO_DATABASE_URL": endpoints.database_url,
                    "PMO_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
                    "PMO_ENV": "development",
                    "PMO_DB_SCHEMA": schema,
                    "PMO_KAFKA_GROUP_PREFIX": f"bench-idle-{tag}",
                }
                servers[name] = start_server(f"idle-{name}", f"{name}.bootstrap:create_app", env)
            for server in servers.values():
                await wait_ready(server, "/readyz", timeout=120)
            await asyncio.sleep(settle)
            assert watcher is not None
            ours_pg, background_pg = await postgres_pids(watcher, tag)
            broker = kafka_pid(endpoints)
            groups: dict[str, set[int]] = {name: {s.process.pid} for name, s in servers.items()}
            groups["postgresql sessions of the services"] = ours_pg
            groups["postgresql background processes (whole cluster)"] = background_pg
            if broker is not None:
                groups["kafka broker (JVM)"] = {broker}
            start = {pid: c for pids in groups.values() for pid in pids if (c := cpu_seconds(pid)) is not None}
            load_before = os.getloadavg()[0]
            began = time.monotonic()
            await asyncio.sleep(seconds)
            wall = time.monotonic() - began
            ours_after, _ = await postgres_pids(watcher, tag)
            groups["postgresql sessions of the services"] = ours_pg | ours_after
            used = {name: _sum(pids, start) for name, pids in groups.items()}
        finally:
            for server in servers.values():
                stop_server(server)
    total = sum(used.values())
    figures: dict[str, Any] = {
        "seconds": round(wall, 1),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "cpu_seconds": {name: round(v, 3) for name, v in used.items()},
        "share_of_one_core": {name: round(v / wall, 4) for name, v in used.items()},
        "total_cpu_seconds": round(total, 3),
        "total_share_of_one_core": round(total / wall, 4),
        "target_share_of_one_core": TARGET_SHARE,
        "kafka_pid_found": broker is not None,
    }
    for name, v in used.items():
        print(f"  {name:<50} {v:7.2f} s CPU  {v / wall:7.2%} of one core")
    print(
        f"  {'total':<50} {total:7.2f} s CPU  {total / wall:7.2%} of one core over {wall:.0f} s "
        f"(target < {TARGET_SHARE:.0%}; load {load_before:.2f} -> {figures['load_average_after']:.2f})"
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.idle")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.idle")


if __name__ == "__main__":
    raise SystemExit(main())
