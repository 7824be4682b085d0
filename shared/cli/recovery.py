"""``pmo backup`` / ``restore`` / ``republish`` / ``reconcile``: disaster recovery (docs/operations.md, "Recovery
runbook"). They connect with ``--database-url`` / ``--bootstrap-servers``, else ``PMO_DATABASE_URL`` /
``PMO_KAFKA_BOOTSTRAP_SERVERS`` (with the services' ``PMO_DATABASE_SSL_*`` and Kafka security settings), else the
private local infrastructure."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any

SERVICES = ("projects", "budget", "resources", "invoicing", "reporting")


def register(commands: Any) -> None:
    """Add the recovery commands to the ``pmo`` parser."""
    for name, summary in (
        ("backup", "one consistent backup (one snapshot) of every service schema, with a manifest"),
        ("restore", "restore a backup into an empty database (refused if it holds any table)"),
        ("republish", "publish a service's event table to its topic again, its relay paused (Kafka lost)"),
        ("reconcile", "append events the topic holds and the table lacks (database restored behind Kafka)"),
    ):
        sub = commands.add_parser(name, help=summary)
        if name == "backup":
            sub.add_argument("--to", required=True, type=Path, help="a new or empty folder")
            sub.add_argument("--schema", action="append", help="a schema to include (default: the five services')")
        elif name == "restore":
            sub.add_argument("--from", dest="source", required=True, type=Path, help="a folder `pmo backup` wrote")
        else:
            sub.add_argument("service", choices=SERVICES)
            sub.add_argument("--schema", help="the service's schema (default: its name)")
            if name == "republish":
                sub.add_argument("--from-start", action="store_true", help="every event, not only from the first "
                                 "one the topic lacks")  # fmt: skip
            else:
                sub.add_argument("--check", action="store_true", help="only report what is missing; change nothing")
        sub.add_argument("--database-url", help="default: PMO_DATABASE_URL, else the private local PostgreSQL")
        if name in ("republish", "reconcile"):
            sub.add_argument("--bootstrap-servers", help="default: PMO_KAFKA_BOOTSTRAP_SERVERS, else the local Kafka")
        sub.set_defaults(func=globals()[f"_{name}"])


def _connections(args: argparse.Namespace, kafka: bool) -> tuple[str, Any, str, str | None, int, int]:
    """Database URL, Kafka options (or None), TLS mode and root certificate, topic partitions and replication."""
    from shared.kafka import KafkaOptions

    url = args.database_url or os.environ.get("PMO_DATABASE_URL")
    servers = getattr(args, "bootstrap_servers", None) or os.environ.get("PMO_KAFKA_BOOTSTRAP_SERVERS")
    if (
        url
        and (servers or not kafka)
        and os.environ.get("PMO_DATABASE_URL")
        and os.environ.get("PMO_KAFKA_BOOTSTRAP_SERVERS")
    ):
        from shared.settings import ServiceSettings

        settings = ServiceSettings()
        options = KafkaOptions(str(servers)) if getattr(args, "bootstrap_servers", None) else settings.kafka()
        return (url, options, settings.database_ssl_mode, settings.database_ssl_root_cert,
                settings.topic_partitions, settings.topic_replication_factor)  # fmt: skip
    if not url or (kafka and not servers):
        from shared.infra.system import ensure_infrastructure

        endpoints = ensure_infrastructure()
        url = url or endpoints.database_url
        servers = servers or endpoints.kafka_bootstrap_servers
    partitions = int(os.environ.get("PMO_TOPIC_PARTITIONS", "3"))
    return url, KafkaOptions(servers) if servers else None, "disable", None, partitions, 1


def _engine(url: str, schema: str, ssl_mode: str, root_cert: str | None) -> Any:
    from shared.db import create_engine

    return create_engine(url, schema, pool_size=3, ssl_mode=ssl_mode, ssl_root_cert=root_cert)


def _run(work: Any) -> int:
    from shared import aio
    from shared.recovery import RecoveryRefusedError

    try:
        return int(aio.run(work))
    except RecoveryRefusedError as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 1


def _backup(args: argparse.Namespace) -> int:
    from shared.recovery.backup import backup

    url, _, ssl_mode, cert, _, _ = _connections(args, kafka=False)
    schemas = args.schema or list(SERVICES)

    async def go() -> int:
        engine = _engine(url, "public", ssl_mode, cert)
        try:
            manifest = await backup(engine, url, schemas, args.to)
        finally:
            await engine.dispose()
        rows = sum(manifest.tables.values())
        print(f"backed up {len(manifest.schemas)} schemas, {len(manifest.tables)} tables, {rows} rows, as of "
              f"{manifest.taken_at}, into {args.to} in {manifest.seconds:.1f}s")  # fmt: skip
        return 0

    return _run(go())


def _restore(args: argparse.Namespace) -> int:
    from shared.recovery.backup import restore

    url, _, ssl_mode, cert, _, _ = _connections(args, kafka=False)

    async def go() -> int:
        engine = _engine(url, "public", ssl_mode, cert)
        try:
            manifest = await restore(engine, url, args.source)
        finally:
            await engine.dispose()
        print(f"restored {len(manifest.schemas)} schemas, {len(manifest.tables)} tables (row counts as in the "
              f"manifest) as of {manifest.taken_at} in {manifest.seconds:.1f}s; next: start the services, then "
              "`pmo reconcile SERVICE --check` for each")  # fmt: skip
        return 0

    return _run(go())


def _republish(args: argparse.Namespace) -> int:
    from shared.recovery.republish import republish

    url, kafka, ssl_mode, cert, partitions, replication = _connections(args, kafka=True)
    spec = importlib.import_module(f"{args.service}.bootstrap").SPEC
    schema = args.schema or args.service

    def progress(done: int, total: int) -> None:
        print(f"\r{args.service}: {done}/{total} events republished", end="", file=sys.stderr, flush=True)

    async def go() -> int:
        engine = _engine(url, schema, ssl_mode, cert)
        try:
            done = await republish(engine, kafka, service=spec.name, topic=spec.topic, schema=schema,
                                   from_start=args.from_start, partitions=partitions, replication=replication,
                                   progress=progress)  # fmt: skip
        finally:
            await engine.dispose()
        print(file=sys.stderr)
        print(f"republished {done.events} of {done.total} events of {args.service} to {spec.topic} in "
              f"{done.seconds:.1f}s ({done.offsets_reset} consumer offsets past the topic's end reset); the relay "
              "resumes from there")  # fmt: skip
        return 0

    return _run(go())


def _reconcile(args: argparse.Namespace) -> int:
    from shared.commands import CommandExecutor
    from shared.eventstore import EventStore
    from shared.recovery.reconcile import compare, reconcile

    url, kafka, ssl_mode, cert, _, _ = _connections(args, kafka=True)
    module = importlib.import_module(f"{args.service}.bootstrap")
    spec, schema = module.SPEC, args.schema or args.service

    async def go() -> int:
        engine = _engine(url, schema, ssl_mode, cert)
        try:
            if args.check:
                found = await compare(engine, kafka, spec.topic)
                print(f"{args.service}: {found.read} records read past the checkpoint; {len(found.missing)} events "
                      f"missing from the table (projects: {', '.join(sorted(found.keys)) or '-'}); "
                      f"{len(found.conflicts)} conflicts")  # fmt: skip
                for conflict in found.conflicts[:20]:
                    print(f"  conflict: {conflict}")
                return 1 if found.missing else 0
            executor = CommandExecutor(engine, EventStore(spec.registry), projector=spec.projector)
            found = await reconcile(engine, kafka, spec.topic, executor=executor,
                                    aggregates=getattr(module, "AGGREGATES", None))  # fmt: skip
            print(f"{args.service}: {len(found.missing)} events appended from {spec.topic} "
                  f"(projects: {', '.join(sorted(found.keys)) or '-'})")  # fmt: skip
            return 0
        finally:
            await engine.dispose()

    return _run(go())
