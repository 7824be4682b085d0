"""``pmo``: run the PMO backend locally and manage its private infrastructure.

pmo run              infrastructure + all five services; Ctrl-C stops everything it started
pmo infra start      start (or reuse) the private PostgreSQL and Kafka, print their addresses
pmo infra stop       stop them
pmo infra status     show whether they run
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time


def _run(args: argparse.Namespace) -> int:
    from shared.infra.system import System, ensure_infrastructure, stop_infrastructure

    started = time.monotonic()
    print("starting infrastructure (PostgreSQL, Kafka)...", flush=True)
    endpoints = ensure_infrastructure()
    print(f"  database: {endpoints.database_url}\n  kafka:    {endpoints.kafka_bootstrap_servers}", flush=True)
    system = System(endpoints)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        system.start()
        print(f"ready in {time.monotonic() - started:.1f}s:", flush=True)
        for service in system.services.values():
            print(f"  {service.name:<10} {service.url}/docs   (log: {service.log_path})", flush=True)
        from shared.auth import mint_token

        token = mint_token("dev.director", ["director"], ttl_seconds=8 * 3600)
        print(f"a development token (director, 8 h):\n  export TOKEN={token}")
        print("Ctrl-C stops everything.", flush=True)
        while not stop.wait(1.0):
            for service in system.services.values():
                if service.process.poll() is not None:
                    print(f"{service.name} exited; see {service.log_path}", file=sys.stderr)
                    return 1
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping...", flush=True)
        system.stop()
        if not args.keep_infra:
            stop_infrastructure(endpoints)
    return 0


def _infra(args: argparse.Namespace) -> int:
    from shared.infra.kafka import LocalKafka
    from shared.infra.postgres import LocalPostgres

    pg, kafka = LocalPostgres(), LocalKafka()
    if args.action == "start":
        print(f"postgres: {pg.start()}")
        print(f"kafka:    {kafka.start()}")
    elif args.action == "stop":
        kafka.stop()
        pg.stop()
    else:
        print(f"postgres: {'running ' + pg.url() if pg.is_running() else 'stopped'}")
        print(f"kafka:    {'running ' + kafka.bootstrap_servers if kafka.is_running() else 'stopped'}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from shared.auth import mint_token

    print(mint_token(args.sub, args.role, ttl_seconds=args.ttl))
    return 0


def _access(args: argparse.Namespace) -> int:
    import importlib
    import os

    os.environ.setdefault("PMO_ENV", "development")
    os.environ.setdefault("PMO_DATABASE_URL", "postgresql+asyncpg://unused/unused")
    os.environ.setdefault("PMO_KAFKA_BOOTSTRAP_SERVERS", "unused:9092")
    from shared.infra.system import SERVICES

    for service in SERVICES:
        app = importlib.import_module(f"{service}.bootstrap").create_app()
        print(f"\n## {service}\n\n| method | path | roles |\n|---|---|---|")
        for path, item in app.openapi()["paths"].items():
            if path in ("/healthz", "/readyz"):
                continue
            for method in item:
                roles = sorted(r.value for r in app.state.access.allowed(method.upper(), path))
                print(f"| {method.upper()} | `{path}` | {', '.join(roles)} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pmo", description="Run the PMO backend locally.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start infrastructure and all services; Ctrl-C stops them")
    run.add_argument("--keep-infra", action="store_true", help="leave PostgreSQL and Kafka running on exit")
    run.set_defaults(func=_run)
    infra = commands.add_parser("infra", help="manage the private PostgreSQL and Kafka")
    infra.add_argument("action", choices=["start", "stop", "status"])
    infra.set_defaults(func=_infra)
    token = commands.add_parser("token", help="mint a development bearer token (development mode only)")
    token.add_argument("--sub", default="dev.director", help="the acting user (default: dev.director)")
    token.add_argument("--role", action="append", default=[], help="a role; repeat for several (default: director)")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds (default: 8 hours)")
    token.set_defaults(func=_token)
    access = commands.add_parser("access", help="print which roles may call each route of each service")
    access.set_defaults(func=_access)
    args = parser.parse_args(argv)
    if args.command == "token" and not args.role:
        args.role = ["director"]
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
