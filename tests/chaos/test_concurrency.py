"""Concurrency: many clients editing the same aggregates at once, over HTTP, against the services as processes.

Each client has a connection of its own, so the requests really race in the service and in PostgreSQL. What must
hold: no lost update (every 2xx is in the aggregate, nothing else is), and every loser gets a 409 problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support.chaos import DIRECTOR, FIGURES, PROBLEM, Ledger, PrivateWorld, Workload, verify, wait_until
from tests.support.money import money

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

CLIENTS = 16
ROUNDS = 4


@contextlib.asynccontextmanager
async def racers(world: PrivateWorld, service: str, count: int = CLIENTS) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``count`` clients of ``service``, each with its own connection, already connected."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=world.url(service), headers=DIRECTOR, timeout=30)
            )
            for _ in range(count)
        ]
        await asyncio.gather(*(c.get("/healthz") for c in clients))  # open every connection before the race
        yield clients


async def race(requests: Sequence[Any]) -> list[httpx.Response]:
    """Start every request at once (they are built first, then awaited together)."""
    return list(await asyncio.gather(*requests))


def losers_are_409_problems(responses: Sequence[httpx.Response]) -> list[httpx.Response]:
    losers = [r for r in responses if not r.is_success]
    for r in losers:
        assert r.status_code in (409, 412), (r.status_code, r.text)  # 412: read after the winner (If-Match stale)
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["status"] == r.status_code
    return losers


async def project_events(world: PrivateWorld, project_id: str) -> Counter[str]:
    from sqlalchemy import text

    engine = await world.open()
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT name FROM projects.events WHERE stream_id = :s"), {"s": f"project-{project_id}"}
        )
        return Counter(r.name for r in rows)


async def test_clients_sending_the_same_if_match_at_once_exactly_one_wins_and_the_others_get_409(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    workload.phase = "race-if-match"
    fresh = await ledger.send(clients, workload.register())  # not learnt: the workload leaves it to this test
    assert fresh.ok, fresh.answer
    pid = str(fresh.answer["project_id"])
    won: list[str] = []
    async with racers(world, "projects") as projects:
        for _ in range(ROUNDS):
            current = await projects[0].get(f"/projects/{pid}")
            etag = current.headers["etag"]
            names = [f"race-{uuid.uuid4().hex[:10]}" for _ in projects]
            responses = await race(
                [
                    c.post(
                        f"/projects/{pid}/milestones",
                        json={"name": name, "due_date": "2030-01-31", "planned_value": money("10.00")},
                        headers={"If-Match": etag},
                    )
                    for c, name in zip(projects, names, strict=True)
                ]
            )
            winners = [r for r in responses if r.is_success]
            assert len(winners) == 1, Counter(r.status_code for r in responses)
            assert len(losers_are_409_problems(responses)) == CLIENTS - 1
            assert winners[0].headers["etag"] == f'"{int(etag.strip(chr(34))) + 1}"'
            won.append(winners[0].json()["name"])
    doc = (await clients["projects"].get(f"/projects/{pid}")).json()
    mine = [m["name"] for m in doc["milestones"] if m["name"].startswith("race-")]
    assert sorted(mine) == sorted(won)  # the winners, and nothing of the losers
    assert await project_events(world, pid) == Counter({"project-registered": 1, "milestone-planned": ROUNDS})
    FIGURES.add(
        f"concurrency, same If-Match: {ROUNDS} rounds of {CLIENTS} clients on one project: one 2xx per round, "
        f"{ROUNDS * (CLIENTS - 1)} losers all 409 problem+json, nothing of theirs appended",
        scenarios=1,
        commands=ROUNDS * CLIENTS,
    )


async def test_clients_appending_to_one_stream_at_once_lose_nothing_and_every_failure_is_a_409(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    workload.phase = "race-no-if-match"
    fresh = await ledger.send(clients, workload.register())  # not learnt: the workload leaves it to this test
    assert fresh.ok, fresh.answer
    pid = str(fresh.answer["project_id"])
    accepted: list[str] = []
    statuses: Counter[int] = Counter()
    async with racers(world, "projects") as projects:
        for _ in range(ROUNDS):
            names = [f"append-{uuid.uuid4().hex[:10]}" for _ in projects]
            responses = await race(
                [
                    c.post(
                        f"/projects/{pid}/milestones",
                        json={"name": name, "due_date": "2030-01-31", "planned_value": money("10.00")},
                    )
                    for c, name in zip(projects, names, strict=True)
                ]
            )
            losers_are_409_problems(responses)
            statuses.update(r.status_code for r in responses)
            accepted += [r.json()["name"] for r in responses if r.is_success]
    assert accepted
    doc = (await clients["projects"].get(f"/projects/{pid}")).json()
    assert sorted(m["name"] for m in doc["milestones"]) == sorted(accepted)
    events = await project_events(world, pid)
    assert events == Counter({"project-registered": 1, "milestone-planned": len(accepted)})
    # ...and the reporting read model, fed from Kafka, says the same.
    reporting = clients["reporting"]

    async def reported() -> bool:
        answer = await reporting.get(f"/portfolio/projects/{pid}")
        return answer.status_code == 200 and answer.json()["milestones"] == len(accepted)

    await wait_until(reported, 60, "reporting shows every accepted milestone")
    plan = (await reporting.get(f"/portfolio/projects/{pid}")).json()["milestone_plan"]
    assert sorted(m["name"] for m in plan) == sorted(accepted)
    FIGURES.add(
        f"concurrency, no If-Match: {ROUNDS} rounds of {CLIENTS} clients appending to one project: "
        f"{dict(statuses)}; every 2xx in the project, its events and the reporting read model, no loser's",
        scenarios=1,
        commands=ROUNDS * CLIENTS,
        event_checks=len(accepted) + 1,
    )


async def test_concurrent_commitments_under_a_blocking_policy_never_commit_past_the_budget(
    world: PrivateWorld, workload: Workload, ledger: Ledger, clients: dict[str, httpx.AsyncClient]
) -> None:
    """A lost update would let two commitments decided on the same stale budget both pass the overrun check."""
    workload.phase = "race-budget"
    fresh = await ledger.send(clients, workload.register())  # not learnt: the workload leaves it to this test
    pid = str(fresh.answer["project_id"])
    budget = clients["budget"]

    async def known() -> bool:
        baseline = {"total": money("1000.00"), "categories": [{"category": "labour", "amount": money("1000.00")}]}
        answer = await budget.post(f"/budgets/{pid}/baseline", json=baseline)
        return answer.status_code == 201

    await wait_until(known, 60, "budget baselined once the registration is consumed")
    assert (await budget.put(f"/budgets/{pid}/overrun-policy", json={"policy": "block"})).status_code == 200

    pending = [f"PO-{i:03d}" for i in range(CLIENTS + 8)]  # 24 commitments of 100 against a budget of 1000
    committed: list[str] = []
    blocked: list[str] = []
    lost_races = 0
    async with racers(world, "budget", len(pending)) as many:
        while pending:
            responses = await race(
                [
                    c.post(
                        f"/budgets/{pid}/commitments",
                        json={
                            "kind": "purchase_order",
                            "vendor": "ACME",
                            "reference": ref,
                            "category": "labour",
                            "amount": money("100.00"),
                        },
                    )
                    for c, ref in zip(many, pending, strict=False)
                ]
            )
            losers_are_409_problems(responses)
            retry = []
            for ref, r in zip(pending, responses, strict=False):
                if r.is_success:
                    committed.append(ref)
                elif "exceeded" in r.json()["detail"]:
                    blocked.append(ref)
                else:  # lost the race on the stream version: try again, as a client would
                    lost_races += 1
                    retry.append(ref)
            pending = retry
    assert len(committed) == 10, (len(committed), len(blocked))
    assert len(blocked) == CLIENTS + 8 - 10
    view = (await budget.get(f"/budgets/{pid}")).json()
    assert Decimal(view["committed"]["amount"]) == Decimal("1000.00")
    labour = next(c for c in view["categories"] if c["category"] == "labour")
    assert Decimal(labour["remaining"]["amount"]) == 0
    await verify(world, ledger)
    FIGURES.add(
        f"concurrency, no lost update: {CLIENTS + 8} concurrent 100 EUR commitments against a 1000 EUR budget that "
        f"blocks overruns: {len(committed)} committed, {len(blocked)} blocked, {lost_races} lost races retried; "
        "committed = 1000.00 exactly",
        scenarios=1,
        commands=CLIENTS + 8 + lost_races,
    )
