"""Memory: peak resident memory (RSS) of each of the five services at rest.

Each service runs as ``uvicorn <service>.bootstrap:create_app`` (as ``pmo run`` starts it; ``PMO_ENV=development``)
on a fresh schema of its own and a consumer-group prefix of the run's own, against the benchmarks' private Kafka.
Once every one answers ``/readyz``, their RSS is sampled every 50 ms for ``--memory-seconds`` (default 5): the
peak is "at rest" (relay polling, consumers idle, the reporting evaluator ticking). The peaks during a replay
and under load are measured where those happen: ``replay`` (the replaying process and the reporting service
catching up from the beginning of the topic) and ``freshness`` (projects and reporting at 200 commands/s).

Run alone: ``python -m bench.memory [--memory-seconds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from bench.common import RssSampler, fresh_schema, parser, run_benchmarks, run_id
from bench.http import Server, start_server, stop_server, wait_ready
from shared.infra.system import SERVICES, Endpoints

NAME = "memory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("memory")
    g.add_argument("--memory-seconds", type=float, default=5.0, help="how long services are sampled at rest")


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    tag = run_id()
    servers: dict[str, Server] = {}
    failed: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        try:
            for name in SERVICES:
                _, schema = await stack.enter_async_context(
                    fresh_schema(endpoints.database_url, f"mem_{name}", pool_size=1, max_overflow=0)
                )
                env = {
                    "PMO_DATABASE_URL": endpoints.database_url,
                    "PMO_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
                    "PMO_ENV": "development",
                    "PMO_DB_SCHEMA": schema,
                    "PMO_KAFKA_GROUP_PREFIX": f"bench-{tag}",
                }
                servers[name] = start_server(f"memory-{name}", f"{name}.bootstrap:create_app", env)
            for name, server in list(servers.items()):
                try:
                    await wait_ready(server, "/readyz", timeout=120)
                except Exception as exc:  # a service that cannot start must not hide the others' figures
                    failed[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    stop_server(servers.pop(name))
            await asyncio.sleep(1.0)  # let start-up work (topic metadata, first polls) settle
            with RssSampler({n: s.process.pid for n, s in servers.items()}, interval=0.05) as rss:
                await asyncio.sleep(float(args.memory_seconds))
        finally:
            for server in servers.values():
                stop_server(server)
    peaks = rss.peak_mib()
    for name in SERVICES:
        shown = f"{peaks[name]:7.1f} MiB" if name in peaks else f"failed to start: {failed.get(name)}"
        print(f"  {name:<12} peak RSS at rest {shown}")
    return {
        "seconds_sampled": args.memory_seconds,
        "samples": rss.samples,
        "peak_rss_mib_at_rest": peaks,
        **({"failed": failed} if failed else {}),
    }


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.memory")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.memory")


if __name__ == "__main__":
    raise SystemExit(main())
