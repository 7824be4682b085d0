"""Development aids: ``pmo demo`` (the demo portfolio), ``pmo token`` (a development bearer token) and ``pmo access``
(which roles may call each route)."""

from __future__ import annotations

import argparse
import os
import sys

from shared.cli.output import printable


def demo(args: argparse.Namespace) -> int:
    from shared.demo import load_demo
    from shared.infra.paths import SERVICE_PORT_OFFSETS, port_base
    from shared.infra.system import SERVICES

    urls = {
        s: os.environ.get(f"PMO_{s.upper()}_URL") or f"http://127.0.0.1:{port_base() + SERVICE_PORT_OFFSETS[s]}"
        for s in SERVICES
    }
    print(printable(load_demo(urls), keep_newlines=True))
    return 0


def token(args: argparse.Namespace) -> int:
    from shared.auth import DEFAULT_MAX_LIFETIME_SECONDS, mint_token

    longest = int(os.environ.get("PMO_JWT_MAX_LIFETIME_SECONDS") or DEFAULT_MAX_LIFETIME_SECONDS)
    if not 0 < args.ttl <= longest:
        print(f"--ttl must be between 1 and {longest} seconds (PMO_JWT_MAX_LIFETIME_SECONDS)", file=sys.stderr)
        return 2
    print(mint_token(args.sub, args.role or ["director"], ttl_seconds=args.ttl))
    return 0


def access(args: argparse.Namespace) -> int:
    import importlib

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
