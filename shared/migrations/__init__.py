"""Versioned schemas: the Alembic migrations of every service's schema, applied by ``pmo migrate`` or at start.

One migrations environment serves the five services (this package). Each schema keeps its own version table,
``<schema>.alembic_version``, holding the heads of two branches: ``runtime`` (``versions/runtime``: the event store,
the relay's and the consumers' tables, alike in every schema) and the service's own (``versions/<service>``: its
query and reference tables). A change to the shared tables is one revision on ``runtime``, applied to every schema;
a change to one service's tables is one revision on its branch. The first revision of each branch is the schema as
the start-time DDL of earlier releases made it (``IF NOT EXISTS``), so a database of such a release is adopted with
its data and stamped.

:func:`upgrade` runs in one transaction under the advisory lock ``pmo-migrate:<schema>``: replicas or jobs that
migrate one schema together queue on it; the first applies what is missing, the others then find nothing to do. A
failure rolls the whole run back (PostgreSQL's DDL is transactional): a schema is never half migrated. :func:`check`
is what a service that may not migrate runs at start (``PMO_MIGRATE_ON_START=false``): it reads the version table
only, so the service needs no DDL rights, and it refuses a schema behind the code (:class:`SchemaBehindError`).

The service's ``tables.DDL`` lists stay the current schema in one piece (scratch schemas of tests and ``pmo replay
--schema``); ``tests/integration/test_migrations.py`` checks that migrating gives the same tables, columns and
indexes, so a change to a DDL list without its revision fails there.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from alembic.config import Config
from alembic.migration import MigrationContext, MigrationInfo
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import lock_key

__all__ = [
    "RUNTIME",
    "SERVICES",
    "SchemaBehindError",
    "check",
    "current",
    "downgrade",
    "heads",
    "lock_key",
    "prepare",
    "sql",
    "upgrade",
]

log = logging.getLogger(__name__)

SERVICES = ("projects", "budget", "resources", "invoicing", "reporting")
RUNTIME = "runtime"
"""The branch of the tables every schema holds; alone (``service=None``) for scratch schemas of tests and tools."""
HERE = Path(__file__).resolve().parent
VERSIONS = HERE / "versions"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class SchemaBehindError(RuntimeError):
    """The schema lacks revisions the code needs, and this process may not apply them."""


def locations(service: str | None, extra: Iterable[str | Path] = ()) -> tuple[str, ...]:
    """The version directories of ``service`` (``None``: the runtime branch alone), then ``extra`` ones."""
    if service is not None and service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    own = () if service is None else (str(VERSIONS / service),)
    return (str(VERSIONS / RUNTIME), *own, *(str(Path(p).resolve()) for p in extra))


@functools.lru_cache(maxsize=64)
def _scripts(where: tuple[str, ...]) -> ScriptDirectory:
    """The revisions found in ``where`` (read once per process: revision files do not change under it)."""
    return ScriptDirectory(str(HERE), version_locations=list(where))


def heads(service: str | None, extra_locations: Iterable[str | Path] = ()) -> frozenset[str]:
    """The revisions the code of ``service`` needs its schema at (one per branch)."""
    return frozenset(_scripts(locations(service, extra_locations)).get_heads())


def _valid(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def upgrade(
    engine: AsyncEngine, service: str | None, schema: str, *, extra_locations: Iterable[str | Path] = ()
) -> list[str]:
    """Apply every revision ``schema`` lacks, in one transaction under the schema's advisory lock; the revisions
    applied, in order (empty: it was up to date). The schema is created when missing."""
    script = _scripts(locations(service, extra_locations))
    return await _run(engine, _valid(schema), lambda rev: script._upgrade_revs("heads", rev), script)


async def downgrade(
    engine: AsyncEngine,
    service: str | None,
    schema: str,
    destination: str,
    *,
    extra_locations: Iterable[str | Path] = (),
) -> list[str]:
    """Undo the revisions above ``destination`` (a revision id, ``<branch>@<rev>`` or ``-1``-style relative
    step), one transaction, same lock; the revisions undone. First revisions refuse: drop the schema instead."""
    script = _scripts(locations(service, extra_locations))
    return await _run(engine, _valid(schema), lambda rev: script._downgrade_revs(destination, rev), script)


async def _run(engine: AsyncEngine, schema: str, steps: Callable[[Any], Any], script: ScriptDirectory) -> list[str]:
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": lock_key(schema)})
        # Migrations may take longer than a service's statement timeout (an index on a big table).
        await conn.execute(text("SET LOCAL statement_timeout = 0"))
        exists = await conn.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema})
        if not exists:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.execute(text(f'SET LOCAL search_path = "{schema}", public'))
        done: list[str] = await conn.run_sync(_migrate, script, schema, steps)
    if done:
        log.info("schema %s migrated: %s", schema, ", ".join(done), extra={"schema": schema})
    return done


def _migrate(conn: Connection, script: ScriptDirectory, schema: str, steps: Callable[[Any], Any]) -> list[str]:
    done: list[str] = []

    def applied(ctx: MigrationContext, step: MigrationInfo, heads: Any, run_args: Any) -> None:
        done.append(f"{'' if step.is_upgrade else '-'}{step.up_revision_id}")

    with EnvironmentContext(Config(), script, fn=lambda rev, _ctx: steps(rev)) as env:
        env.configure(connection=conn, version_table_schema=schema, transactional_ddl=True, on_version_apply=applied)
        with env.begin_transaction():
            env.run_migrations()
    return done


async def current(engine: AsyncEngine, schema: str) -> frozenset[str]:
    """The revisions recorded in ``schema``'s version table (empty when it has none); reads only."""
    async with engine.connect() as conn:
        found: frozenset[str] = await conn.run_sync(_current, _valid(schema))
        return found


