"""The write path through HTTP: a typical command of each service, and ``POST /projects`` against a bare endpoint.

Each server runs in its own uvicorn process (one worker) on a free loopback port, on a fresh schema:

* ours: the projects service (``bench.projects_app``, i.e. ``projects.bootstrap.create_app`` with its relay
  publishing to a topic of this run): validate, load the stream, decide, append the event, update the query
  table, all in one transaction; the relay publishes to Kafka in the same process meanwhile;
* bare: ``bench.bare_app``, the same body validation and one ``INSERT`` with SQLAlchemy async;
* the other services (``bench.service_app``: each service as its ``bootstrap`` builds it, publishing on a topic
  of this run and its read models consuming only a topic of this run), one typical command each:
  budget ``POST /budgets/{project_id}/commitments`` (64 projects made known through the run's projects topic and
  baselined first), resources ``POST /resources``, invoicing ``POST /invoices`` (bills unknown work: mismatched),
  reporting ``PUT /portfolios/{portfolio_id}/alert-thresholds`` (64 portfolios). These workloads, their setup and
  their requests are in ``bench.http_workloads``.

For each concurrency (default 1, 8 and 64 clients, each an ``httpx.AsyncClient`` with its own keep-alive
connection opened before the clock) a fixed number of requests (default 500) is sent after a warm-up; commands/s
is requests over wall time, latencies are per request as the client saw them; a non-2xx answer is an error. A
command on an existing stream (a budget, a portfolio's thresholds) goes to a stream of the client's own, so
clients never race on one stream. The load generator is a Python process on the same cores as the server and
PostgreSQL: the figures are for the whole machine.

Run alone: ``python -m bench.http [--http-requests 500] [--http-concurrency 1,8,64] [--http-services budget,...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    LOG_DIR,
    Measurement,
    delete_topic,
    describe,
    describe_ratio,
    fresh_schema,
    parser,
    ratio,
    run_benchmarks,
    run_id,
    scaled,
)
from bench.http_workloads import STREAMS, WORKLOADS, RegisterProject, Workload, create_portfolio, project_body
from bench.service_app import SERVICES, spec_for
from shared.infra.paths import REPO_ROOT
from shared.infra.system import Endpoints, uvicorn_command
from shared.kafka import KafkaOptions

__all__ = [  # with the project requests the other benchmarks send, kept importable from here
    "NAME",
    "Server",
    "add_arguments",
    "create_portfolio",
    "main",
    "project_body",
    "run",
    "start_server",
    "stop_server",
    "wait_ready",
]

NAME = "http"
WARM_UP_REQUESTS = 50
WARM_UP_CLIENTS = 8


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("http")
    g.add_argument("--http-requests", type=int, default=500, help="requests per concurrency level (default 500)")
    g.add_argument("--http-concurrency", default="1,8,64", help="comma-separated client counts (default 1,8,64)")
    g.add_argument(
        "--http-services",
        default=",".join(SERVICES),
        help=f"comma-separated services whose typical command is measured (default {','.join(SERVICES)}); "
        "projects includes the bare reference",
    )


# ---------------------------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_server(name: str, app: str, env: Mapping[str, str]) -> Server:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"http-{name}.log"
    port = free_port()
    with log_path.open("wb") as log:
        child_env = {**os.environ, **env}
        process = subprocess.Popen(
            uvicorn_command(app, port, child_env),
            cwd=REPO_ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, process, port, log_path)


async def wait_ready(server: Server, path: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server.url, timeout=3) as client:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited; {server.log_path}:\n{server.tail()}")
            try:
                if (await client.get(path)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{server.name} not ready after {timeout}s; see {server.log_path}")
            await asyncio.sleep(0.2)


def stop_server(server: Server, timeout: float = 15.0) -> None:
    """SIGTERM the server process (our own child), SIGKILL it if it does not end in time."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


# ---------------------------------------------------------------------------------------------------------------
# Load


async def load(url: str, requests: int, concurrency: int, workload: Workload) -> Measurement:
    """``requests`` commands from ``concurrency`` clients, each on its own connection opened before the clock."""
    pending = iter(range(requests))
    latencies: list[float] = []
    errors = 0
    error_sample: str | None = None
    headers = workload.headers()
    clients = [httpx.AsyncClient(base_url=url, timeout=60, headers=headers) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(c.get("/healthz") for c in clients))

        async def client_loop(index: int, client: httpx.AsyncClient) -> None:
            nonlocal errors, error_sample
            for turn, _ in enumerate(pending):  # the shared iterator hands out the requests
                method, path, body = workload.request(index, concurrency, turn)
                started = time.perf_counter()
                response = await client.request(method, path, json=body)
                latencies.append(time.perf_counter() - started)
                if not response.is_success:
                    errors += 1
                    error_sample = error_sample or f"{response.status_code} {response.text[:200]}"

        started = time.perf_counter()
        await asyncio.gather(*(client_loop(i, c) for i, c in enumerate(clients)))
        seconds = time.perf_counter() - started
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return Measurement(requests, seconds, latencies, errors, error_sample)


