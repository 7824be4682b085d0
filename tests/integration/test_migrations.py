"""Versioned schemas (shared.migrations) against the real PostgreSQL: a database of the release before migrations is
adopted with its data and upgraded; migrating twice or from two replicas at once applies everything once; a service
whose role has no DDL rights starts on a migrated schema and refuses one behind; the migrations give the same tables
as the DDL lists."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import authz, migrations
from shared import consumer as consumer_module
from shared import relay as relay_module
from shared.cli.migrating import migrate_schemas
from shared.db import create_engine, lock_key, migrate
from tests.support import auth_header
from tests.support.projects import REGISTRANT, project_body

SECOND_REVISION = """
from alembic import op

revision = "projects_9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE projects ADD COLUMN sponsor_note text NOT NULL DEFAULT ''")


def downgrade() -> None:
    op.execute("ALTER TABLE projects DROP COLUMN sponsor_note")
"""


@pytest.fixture
async def scratch(infra: Any) -> AsyncIterator[tuple[AsyncEngine, str]]:
    schema = f"t_mig_{uuid.uuid4().hex[:10]}"
    engine = create_engine(infra.database_url, schema, pool_size=4)
    yield engine, schema
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


def _first_revision(branch: str) -> list[str]:
    """The statements of a branch's first revision: the start-time DDL of the release before migrations."""
    path = next((migrations.VERSIONS / branch).glob(f"{branch}_0001_*.py"))
    spec = importlib.util.spec_from_file_location(f"first_{branch}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.STATEMENTS)


def _every_revision(service: str, extra: list[Path] | None = None) -> list[str]:
    return migrations.pending(migrations._scripts(migrations.locations(service, extra or [])), frozenset())[0]


async def _columns(engine: AsyncEngine, schema: str, table: str) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"),
            {"s": schema, "t": table},
        )
        return {r.column_name for r in rows}


async def test_a_database_of_the_release_before_migrations_is_adopted_with_its_data_and_upgraded(
    scratch: tuple[AsyncEngine, str], tmp_path: Path
) -> None:
    engine, schema = scratch
    # What every start of the earlier release ran (CREATE ... IF NOT EXISTS), then data in it.
    await migrate(engine, schema, [*_first_revision("runtime"), *_first_revision("projects")])
    project_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO events (stream_id, stream_type, version, event_id, name, schema_version, partition_key, "
                "data, metadata) VALUES (:s, 'project', 1, :e, 'project-registered', 1, :s, '{}', '{}')"
            ),
            {"s": str(project_id), "e": uuid.uuid4()},
        )
        await conn.execute(
            text(
                "INSERT INTO projects (project_id, code, name, status, manager, currency, planned_start, planned_end, "
                "version, registered_at, updated_at, doc) VALUES (:p, 'P-1', 'CRM', 'proposed', 'max', 'EUR', "
                "'2027-01-04', '2027-12-17', 1, now(), now(), CAST(:doc AS jsonb))"
            ),
            {"p": project_id, "doc": json.dumps({"name": "CRM"})},
        )
    later = tmp_path / "later"
    later.mkdir()
    head = next(iter(migrations.heads("projects") - migrations.heads(None)))
    (later / "projects_9001_sponsor_note.py").write_text(SECOND_REVISION.format(head=head))

    applied = await migrations.upgrade(engine, "projects", schema, extra_locations=[later])

    assert sorted(applied) == sorted(_every_revision("projects", [later])) and applied.index(
        "projects_9001"
    ) > applied.index("projects_0001")
    assert await migrations.current(engine, schema) == migrations.heads("projects", [later])
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM events")) == 1
        kept = (await conn.execute(text("SELECT name, sponsor_note FROM projects"))).one()
    assert tuple(kept) == ("CRM", "")  # the row kept, the new column there with its default
    # Twice is a no-op; the code without the later revision accepts the schema (a newer release migrated it).
    assert await migrations.upgrade(engine, "projects", schema, extra_locations=[later]) == []
    assert await migrations.check(engine, "projects", schema) == migrations.heads("projects", [later])
    # A later revision is undone by its downgrade; the first ones refuse (drop the schema instead).
    assert await migrations.downgrade(engine, "projects", schema, head, extra_locations=[later]) == ["-projects_9001"]
    assert "sponsor_note" not in await _columns(engine, schema, "projects")
    with pytest.raises(NotImplementedError):
        await migrations.downgrade(engine, "projects", schema, "projects@base", extra_locations=[later])
    assert "projects" in {t.split(".")[0] for t in await _tables(engine, schema)}  # nothing half undone


async def _tables(engine: AsyncEngine, schema: str) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema})
        return {r.tablename for r in rows}


