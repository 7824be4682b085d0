"""The heat map's approved hours are summed by the database for the weeks asked (approvals minus reversals), as
the folded work sheets would give them, without decoding every sheet of the ledger."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text

from reporting import queries, tables
from reporting.domain.ledger import Fact
from reporting.domain.utilisation import loads
from shared.db import driver, migrate

pytestmark = pytest.mark.integration


def sheet(name: str, resource: uuid.UUID, week: str, hours: str, at: datetime) -> dict[str, Any]:
    return {
        "p": uuid.uuid4(),
        "e": uuid.uuid4(),
        "n": name,
        "t": at,
        "d": json.dumps({"resource_id": str(resource), "week": week, "hours": hours}),
    }


async def test_approved_hours_per_resource_and_week_come_from_the_database(engine: Any, schema: str) -> None:
    await migrate(engine, schema, tables.DDL)
    ann, bob = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    rows = [
        sheet("work-sheet-approved", ann, "2027-W05", "40", now - timedelta(days=3)),
        sheet("work-sheet-approved", ann, "2027-W05", "8.5", now - timedelta(days=2)),
        sheet("work-sheet-approval-reversed", ann, "2027-W05", "8.5", now - timedelta(days=1)),
        sheet("work-sheet-approved", ann, "2027-W06", "30", now - timedelta(days=1)),
        sheet("work-sheet-approved", bob, "2027-W04", "12", now - timedelta(days=1)),
    ]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO facts (project_id, event_id, service, name, version, recorded_at, data) "
                "VALUES (:p, :e, 'resources', :n, 1, :t, CAST(:d AS jsonb))"
            ),
            rows,
        )
    summed = await queries.approved_hours(engine, ["2027-W05", "2027-W06"], None)
    assert summed == {(ann, "2027-W05"): Decimal("40.0"), (ann, "2027-W06"): Decimal("30")}
    before_reversal = await queries.approved_hours(engine, ["2027-W05"], now - timedelta(days=1, hours=12))
    assert before_reversal == {(ann, "2027-W05"): Decimal("48.5")}
    people = await queries.resource_ledger(engine, None, sheets=False)
    assert people == []  # only sheets were stored: none comes back without them

    registered = Fact(
        uuid.uuid4(),
        "resources",
        "resource-registered",
        1,
        now - timedelta(days=30),
        {
            "resource_id": str(ann),
            "kind": "person",
            "vendor_id": None,
            "role": "developer",
            "department": "it",
            "weekly_capacity_hours": "40",
            "currency": "EUR",
            "registered_on": "2027-01-04",
        },
    )
    rows_of = loads([registered], [date(2027, 2, 1)], summed)
    assert [(r.week, r.approved) for r in rows_of] == [("2027-W05", Decimal("40.0"))]


async def test_the_heat_maps_people_and_allocations_are_read_by_their_index_not_a_scan_of_the_ledger(
    engine: Any, schema: str
) -> None:
    # At 1,000 projects the ledger holds about a million facts, half of them work sheets; the heat map wants the few
    # others. The statement must let PostgreSQL use the partial index `facts_resource_plans` (a parameter in place of
    # its predicate made it scan the whole ledger: 0.4-0.6 s of the dashboard page)
    await migrate(engine, schema, tables.DDL)
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        assert await queries.resource_ledger(engine, None, sheets=False) == []
        assert await queries.resource_ledger(engine, datetime.now(UTC), sheets=False) == []
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", grab)
    statements = [(s, p) for s, p in seen if "FROM facts" in s]
    assert len(statements) == 2
    async with engine.begin() as conn:
        db = await driver(conn)
        await db.execute("SET LOCAL enable_seqscan = off")  # the index whenever the statement allows it
        # planned as a prepared statement run again may be: once for any parameters (a parameter in place of the
        # index's predicate would leave the planner no index to use)
        await db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        for n, (statement, parameters) in enumerate(statements):
            await db.execute(f"PREPARE heat_{n} AS {statement}")
            values = ", ".join(
                "NULL" if v is None else str(v).lower() if isinstance(v, bool) else f"'{v.isoformat()}'"
                for v in parameters
            )
            plan = await db.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE heat_{n}({values})")
            plan = plan if isinstance(plan, str) else json.dumps(plan)
            assert "facts_resource_plans" in plan, plan