async def measure(
    server: Server,
    workload: Workload,
    requests: int,
    levels: Sequence[int],
    label: str,
    kafka: KafkaOptions,
    source: str | None = None,
) -> dict[int, Measurement]:
    await workload.prepare(server.url, kafka, source)
    warm_up = await load(server.url, WARM_UP_REQUESTS, WARM_UP_CLIENTS, workload)
    if warm_up.errors:
        print(f"  {label}: warm-up had {warm_up.errors} errors, e.g. {warm_up.error_sample}")
    results = {}
    for clients in levels:
        results[clients] = m = await load(server.url, requests, clients, workload)
        print(describe(f"{label}, {clients} clients", m, "commands"))
    return results


async def measure_service(
    endpoints: Endpoints,
    env: Mapping[str, str],
    workload: Workload,
    requests: int,
    levels: Sequence[int],
    topics: list[str],
) -> dict[int, Measurement]:
    """One service as its own process on a fresh schema, publishing to (and reading) topics of the run."""
    service, tag = workload.service, workload.tag
    topic = f"pmo.bench-http-{service}-{tag}.v1"
    consumes = bool(spec_for(service, {}).projections)  # its read models then read only a topic of the run
    source = f"pmo.bench-http-{service}-in-{tag}.v1" if consumes else None
    topics.extend(t for t in (topic, source) if t)
    print(f"  {service}: {workload.command}; publishes to {topic}" + (f", reads {source}" if source else ""))
    extra = {"PMO_BENCH_SERVICE": service, "PMO_BENCH_TOPIC": topic}
    if source:
        extra["PMO_BENCH_SOURCE_TOPICS"] = source
    kafka = KafkaOptions(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    async with fresh_schema(endpoints.database_url, f"http_{service}", pool_size=1, max_overflow=0) as (_, schema):
        server = start_server(service, "bench.service_app:create_app", {**env, "PMO_DB_SCHEMA": schema, **extra})
        try:
            await wait_ready(server, "/readyz")
            return await measure(server, workload, requests, levels, service, kafka, source)
        finally:
            stop_server(server)


# ---------------------------------------------------------------------------------------------------------------


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    requests = scaled(args, args.http_requests)
    levels = [int(c) for c in str(args.http_concurrency).split(",") if c.strip()]
    services = [s.strip() for s in str(args.http_services).split(",") if s.strip()]
    unknown = sorted(set(services) - set(SERVICES))
    if unknown or not services:
        raise ValueError(f"--http-services: unknown {', '.join(unknown) or 'none given'}; of {', '.join(SERVICES)}")
    kafka = KafkaOptions(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    tag = run_id()
    streams = max([STREAMS, *levels])
    topic = f"pmo.bench-projects-{tag}.v1"
    env = {
        "PMO_DATABASE_URL": endpoints.database_url,
        "PMO_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
        "PMO_ENV": "development",  # the built-in token secret; the clients send tokens from shared.auth.mint_token
        "PMO_KAFKA_GROUP_PREFIX": f"bench-http-{tag}",
    }
    if "projects" in services:
        print(f"  {requests} requests per level, clients {levels}; our relay publishes to {topic}")
    else:
        print(f"  {requests} requests per level, clients {levels}")
    results: dict[str, dict[int, Measurement]] = {}
    topics: list[str] = []
    try:
        if "projects" in services:
            topics.append(topic)
            async with fresh_schema(endpoints.database_url, "http", pool_size=1, max_overflow=0) as (_, schema):
                for name, app, ready, extra in (
                    ("ours", "bench.projects_app:create_app", "/readyz", {"PMO_BENCH_TOPIC": topic}),
                    ("bare", "bench.bare_app:create_app", "/healthz", {}),
                ):
                    server = start_server(name, app, {**env, "PMO_DB_SCHEMA": schema, **extra})
                    try:
                        await wait_ready(server, ready)
                        workload = RegisterProject(f"{tag}{name[0]}", streams)
                        label = f"{name}: POST /projects"
                        results[name] = await measure(server, workload, requests, levels, label, kafka)
                    finally:
                        stop_server(server)
            for clients in levels:
                value = ratio(results["ours"][clients].rate, results["bare"][clients].rate)
                print(describe_ratio(f"ratio ours / bare, {clients} clients (commands/s)", value))
        for service in services:
            if service != "projects":
                workload = WORKLOADS[service](tag, streams)
                results[service] = await measure_service(endpoints, env, workload, requests, levels, topics)
    finally:
        for t in topics:
            await delete_topic(kafka, t)

    figures: dict[str, Any] = {"requests_per_level": requests}
    if "projects" in services:
        figures["levels"] = {}
        for clients in levels:
            ours, bare = results["ours"][clients], results["bare"][clients]
            figures["levels"][str(clients)] = {
                "ours": ours.figures("commands"),
                "bare": bare.figures("commands"),
                "ratio_ours_to_bare": ratio(ours.rate, bare.rate),
            }
    figures["commands"] = {s: WORKLOADS[s].command for s in services}
    figures["services"] = {
        s: {str(c): m.figures("commands") for c, m in results["ours" if s == "projects" else s].items()}
        for s in services
    }
    print("  summary, per clients: commands/s (p50 / p99 ms)")
    for s in services:
        cells = [
            f"{c:>2}: {f['commands_per_s']:7.1f} ({f.get('p50_ms', 0):.1f} / {f.get('p99_ms', 0):.1f})"
            + (f" {f['errors']} errors" if f.get("errors") else "")
            for c, f in figures["services"][s].items()
        ]
        print(f"    {s:<10} " + "  ".join(cells))
    return figures


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.http")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.http")


if __name__ == "__main__":
    raise SystemExit(main())
