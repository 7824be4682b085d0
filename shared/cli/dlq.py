"""``pmo dlq list|show|redrive``: the events the services' consumers could not apply, and applying them again once
the cause is fixed (:mod:`shared.dead_letters`). Straight on each service's schema, like ``pmo relay``; the redrive
runs the service's read model code in this process, in one transaction per consumer, exactly as the service's
``POST /operations/dead-letters/{event_id}/redrive`` does.

Exit status: 0 done; 1 something was not applied (not found, already redriven, failed again: each one said);
2 the command line was refused (the argument named)."""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from shared.cli.output import printable, table

SERVICES = ("projects", "budget", "resources", "invoicing", "reporting")
MAX_LIMIT = 500


def register(commands: Any) -> None:
    """Add ``pmo dlq`` and its actions to the CLI's subcommands."""
    dlq = commands.add_parser(
        "dlq", help="events a service's consumers could not apply (dead letters): list, show, redrive"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = dlq.add_parser("list", help="dead letters, in log order (every service unless --service)")
    listing.add_argument("--service", choices=SERVICES)
    listing.add_argument("--consumer", help="only this read model's, e.g. budget.projects")
    listing.add_argument("--status", choices=["dead-lettered", "redriven", "all"], default="dead-lettered")
    listing.add_argument("--limit", default="50", help=f"at most this many per service (1 to {MAX_LIMIT}, default 50)")
    show = dlq.add_parser("show", help="one event's dead letters: the record as it came, errors, every redrive")
    show.add_argument("service", choices=SERVICES)
    show.add_argument("event_id")
    show.add_argument("--consumer", help="only this read model's")
    again = dlq.add_parser("redrive", help="apply dead-lettered events again, once their cause is fixed")
    again.add_argument("service", choices=SERVICES)
    again.add_argument("event_ids", nargs="*", metavar="EVENT_ID")
    again.add_argument("--all", action="store_true", help="every dead-lettered event of the service, in log order")
    again.add_argument("--reason", default="not given", help="why (kept with who and when; default: 'not given')")
    again.add_argument("--consumer", help="only for this read model (default: every one that holds it)")
    again.add_argument("--by", help="who asks (default: the login name)")
    for sub in (listing, show, again):
        sub.add_argument("--schema", help="the service's schema (default: its name; with --service or one service)")
        sub.add_argument("--database-url", help="default: PMO_DATABASE_URL, else the private local PostgreSQL")
        sub.set_defaults(func=main)


class Refused(Exception):
    """The command line is refused: ``argument`` and why."""

    def __init__(self, argument: str, reason: str) -> None:
        super().__init__(f"{argument}: {reason}")


def main(args: argparse.Namespace) -> int:
    """Run ``pmo dlq <action>``; the exit status."""
    from shared import aio

    try:
        checked = _checked(args)
    except Refused as exc:
        print(f"pmo dlq {args.action}: {printable(exc)}", file=sys.stderr)
        return 2
    from shared.cli.database import database_url

    url = database_url(args.database_url)  # may start the private PostgreSQL: before the command's event loop
    return aio.run(_run(args, url, checked))


def _checked(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments, bounded as the HTTP API bounds them (a redrive's reason and consumer by its body model)."""
    import re

    from pydantic import ValidationError

    from shared.dead_letters.api import CONSUMER_PATTERN, RedriveRequest
    from shared.limits import MAX_NAME

    if args.schema and not getattr(args, "service", None):
        raise Refused("--schema", "names one service's schema: give --service too")
    consumer = args.consumer
    if consumer is not None and (len(consumer) > MAX_NAME or not re.match(CONSUMER_PATTERN, consumer)):
        raise Refused("--consumer", "must be a read model's name, <service>.<read model>, e.g. budget.projects")
    checked: dict[str, Any] = {"consumer": consumer}
    if args.action == "list":
        if not args.limit.isascii() or not args.limit.isdigit() or not 1 <= int(args.limit) <= MAX_LIMIT:
            raise Refused("--limit", f"must be a whole number from 1 to {MAX_LIMIT}")
        checked["limit"] = int(args.limit)
        return checked
    ids = [args.event_id] if args.action == "show" else args.event_ids
    if args.action == "redrive" and bool(ids) == bool(args.all):
        raise Refused("EVENT_ID", "give event ids or --all (one or the other)")
    if len(ids) > MAX_LIMIT:
        raise Refused("EVENT_ID", f"at most {MAX_LIMIT} at a time (or --all)")
    bad = next((i for i in ids if not _is_uuid(i)), None)
    if bad is not None:
        raise Refused("EVENT_ID", f"{bad[:60]!r} is not an event id (a UUID)")
    checked["ids"] = [uuid.UUID(i) for i in ids]
    if args.action == "redrive":
        try:
            checked["reason"] = RedriveRequest(reason=args.reason, consumer=consumer).reason
        except ValidationError as exc:
            error = exc.errors()[0]
            raise Refused("--" + ".".join(str(p) for p in error["loc"]), error["msg"]) from None
    return checked


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def _run(args: argparse.Namespace, url: str, checked: dict[str, Any]) -> int:
    from sqlalchemy import text

    from shared.cli.database import cli_engine

    services: Sequence[str] = [args.service] if getattr(args, "service", None) else SERVICES
    status = 0
    for service in services:
        schema = args.schema or service
        engine = cli_engine(url, schema)
        try:
            async with engine.connect() as conn:
                kept = (await conn.execute(text("SELECT to_regclass('dead_letters') IS NOT NULL"))).scalar_one()
            if not kept:  # never created: the service has not run (on this schema) since dead letters are kept
                print(f"{service}: no dead letters (no dead_letters table in schema {schema})", file=sys.stderr)
                status |= 0 if args.action == "list" else 1
            elif args.action == "list":
                status |= await _list(engine, service, args, checked)
            elif args.action == "show":
                status |= await _show(engine, checked)
            else:
                status |= await _redrive(engine, service, args, checked)
        finally:
            await engine.dispose()
    return status


async def _list(engine: Any, service: str, args: argparse.Namespace, checked: dict[str, Any]) -> int:
    from shared.dead_letters import store

    async with engine.connect() as conn:
        letters, total = await store.listed(
            conn,
            consumer=checked["consumer"],
            status=None if args.status == "all" else args.status,
            limit=checked["limit"],
        )
    if not args.service:
        print(f"## {service}: {total} {'dead letter' if total == 1 else 'dead letters'}")
    rows = [
        {
            "event": x.event_id,
            "consumer": x.consumer,
            "type": x.event_type,
            "where": f"{x.record.topic}[{x.record.partition}]@{x.record.offset}",
            "status": x.status,
            "attempts": x.attempts,
            "since": x.dead_lettered_at.isoformat(timespec="seconds"),
            "error": x.error[:100],
        }
        for x in letters
    ]
    if rows:
        print(table(rows, ["event", "consumer", "type", "where", "status", "attempts", "since", "error"]))
        if total > len(rows):
            print(f"... {total - len(rows)} more (--limit)")
    elif args.service:
        print("no dead letters")
    return 0


async def _show(engine: Any, checked: dict[str, Any]) -> int:
    from shared.dead_letters.api import dead_lettered_event

    (event_id,) = checked["ids"]
    async with engine.connect() as conn:
        found = await dead_lettered_event(conn, event_id, checked["consumer"])
    if found is None:
        print(f"event {event_id} was not dead-lettered here", file=sys.stderr)
        return 1
    for letter in found.dead_letters:
        print(printable(f"{letter.consumer}: {letter.status}, {letter.attempts} failed attempt(s)"))
        for name in ("event_type", "subject", "topic", "partition", "offset", "key", "dead_lettered_at",
                     "last_failed_at", "redriven_at", "redriven_by", "redrive_reason", "error"):  # fmt: skip
            value = getattr(letter, name)
            if value is not None:
                print(printable(f"  {name}: {value}"))
        print(printable(f"  headers: {letter.headers}"))
        print(printable(f"  data: {letter.data}"))
    if found.redrives:
        rows = [a.model_dump() for a in found.redrives]
        print(table(rows, ["consumer", "attempted_at", "attempted_by", "outcome", "reason", "error"]))
    return 0


async def _redrive(engine: Any, service: str, args: argparse.Namespace, checked: dict[str, Any]) -> int:
    import importlib

    from shared.dead_letters import store
    from shared.dead_letters.redrive import redrive
    from shared.errors import PMOError

    projections = importlib.import_module(f"{service}.bootstrap").SPEC.projections
    ids = checked["ids"]
    if args.all:
        async with engine.connect() as conn:
            ids = await store.open_ids(conn, checked["consumer"])
        if not ids:
            print("nothing dead-lettered")
            return 0
    by = args.by or getpass.getuser()
    status = 0
    for event_id in ids:
        try:
            outcomes = await redrive(
                engine, projections, event_id, by=by, reason=checked["reason"], consumer=checked["consumer"]
            )
        except PMOError as exc:
            print(printable(f"{event_id}: {exc.detail}"), file=sys.stderr)
            status = 1
            continue
        for outcome in outcomes:
            line = f"{event_id} {outcome.consumer}: {outcome.result}"
            print(printable(line + (f" ({outcome.error})" if outcome.error else "")))
            if outcome.result == "failed":
                status = 1
    return status