async def test_two_replicas_migrating_together_one_applies_and_the_other_waits_then_finds_nothing_to_do(
    scratch: tuple[AsyncEngine, str],
) -> None:
    engine, schema = scratch
    async with engine.connect() as holder:  # a third party holds the schema's migration lock
        await holder.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": lock_key(schema)})
        await holder.commit()
        first = asyncio.create_task(migrations.upgrade(engine, "budget", schema))
        second = asyncio.create_task(migrations.upgrade(engine, "budget", schema))
        await asyncio.sleep(0.5)
        assert not first.done() and not second.done()  # both wait for the lock
        assert await _tables(engine, schema) == set()
        await holder.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": lock_key(schema)})
        await holder.commit()
    results = await asyncio.gather(first, second)
    waited, applied = sorted(results, key=len)
    assert waited == [] and sorted(applied) == sorted(_every_revision("budget"))
    assert await migrations.current(engine, schema) == migrations.heads("budget")


async def test_pmo_migrate_applies_once_reports_and_checks(
    scratch: tuple[AsyncEngine, str], infra: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, schema = scratch
    urls = {"invoicing": infra.database_url}
    assert await migrate_schemas(urls, schema, check_only=True) == 1
    assert "behind" in capsys.readouterr().err
    assert await migrate_schemas(urls, schema) == 0
    assert "applied invoicing_0001" in capsys.readouterr().out
    assert await migrate_schemas(urls, schema) == 0
    assert "was up to date" in capsys.readouterr().out
    assert await migrate_schemas(urls, schema, check_only=True) == 0
    out = io.StringIO()
    migrations.sql("invoicing", "invoicing", out)
    assert "pg_advisory_xact_lock(hashtext('pmo-migrate:invoicing'))" in out.getvalue()
    assert "CREATE TABLE IF NOT EXISTS events" in out.getvalue() and out.getvalue().rstrip().endswith("COMMIT;")


@pytest.fixture
async def dml_only_role(infra: Any) -> AsyncIterator[tuple[str, str]]:
    """A migrated projects schema and a login role that may read and write its rows but change no table."""
    schema, role = f"t_mig_{uuid.uuid4().hex[:10]}", f"t_app_{uuid.uuid4().hex[:10]}"
    admin = create_engine(infra.database_url, schema, pool_size=1)
    await migrations.upgrade(admin, "projects", schema)
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'app-only-0123456789'"))
        await conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        await conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
        await conn.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
    url = make_url(infra.database_url).set(username=role, password="app-only-0123456789")
    yield schema, url.render_as_string(hide_password=False)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await conn.execute(text(f'DROP OWNED BY "{role}"'))
        await conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    await admin.dispose()


async def test_a_service_without_ddl_rights_runs_on_a_migrated_schema_and_refuses_one_behind(
    infra: Any, dml_only_role: tuple[str, str]
) -> None:
    schema, url = dml_only_role
    bootstrap = importlib.import_module("projects.bootstrap")
    settings = importlib.import_module("projects.settings").Settings(
        env="development",
        database_url=url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        migrate_on_start=False,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
    )
    app = bootstrap.create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://p") as client:
        created = await client.post("/projects", json=project_body(), headers=auth_header(REGISTRANT, "pmo"))
    assert created.status_code == 201, created.text

    restricted = create_engine(url, schema, pool_size=1)
    try:
        with pytest.raises(Exception, match=r"permission denied|must be owner"):  # it may not migrate
            await migrations.upgrade(restricted, "projects", schema, extra_locations=[_later(schema)])
        assert await migrations.current(restricted, schema) == migrations.heads("projects")  # nothing applied
    finally:
        await restricted.dispose()

    behind = f"{schema}_behind"
    admin = create_engine(infra.database_url, behind, pool_size=1)
    try:
        await migrations.upgrade(admin, None, behind)  # the shared tables only: the projects branch is missing
        with pytest.raises(
            migrations.SchemaBehindError, match=rf"lacks projects_0001.*pmo migrate projects --schema {behind}"
        ):
            await migrations.check(admin, "projects", behind)
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{behind}" CASCADE'))
        await admin.dispose()


def _later(schema: str) -> Path:
    import tempfile

    where = Path(tempfile.mkdtemp(prefix="pmo-later-"))
    head = next(iter(migrations.heads("projects") - migrations.heads(None)))
    (where / "projects_9001_sponsor_note.py").write_text(SECOND_REVISION.format(head=head))
    return where


_SHAPE = """
SELECT 'column', table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
       || coalesce(column_default, '')
FROM information_schema.columns WHERE table_schema = :s AND table_name <> 'alembic_version'
UNION ALL
SELECT 'index', replace(indexdef, :s || '.', '')
FROM pg_indexes WHERE schemaname = :s AND tablename <> 'alembic_version'
UNION ALL
SELECT 'constraint', conrelid::regclass::text || ' ' || pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
WHERE nspname = :s AND conrelid::regclass::text NOT LIKE '%alembic_version'
"""


@pytest.mark.parametrize("service", migrations.SERVICES)
async def test_migrating_gives_the_tables_of_the_current_ddl_lists(infra: Any, service: str) -> None:
    """A table, column or index added to a DDL list without its revision fails here (docs/operations.md,
    "Migrations", says how to add one)."""
    spec = importlib.import_module(f"{service}.bootstrap").SPEC
    listed, migrated = f"t_ddl_{uuid.uuid4().hex[:8]}", f"t_mig_{uuid.uuid4().hex[:8]}"
    engine = create_engine(infra.database_url, listed, pool_size=2)
    try:
        await migrate(engine, listed, [*relay_module.DDL, *consumer_module.DDL, *authz.DDL, *spec.ddl])
        await migrations.upgrade(engine, service, migrated)
        async with engine.connect() as conn:
            shapes = [{tuple(r) for r in await conn.execute(text(_SHAPE), {"s": s})} for s in (listed, migrated)]
        normalised = [
            {(k, d.replace(f"{s}.", "")) for k, d in shape} for shape, s in zip(shapes, (listed, migrated), strict=True)
        ]
        assert normalised[0] - normalised[1] == set(), "in the DDL lists but in no revision"
        assert normalised[1] - normalised[0] == set(), "in a revision but not in the DDL lists"
    finally:
        async with engine.begin() as conn:
            for s in (listed, migrated):
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{s}" CASCADE'))
        await engine.dispose()


async def test_the_heat_maps_sheet_hours_are_filled_from_the_ledger_by_their_revision(
    scratch: tuple[AsyncEngine, str],
) -> None:
    # a reporting schema of the release before sheet_hours, with work sheets in its ledger: reporting_0008 fills the
    # table from them (a reversal negated), and its downgrade gives the ledger's index back
    engine, schema = scratch
    await migrations.upgrade(engine, "reporting", schema)
    assert await migrations.downgrade(engine, "reporting", schema, "reporting_0007") == [
        "-reporting_0009",
        "-reporting_0008",
    ]
    ann = uuid.uuid4()
    sheets = [("work-sheet-approved", "40"), ("work-sheet-approved", "8.5"), ("work-sheet-approval-reversed", "8.5")]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO facts (project_id, event_id, service, name, version, recorded_at, data) "
                "VALUES (:p, :e, 'resources', :n, 1, now(), CAST(:d AS jsonb))"
            ),
            [
                {
                    "p": uuid.uuid4(),
                    "e": uuid.uuid4(),
                    "n": name,
                    "d": json.dumps({"resource_id": str(ann), "week": "2027-W05", "hours": hours}),
                }
                for name, hours in sheets
            ],
        )
    assert await migrations.upgrade(engine, "reporting", schema) == ["reporting_0008", "reporting_0009"]
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT resource_id, week, hours FROM sheet_hours ORDER BY hours"))).all()
    assert [(r.resource_id, r.week, str(r.hours)) for r in rows] == [
        (ann, "2027-W05", "-8.5"),
        (ann, "2027-W05", "8.5"),
        (ann, "2027-W05", "40"),
    ]


