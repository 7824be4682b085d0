"""The budget's commands decide on the state the process remembers instead of reading the stream first, and stay
correct across replicas: replica A serves HTTP; replica B (another process's executor on the same schema, with its
own cache) changes the same budget behind A's back. A's stale entry is caught by the append's version check (or
by a refusal or If-Match decided on it) and the command is decided again on the stream: the answer is the one a
fresh read gives, never a lost update, and a real conflict is still refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from budget import handlers
from budget.bootstrap import create_app
from budget.queries import SqlBudgetFacts
from budget.settings import Settings
from shared.commands import CommandContext, CommandExecutor
from shared.contracts.budget import FundingKind
from shared.events import EventMetadata
from tests.support import auth_header
from tests.support.money import money

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def replica_a(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    schema = f"t_budget_cache_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        env="development",
        database_url=infra.database_url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        db_schema=schema,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings)
    headers = auth_header("fiona.finance", "finance")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://budget", headers=headers) as c,
    ):
        c.app = app  # type: ignore[attr-defined]
        yield c
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await app.state.runtime.engine.dispose()


def _runtime(client: httpx.AsyncClient) -> Any:
    return client.app.state.runtime  # type: ignore[attr-defined]


async def _project(client: httpx.AsyncClient) -> str:
    """A project the budget service knows (as its consumer of pmo.projects.v1 stores it)."""
    project_id = uuid.uuid4()
    async with _runtime(client).engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO known_projects (project_id, code, currency, status, manager) "
                "VALUES (:p, :c, 'EUR', 'active', 'max.manager')"
            ),
            {"p": project_id, "c": f"P-{project_id.hex[:6]}"},
        )
    return str(project_id)


class ReplicaB:
    """Another process's executor on the same schema (its own cache), driven through the handlers."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        runtime = _runtime(client)
        self.executor = CommandExecutor(runtime.engine, runtime.store, projector=runtime.executor.projector)
        self.facts = SqlBudgetFacts(runtime.engine)

    async def add_source(self, project_id: str, name: str) -> int:
        ctx = CommandContext(metadata=EventMetadata(actor="bob.finance", correlation_id=str(uuid.uuid4())))
        outcome = await handlers.add_funding_source(
            self.executor, self.facts, ctx, uuid.UUID(project_id), name=name, kind=FundingKind.INTERNAL
        )
        return outcome.version


def _etag(answer: httpx.Response) -> int:
    return int(answer.headers["etag"].strip('"'))


async def _source(a: httpx.AsyncClient, pid: str, name: str, **headers: str) -> httpx.Response:
    return await a.post(f"/budgets/{pid}/funding-sources", json={"name": name, "kind": "internal"}, headers=headers)


async def test_a_remembered_budget_saves_the_stream_read_and_a_stale_one_is_caught(
    replica_a: httpx.AsyncClient,
) -> None:
    a, b = replica_a, ReplicaB(replica_a)
    cache = handlers.cached(_runtime(a).executor).cache  # type: ignore[attr-defined]
    pid = await _project(a)
    body = {"total": money("1000.00"), "categories": [{"category": "labour", "amount": money("1000.00")}]}
    assert (await a.post(f"/budgets/{pid}/baseline", json=body)).status_code == 201

    with _counting_stream_reads(a) as reads:
        first = await _source(a, pid, "S1")
    assert first.status_code == 201 and _etag(first) == 2, first.text
    assert reads == [0], "the remembered budget was read again"

    # B appends behind A's back; A's entry (version 2) is stale: its append at 2 fails, the command runs again.
    assert await b.add_source(pid, "S2") == 3
    stale = cache.stale
    lost_race = await _source(a, pid, "S3")
    assert lost_race.status_code == 201 and _etag(lost_race) == 4, lost_race.text
    assert cache.stale == stale + 1
    names = {s["name"] for s in (await a.get(f"/budgets/{pid}")).json()["funding_sources"]}
    assert names == {"S1", "S2", "S3"}, names  # nothing B wrote was lost

    # A refusal decided on a stale entry is decided again: a source only B knows is found.
    source_id = await _source_id_added_by_b(a, b, pid)
    tranche = {"amount": money("100.00"), "available_on": "2027-03-01"}
    secured = await a.post(f"/budgets/{pid}/funding-sources/{source_id}/tranches", json=tranche)
    assert secured.status_code == 201, secured.text

    # If-Match: the version B made current is accepted; an old one is refused, as without a cache.
    version = await b.add_source(pid, "S5")
    accepted = await _source(a, pid, "S6", **{"If-Match": f'"{version}"'})
    assert accepted.status_code == 201 and _etag(accepted) == version + 1, accepted.text
    refused = await _source(a, pid, "S7", **{"If-Match": f'"{version}"'})
    assert refused.status_code == 412, refused.text
    print(f"budget cache: {cache.hits} hits, {cache.misses} misses, {cache.stale} stale entries caught")


async def test_concurrent_commands_of_two_replicas_lose_nothing(replica_a: httpx.AsyncClient) -> None:
    """Both replicas add sources to the same budget at once, each deciding on what it remembers: every command is
    either appended (at its own version) or refused with a conflict; the budget holds exactly the appended ones."""
    a, b = replica_a, ReplicaB(replica_a)
    pid = await _project(a)
    body = {"total": money("1000.00"), "categories": [{"category": "labour", "amount": money("1000.00")}]}
    assert (await a.post(f"/budgets/{pid}/baseline", json=body)).status_code == 201
    await b.add_source(pid, "warm-b")  # both caches hold the budget
    assert (await _source(a, pid, "warm-a")).status_code == 201

    async def via_a(n: int) -> str | None:
        answer = await _source(a, pid, f"a{n}")
        assert answer.status_code in (201, 409), answer.text
        return f"a{n}" if answer.status_code == 201 else None

    async def via_b(n: int) -> str | None:
        try:
            await b.add_source(pid, f"b{n}")
        except Exception as exc:  # a real conflict (both retried and lost again): refused, nothing appended
            assert type(exc).__name__ == "ConcurrencyError", exc
            return None
        return f"b{n}"

    done = await asyncio.gather(*[via_a(n) for n in range(10)], *[via_b(n) for n in range(10)])
    appended = {name for name in done if name is not None} | {"warm-a", "warm-b"}
    view = (await a.get(f"/budgets/{pid}")).json()
    assert {s["name"] for s in view["funding_sources"]} == appended
    assert view["version"] == 1 + len(appended)
    assert len(appended) >= 3, "no concurrent command got through"  # each race has a winner
    print(f"budget cache, two replicas at once: {len(appended) - 2} of 20 appended, the others refused (409)")


@contextmanager
def _counting_stream_reads(client: httpx.AsyncClient) -> Iterator[list[int]]:
    store = _runtime(client).store
    calls = [0]
    original = store.read_stream

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return await original(*args, **kwargs)

    store.read_stream = counting
    try:
        yield calls
    finally:
        del store.read_stream  # the class's method again


async def _source_id_added_by_b(a: httpx.AsyncClient, b: ReplicaB, pid: str) -> str:
    await b.add_source(pid, "S4")
    async with _runtime(a).engine.connect() as conn:
        data = (
            await conn.execute(
                text(
                    "SELECT data FROM events WHERE stream_id = :s AND name = 'funding-source-added' "
                    "ORDER BY version DESC LIMIT 1"
                ),
                {"s": f"budget-{pid}"},
            )
        ).scalar_one()
    return str(data["source_id"])
