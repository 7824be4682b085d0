"""The heat map's approved hours are summed by the database for the weeks asked (approvals minus reversals), as
the folded work sheets would give them, from ``sheet_hours`` (kept by the facts consumer) without reading a sheet of
the ledger."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text

from reporting import queries, tables
from reporting.domain.ledger import Fact
from reporting.domain.utilisation import loads
from reporting.projections import FactsProjection
from shared.db import driver, migrate
from shared.kafka import ConsumedEvent
from tests.integration.test_reporting_snapshots import consumed
from tests.support.invoicing import work_sheet_approval_reversed, work_sheet_approved
from tests.support.reporting.facts import PID, fact

pytestmark = pytest.mark.integration


def sheet(reversal: bool, resource: uuid.UUID, week: str, hours: str, at: datetime, offset: int) -> ConsumedEvent:
    """A work sheet of ``resource`` for ``week`` approved with ``hours`` (or its approval reversed), as the facts
    consumer receives it."""
    approved = work_sheet_approved(PID, uuid.uuid4(), "100.00").model_copy(
        update={"resource_id": resource, "week": week, "hours": Decimal(hours)}
    )
    event = work_sheet_approval_reversed(approved, 2) if reversal else approved
    return consumed(replace(fact(event, at.date()), recorded_at=at), offset)


async def test_approved_hours_per_resource_and_week_are_kept_by_the_facts_consumer(engine: Any, schema: str) -> None:
    # through the facts consumer's own code, a batch and one event at a time (a redrive, a batch redone record by
    # record), with a second copy of one (a re-publish): the sheets' hours by person and week, known now and known
    # before the reversal
    await migrate(engine, schema, tables.DDL)
    ann, bob = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    batch = [
        sheet(False, ann, "2027-W05", "40", now - timedelta(days=3), 0),
        sheet(False, ann, "2027-W05", "8.5", now - timedelta(days=2), 1),
        sheet(True, ann, "2027-W05", "8.5", now - timedelta(days=1), 2),
    ]
    one_by_one = [
        sheet(False, ann, "2027-W06", "30", now - timedelta(days=1), 3),
        sheet(False, bob, "2027-W04", "12", now - timedelta(days=1), 4),
    ]
    facts = FactsProjection()
    async with engine.begin() as conn:
        await facts.apply_batch(conn, batch)
    async with engine.begin() as conn:
        for e in one_by_one:
            await facts.apply(conn, e)
    async with engine.begin() as conn:
        await facts.apply_batch(conn, [batch[0], one_by_one[0]])  # a second copy changes nothing
        await facts.apply(conn, batch[1])
    summed = await queries.approved_hours(engine, ["2027-W05", "2027-W06"], None)
    assert summed == {(ann, "2027-W05"): Decimal("40.0"), (ann, "2027-W06"): Decimal("30")}
    before_reversal = await queries.approved_hours(engine, ["2027-W05"], now - timedelta(days=1, hours=12))
    assert before_reversal == {(ann, "2027-W05"): Decimal("48.5")}
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM facts"))  # the heat map reads no sheet of the ledger
    assert await queries.approved_hours(engine, ["2027-W05"], None) == {(ann, "2027-W05"): Decimal("40.0")}
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
