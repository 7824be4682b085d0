"""Looking after what the services keep: ``pmo replay`` (rebuilding read models from the topics) and ``pmo relay
held|retry|skip`` (the events a relay holds back from Kafka)."""

from __future__ import annotations

import argparse
import functools
import os
import sys

from shared.cli.output import table


def replay(args: argparse.Namespace) -> int:
    import importlib

    from shared import aio
    from shared.db import create_engine, migrate
    from shared.infra.system import ensure_infrastructure
    from shared.replay import replay_all, text_progress

    service, _, model = args.name.partition(".")
    # A projection about what happens from now on (``start_at_end``: the notifications' deliveries) is not a read
    # model of the history: replaying it would send every past event again. It is never replayed.
    names = [
        p.name
        for s in ("budget", "resources", "invoicing", "reporting")
        for p in importlib.import_module(f"{s}.bootstrap").SPEC.projections
        if not getattr(p, "start_at_end", False)
    ]
    if args.name not in names and args.name not in {n.split(".")[0] for n in names}:
        print(f"no read model {args.name}; one of: {', '.join(names)} (or a service: all of its)", file=sys.stderr)
        return 2
    spec = importlib.import_module(f"{service}.bootstrap").SPEC
    chosen = [p for p in spec.projections if p.name in names and (not model or p.name == args.name)]
    endpoints = ensure_infrastructure()
    schema = args.schema or service
    # The deployment's own settings when it is configured through the environment (TLS, SASL), else the private
    # infrastructure's endpoints.
    if os.environ.get("PMO_DATABASE_URL") and os.environ.get("PMO_KAFKA_BOOTSTRAP_SERVERS"):
        from shared.settings import ServiceSettings

        settings = ServiceSettings()
        kafka = settings.kafka()
        ssl_mode, ssl_root_cert = settings.database_ssl_mode, settings.database_ssl_root_cert
    else:
        from shared.kafka import KafkaOptions

        kafka, ssl_mode, ssl_root_cert = KafkaOptions(endpoints.kafka_bootstrap_servers), "disable", None
    writers = 2
    connect = functools.partial(
        create_engine,
        endpoints.database_url,
        schema,
        pool_size=writers + 1,
        ssl_mode=ssl_mode,
        ssl_root_cert=ssl_root_cert,
    )

    async def go() -> int:
        from shared import consumer as consumer_module
        from shared import relay as relay_module

        engine = connect()
        try:
            await migrate(engine, schema, [*relay_module.DDL, *consumer_module.DDL, *spec.ddl])
            result = await replay_all(
                engine,
                kafka,
                chosen,
                [t for p in chosen for t in getattr(p, "tables", ())],
                progress=text_progress(args.name),
                writers=writers,
                processes=args.processes,
                connect=connect,
            )
            print(
                f"replayed {', '.join(p.name for p in chosen)}: {result.records} records from "
                f"{result.partitions} partitions into schema {schema} in {result.processes} process(es)"
            )
            return 0
        finally:
            await engine.dispose()

    return aio.run(go())


def relay(args: argparse.Namespace) -> int:
    import getpass
    import uuid

    from shared import aio, relay_held
    from shared.cli.database import cli_engine, database_url
    from shared.db import migrate

    url = database_url(args.database_url)
    by = args.by if getattr(args, "by", None) else getpass.getuser()

    def show(events: list[relay_held.HeldEvent]) -> str:
        rows = [
            {
                "event": e.event_id,
                "project": e.partition_key,
                "name": e.name,
                "bytes": e.size_bytes,
                "held_at": e.held_at.isoformat(timespec="seconds"),
                "why": e.error[:80] if e.cause else "behind its project's first held event",
                "request": e.request,
            }
            for e in events
        ]
        return table(rows, ["event", "project", "name", "bytes", "held_at", "why", "request"])

    async def go() -> int:
        engine = cli_engine(url, args.schema or args.service, pool_size=1)
        try:
            await migrate(engine, args.schema or args.service, relay_held.DDL)
            if args.action == "held":
                async with engine.connect() as conn:
                    held = await relay_held.held_events(conn, "relay", args.project)
                print(show(held) if held else "nothing held")
                return 0
            if args.action == "retry":
                marked = await relay_held.request_retry(engine, "relay", by, args.project)
                if not marked:
                    print("nothing held" + (f" for project {args.project}" if args.project else ""))
                    return 0
                print(f"retry asked for {len(marked)} held events; waiting for the relay (up to {args.wait:g}s)...")
            else:
                marked = await relay_held.request_skip(engine, "relay", uuid.UUID(args.event_id), by, args.reason)
                if not marked:
                    print(f"event {args.event_id} is not held", file=sys.stderr)
                    return 1
                print(f"skip asked for {args.event_id}; waiting for the relay (up to {args.wait:g}s)...")
            left = await relay_held.await_requests(engine, "relay", marked, args.wait)
            if left is None:
                print("the relay has not acted yet (is the service running?); it will once it runs", file=sys.stderr)
                return 1
            async with engine.connect() as conn:
                held = await relay_held.held_events(conn, "relay", args.project)
            print("done; still held:\n" + show(held) if held else "done; nothing held")
            return 0 if not left else 1
        finally:
            await engine.dispose()

    return aio.run(go())