async def test_snapshots_are_keyed_by_position_and_recording_time_and_the_downgrade_keeps_one_per_position(
    scratch: tuple[AsyncEngine, str],
) -> None:
    # reporting_0009: two snapshots of one project at the same ledger position and different recording times are both
    # kept; going back to reporting_0008 keeps the one holding more facts, under the old key
    engine, schema = scratch
    await migrations.upgrade(engine, "reporting", schema)
    pid = uuid.uuid4()
    insert = text(
        "INSERT INTO project_book_snapshots (project_id, position, latest_recorded, facts, books) "
        "VALUES (:p, 7, :t, :n, '{}') ON CONFLICT (project_id, position, latest_recorded) DO NOTHING"
    )
    async with engine.begin() as conn:
        for day, facts in ((1, 5), (2, 7), (2, 7)):  # the third: the second again, refused by the key
            await conn.execute(insert, {"p": pid, "t": datetime(2027, 1, day, tzinfo=UTC), "n": facts})
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM project_book_snapshots"))).scalar()
    assert count == 2
    assert await migrations.downgrade(engine, "reporting", schema, "reporting_0008") == ["-reporting_0009"]
    async with engine.connect() as conn:
        kept = (await conn.execute(text("SELECT facts FROM project_book_snapshots"))).scalars().all()
    assert kept == [7]
    assert await migrations.upgrade(engine, "reporting", schema) == ["reporting_0009"]
