"""The money model through Kafka and the real consumers: a re-baseline leaves past reports unchanged and moves BAC
and PV from its effective date on; an expense, a goods receipt and a USD invoice (converted at the rate recorded on
the event) reach AC; the exchange rates recorded on the budget topic are kept for portfolio roll-ups."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from reporting.rates import rate_in_force
from shared.contracts.projects import EvTechnique as T
from tests.integration.conftest import service_client
from tests.support import auth_header, eventually
from tests.support.clock import TODAY
from tests.support.money import eur, usd
from tests.support.reporting import (
    booking,
    budget_with_contingency,
    exchange_rate,
    expense_approved,
    expense_claimed,
    for_project,
    goods_received,
    invoice_approved,
    invoice_received,
    item,
    milestone,
    pmb,
    progress,
    publish_facts,
    registered,
    started,
)

pytestmark = pytest.mark.integration

VIEWER = auth_header("vera.viewer", "viewer")
START = TODAY - timedelta(days=60)
D1 = START + timedelta(days=9)


@pytest.fixture
async def reporting(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncExitStack() as stack:
        yield await service_client(stack, "reporting", infra, VIEWER)


def first_plan() -> list[Any]:
    """PMB v1 from the start: M1 30000 percent complete over 30 days (1000 a day), M2 20000 0/100 due yesterday;
    total 50000 = the budget's 53000 less its 3000 contingency; reserve 5000. M1 at 20 % on the 9th day."""
    items = [
        item(1, "30000.00", START, START + timedelta(days=29)),
        item(2, "20000.00", START + timedelta(days=30), TODAY - timedelta(days=1), T.ZERO_HUNDRED),
    ]
    return [
        registered(START - timedelta(days=2)),
        started(START),
        budget_with_contingency("53000.00", "3000.00", on=START - timedelta(days=1)),
        milestone(1, "30000.00", START + timedelta(days=29), recorded=START - timedelta(days=1)),
        milestone(2, "20000.00", TODAY - timedelta(days=1), recorded=START - timedelta(days=1)),
        pmb(1, START, items, reserve="5000.00", recorded=START - timedelta(days=1)),
        progress(1, "20", START + timedelta(days=8)),
    ]


def rebaseline() -> list[Any]:
    """v2 from ten days ago: M1 grows to 36000 (1200 a day): the reserve of 5000 and a 1000 more go into the PMB
    (total 56000, reserve 0)."""
    items = [
        item(1, "36000.00", START, START + timedelta(days=29)),
        item(2, "20000.00", START + timedelta(days=30), TODAY - timedelta(days=1), T.ZERO_HUNDRED),
    ]
    return [pmb(2, TODAY - timedelta(days=10), items, reserve="0.00", recorded=TODAY - timedelta(days=10))]


def costs(invoice_id: uuid.UUID, expense_id: uuid.UUID) -> list[Any]:
    """An expense of 120.00 approved 5 days ago, licences received 4 days ago (2000.00), and a USD 1087.50 invoice
    booked at the recorded USD->EUR rate 0.92 (1000.50 EUR), approved."""
    return [
        expense_claimed(expense_id, eur("120.00"), TODAY - timedelta(days=6)),
        expense_approved(expense_id, TODAY - timedelta(days=5)),
        goods_received(uuid.uuid4(), eur("2000.00"), TODAY - timedelta(days=4)),
        invoice_received(
            invoice_id,
            "1087.50",
            TODAY + timedelta(days=30),
            TODAY - timedelta(days=3),
            currency="USD",
            booked=booking(usd("1087.50"), "0.92", TODAY - timedelta(days=3)),
        ),
        invoice_approved(invoice_id, "1087.50", TODAY - timedelta(days=2)),
    ]


async def test_re_baselining_new_costs_and_a_converted_invoice(reporting: httpx.AsyncClient, kafka: Any) -> None:
    pid, invoice_id, expense_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC) - timedelta(days=70)
    first = [for_project(f, pid, at + timedelta(seconds=n)) for n, f in enumerate(first_plan())]
    await publish_facts(kafka, first)
    path = f"/reports/projects/{pid}"

    async def figures(as_of: date) -> dict[str, Any]:
        answer = await reporting.get(path, params={"as_of": as_of.isoformat()}, headers=VIEWER)
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["figures"])

    async def first_plan_arrived() -> dict[str, Any]:
        f = await figures(D1)
        # 10 days of M1 at 1000 = 10000 planned; 20 % of 30000 = 6000 earned
        assert (f["bac"]["value"], f["pv"]["value"], f["ev"]["value"]) == ("50000.00", "10000.00", "6000.00"), f
        assert f["management_reserve"]["value"] == "5000.00"
        return f

    before = await eventually(first_plan_arrived, timeout=120)

    later = [for_project(f, pid, at + timedelta(seconds=100 + n)) for n, f in enumerate(rebaseline())]
    # Rates are about no project: a pair no other test records, so the rate in force is this one.
    rate = exchange_rate("MUR", "SCR", "0.3125", TODAY - timedelta(days=30), at + timedelta(seconds=150))
    spent = [for_project(f, pid, at + timedelta(seconds=200 + n)) for n, f in enumerate(costs(invoice_id, expense_id))]
    await publish_facts(kafka, [*later, rate, *spent])

    async def everything_arrived() -> dict[str, Any]:
        f = await figures(TODAY)
        assert (f["bac"]["value"], f["bac_original"]["value"]) == ("56000.00", "50000.00"), f
        # AC: the expense 120.00 + the goods 2000.00 + the invoice's booked net 1000.50 (nothing backs it)
        assert f["ac"]["value"] == "3120.50", f
        return f

    today = await eventually(everything_arrived, timeout=120)
    # PV today from v2: M1 36000 + M2 20000 (due yesterday); against v1: 30000 + 20000.
    assert (today["pv"]["value"], today["pv_original"]["value"]) == ("56000.00", "50000.00")
    assert today["management_reserve"]["value"] == "0.00"

    # The report once shown for D1 (before the re-baseline's effective date) is unchanged.
    assert await figures(D1) == before

    # The exchange rate is kept for the portfolio roll-up: MUR->SCR as recorded, SCR->MUR its inverse (1 / 0.3125).
    engine = reporting.app.state.runtime.engine  # type: ignore[attr-defined]

    async def rate_kept() -> None:
        async with engine.connect() as conn:
            assert await rate_in_force(conn, "MUR", "SCR", TODAY) == Decimal("0.3125")
            assert await rate_in_force(conn, "SCR", "MUR", TODAY) == Decimal("3.2")
            assert await rate_in_force(conn, "MUR", "SCR", date(1990, 1, 1)) is None
            assert await rate_in_force(conn, "MUR", "MUR", TODAY) == 1

    await eventually(rate_kept, timeout=60)

    explained = (await reporting.get(f"{path}/explain/ac", headers=VIEWER)).json()
    kinds = sorted(e["type"] for e in explained["events"])
    assert kinds == ["expense-approved", "goods-received", "invoice-approved"], explained
