"""``pmo migrate [SERVICE...]``: bring the services' schemas to the code's revisions (:mod:`shared.migrations`).

The database of each service: ``--database-url``, else ``PMO_DATABASE_URL_<SERVICE>`` (a deployment whose services
connect with roles of their own, as the compose file's migration job does), else ``PMO_DATABASE_URL``, else the
private local PostgreSQL. TLS as the services: ``PMO_DATABASE_SSL_MODE`` and ``PMO_DATABASE_SSL_ROOT_CERT``.
"""

from __future__ import annotations

import argparse
import sys

from shared.migrations import SERVICES


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``pmo migrate``'s arguments, under the ``pmo`` parser's sub-commands."""
    sub = commands.add_parser(
        "migrate",
        help="apply the schemas' pending migrations (every service unless named); twice or concurrently is safe",
    )
    sub.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(SERVICES))
    sub.add_argument("--schema", help="the schema (one service only; default: the service's name)")
    sub.add_argument("--database-url", help="default: PMO_DATABASE_URL_<SERVICE>, PMO_DATABASE_URL, else the local one")
    what = sub.add_mutually_exclusive_group()
    what.add_argument("--check", action="store_true", help="change nothing; exit 1 when a schema is behind")
    what.add_argument("--sql", action="store_true", help="print the SQL for an empty schema; connect to nothing")
    sub.set_defaults(func=migrate)


def migrate(args: argparse.Namespace) -> int:
    from shared import aio, migrations

    services = list(dict.fromkeys(args.services)) or list(SERVICES)
    if unknown := [s for s in services if s not in SERVICES]:
        print(f"no service {', '.join(unknown)}; one of: {', '.join(SERVICES)}", file=sys.stderr)
        return 2
    if args.schema and len(services) != 1:
        print("--schema needs exactly one service", file=sys.stderr)
        return 2
    if args.sql:
        for service in services:
            migrations.sql(service, args.schema or service, sys.stdout)
        return 0
    from shared.cli.database import database_url

    urls = {service: database_url(args.database_url, service) for service in services}
    return aio.run(migrate_schemas(urls, args.schema, check_only=args.check))


async def migrate_schemas(urls: dict[str, str], schema: str | None = None, *, check_only: bool = False) -> int:
    """Migrate (or check) each service's schema at its database URL, one after the other; 0 when all are at the
    code's revisions, 1 when one failed (its transaction rolled back: nothing of it applied) or is behind."""
    from shared import migrations
    from shared.cli.database import cli_engine

    failed = 0
    for service, url in urls.items():
        where = schema or service
        engine = cli_engine(url, where, pool_size=1)
        try:
            if check_only:
                at = await migrations.check(engine, service, where)
                print(f"{service}: schema {where} is up to date ({', '.join(sorted(at))})", flush=True)
                continue
            done = await migrations.upgrade(engine, service, where)
            result = f"applied {', '.join(done)}" if done else "was up to date"
            print(f"{service}: schema {where} {result} ({', '.join(sorted(migrations.heads(service)))})", flush=True)
        except migrations.SchemaBehindError as exc:
            print(f"{service}: {exc}", file=sys.stderr)
            failed = 1
        except Exception as exc:  # a connection or SQL error: say which schema, nothing of it was applied
            reason = f"{type(exc).__name__}: {exc}"
            print(f"{service}: schema {where} not migrated (nothing applied): {reason}", file=sys.stderr)
            failed = 1
        finally:
            await engine.dispose()
    return failed
