"""The write path through HTTP: ``POST /projects`` on the projects service against a bare FastAPI endpoint.

Each server runs in its own uvicorn process (one worker) on a free loopback port:

* ours: the projects service (``bench.projects_app``, i.e. ``projects.bootstrap.create_app`` with its relay
  publishing to a topic of this run): validate, load the stream, decide, append the event, update the query
  table, all in one transaction; the relay publishes to Kafka in the same process meanwhile;
* bare: ``bench.bare_app``, the same body validation and one ``INSERT`` with SQLAlchemy async.

For each concurrency (default 1, 8 and 64 clients, each an ``httpx.AsyncClient`` with its own keep-alive
connection) a fixed number of requests (default 500), each with a unique project code, is sent; commands/s is
requests over wall time, latencies are per request as the client saw them. The load generator is a Python
process on the same two cores as the server and PostgreSQL: the figures are for the whole machine.

Run alone: ``python -m bench.http [--http-requests 500] [--http-concurrency 1,8,64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    LOG_DIR,
    Measurement,
    auth_headers,
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
from shared.infra.paths import REPO_ROOT
from shared.infra.system import Endpoints
from shared.kafka import KafkaOptions

NAME = "http"
WARM_UP_REQUESTS = 50


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("http")
    g.add_argument("--http-requests", type=int, default=500, help="requests per concurrency level (default 500)")
    g.add_argument("--http-concurrency", default="1,8,64", help="comma-separated client counts (default 1,8,64)")


def project_body(code: str, portfolio_id: str) -> dict[str, Any]:
    """As the integration tests' ``project_body``, with the given unique code and portfolio."""
    return {
        "code": code,
        "name": "CRM replacement",
        "objectives": "Replace the legacy CRM",
        "sponsor": "dora.director",
        "manager": "max.manager",
        "planned_start": "2027-01-04",
        "planned_end": "2027-12-17",
        "currency": "EUR",
        "portfolio_id": portfolio_id,
    }


async def create_portfolio(url: str) -> str:
    """The portfolio the projects are registered in (the projects service refuses an unknown one)."""
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=auth_headers()) as client:
        response = await client.post("/portfolios", json={"portfolio_id": slug, "name": "Benchmark portfolio"})
    if response.status_code not in (201, 404, 405):  # 404/405: a server without portfolios (the bare one)
        raise RuntimeError(f"cannot create portfolio: {response.status_code} {response.text[:300]}")
    return slug


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
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
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


async def load(url: str, requests: int, concurrency: int, portfolio_id: str) -> Measurement:
    """``requests`` POSTs from ``concurrency`` clients, each on its own connection, opened before the clock starts."""
    tag = uuid.uuid4().hex[:8]
    pending = iter(range(requests))
    latencies: list[float] = []
    errors = 0
    error_sample: str | None = None
    clients = [httpx.AsyncClient(base_url=url, timeout=60, headers=auth_headers()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(c.get("/healthz") for c in clients))

        async def client_loop(client: httpx.AsyncClient) -> None:
            nonlocal errors, error_sample
            for i in pending:
                body = project_body(f"B{tag}-{concurrency}-{i}", portfolio_id)
                started = time.perf_counter()
                response = await client.post("/projects", json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    errors += 1
                    error_sample = error_sample or f"{response.status_code} {response.text[:200]}"

        started = time.perf_counter()
        await asyncio.gather(*(client_loop(c) for c in clients))
        seconds = time.perf_counter() - started
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return Measurement(requests, seconds, latencies, errors, error_sample)


async def measure(server: Server, requests: int, levels: Sequence[int]) -> dict[int, Measurement]:
    portfolio_id = await create_portfolio(server.url)
    await load(server.url, WARM_UP_REQUESTS, 8, portfolio_id)
    results = {}
    for clients in levels:
        results[clients] = m = await load(server.url, requests, clients, portfolio_id)
        print(describe(f"{server.name}: POST /projects, {clients} clients", m, "commands"))
    return results


# ---------------------------------------------------------------------------------------------------------------


async def run(endpoints: Endpoints, args: argparse.Namespace) -> dict[str, Any]:
    requests = scaled(args, args.http_requests)
    levels = [int(c) for c in str(args.http_concurrency).split(",") if c.strip()]
    kafka = KafkaOptions(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    topic = f"pmo.bench-projects-{run_id()}.v1"
    print(f"  {requests} requests per level, clients {levels}; our relay publishes to {topic}")
    env = {
        "PMO_DATABASE_URL": endpoints.database_url,
        "PMO_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
        "PMO_ENV": "development",  # the built-in token secret; the clients send tokens from shared.auth.mint_token
    }
    results: dict[str, dict[int, Measurement]] = {}
    async with fresh_schema(endpoints.database_url, "http", pool_size=1, max_overflow=0) as (_, schema):
        try:
            for name, app, ready, extra in (
                ("ours", "bench.projects_app:create_app", "/readyz", {"PMO_BENCH_TOPIC": topic}),
                ("bare", "bench.bare_app:create_app", "/healthz", {}),
            ):
                server = start_server(name, app, {**env, "PMO_DB_SCHEMA": schema, **extra})
                try:
                    await wait_ready(server, ready)
                    results[name] = await measure(server, requests, levels)
                finally:
                    stop_server(server)
        finally:
            await delete_topic(kafka, topic)

    figures: dict[str, Any] = {"requests_per_level": requests, "levels": {}}
    for clients in levels:
        ours, bare = results["ours"][clients], results["bare"][clients]
        value = ratio(ours.rate, bare.rate)
        print(describe_ratio(f"ratio ours / bare, {clients} clients (commands/s)", value))
        figures["levels"][str(clients)] = {
            "ours": ours.figures("commands"),
            "bare": bare.figures("commands"),
            "ratio_ours_to_bare": value,
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "", "bench.http")
    add_arguments(p)
    return run_benchmarks([(NAME, run)], p.parse_args(argv), "bench.http")


if __name__ == "__main__":
    raise SystemExit(main())