def _current(conn: Connection, schema: str) -> frozenset[str]:
    return frozenset(MigrationContext.configure(conn, opts={"version_table_schema": schema}).get_current_heads())


def pending(script: ScriptDirectory, recorded: frozenset[str]) -> tuple[list[str], frozenset[str]]:
    """(revisions of ``script`` not applied under ``recorded``, recorded revisions ``script`` does not know)."""
    known = {r for r in recorded if _knows(script, r)}
    applied: set[str] = set()
    stack = list(known)
    while stack:
        revision = script.get_revision(stack.pop())
        if revision is None or revision.revision in applied:
            continue
        applied.add(revision.revision)
        down = revision.down_revision
        stack.extend([down] if isinstance(down, str) else list(down or ()))
    missing = [r.revision for r in reversed(list(script.walk_revisions())) if r.revision not in applied]
    return missing, frozenset(recorded) - known


def _knows(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for an id it cannot resolve
        return False


async def check(
    engine: AsyncEngine, service: str | None, schema: str, *, extra_locations: Iterable[str | Path] = ()
) -> frozenset[str]:
    """The schema's revisions, once sure it has every one the code needs; reads the version table only.

    Raises :class:`SchemaBehindError` naming what is missing and what to run. A schema at revisions this code does
    not know (a newer release migrated it: expand-then-contract upgrades keep old replicas working) is accepted
    with a warning.
    """
    script = _scripts(locations(service, extra_locations))
    recorded = await current(engine, schema)
    missing, unknown = pending(script, recorded)
    if unknown:
        log.warning(
            "schema %s is at revisions this code does not know (%s): a newer release migrated it; starting anyway",
            schema,
            ", ".join(sorted(unknown)),
            extra={"schema": schema},
        )
        return recorded
    if missing:
        at = ", ".join(sorted(recorded)) or "no revision (never migrated)"
        command = f"pmo migrate {service}" + (f" --schema {schema}" if schema != service else "") if service else ""
        raise SchemaBehindError(
            f"schema {schema!r} is behind the code of {service or RUNTIME}: it is at {at} and lacks "
            f"{', '.join(missing)}; run `{command or 'pmo migrate'}` with a role that may change the schema "
            "(or start with PMO_MIGRATE_ON_START=true)"
        )
    return recorded


async def prepare(engine: AsyncEngine, service: str, schema: str, *, apply: bool) -> None:
    """What a service runs at start: migrate (``apply``, development) or check that it need not (production)."""
    if apply:
        await upgrade(engine, service, schema)
    else:
        await check(engine, service, schema)


def sql(service: str | None, schema: str, out: TextIO) -> None:
    """Write the SQL that brings an empty ``schema`` to the code's revisions (for a DBA to review or run with
    psql), without a database: the same statements :func:`upgrade` runs, in one transaction under the same lock."""
    script = _scripts(locations(service))
    _valid(schema)
    with EnvironmentContext(
        Config(),
        script,
        fn=lambda rev, _ctx: script._upgrade_revs("heads", rev),
        as_sql=True,
        destination_rev="heads",
    ) as env:
        env.configure(dialect_name="postgresql", output_buffer=out, version_table_schema=schema, transactional_ddl=True)
        with env.begin_transaction():
            env.execute(f"SELECT pg_advisory_xact_lock(hashtext('{lock_key(schema)}'))")
            env.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            env.execute(f'SET LOCAL search_path = "{schema}", public')
            env.run_migrations()
