"""The checks after every scenario: every acknowledged command reflected exactly once, events well formed."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.chaos.common import FIGURES, TOPICS, consumers
from tests.support.chaos.observe import _rows, _scalar, live_digests, replay_digests, wait_quiet
from tests.support.chaos.workload import Ledger
from tests.support.chaos.world import PrivateWorld

# --- the checks after every scenario -------------------------------------------------------------------------

UUID_KEY = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


@dataclass
class Verdict:
    commands_checked: int
    events_checked: int
    read_model_rows: int
    quiet_after: float
    took: float = 0.0

    def line(self) -> str:
        return (
            f"{self.commands_checked} 2xx commands each reflected exactly once, {self.events_checked} events checked "
            f"against the read models, {self.read_model_rows} read-model rows equal to a fresh replay "
            f"(quiet after {self.quiet_after:.1f}s, checked in {self.took:.1f}s)"
        )


async def verify(world: PrivateWorld, ledger: Ledger) -> Verdict:
    """Every command with a 2xx answer reflected exactly once; every event in the read models exactly once; the
    read models equal to a fresh replay of the topics."""
    quiet_after = await wait_quiet(world)
    started = time.monotonic()
    engine = await world.open()
    commands = await check_commands(engine, ledger)
    events = await check_events(engine, world.foreign_ids)
    live = await live_digests(world)
    replayed = await replay_digests(world, live=live)  # raises with the rows that differ
    assert live == replayed, f"the read models differ from a fresh replay:\nlive     {live}\nreplayed {replayed}"
    FIGURES.peak("commands in the ledger", len(ledger.commands))
    FIGURES.peak("2xx commands each found exactly once", commands)
    FIGURES.peak("event deliveries checked (event x consumer, plus facts)", events)
    FIGURES.peak("read-model rows equal to the replay", sum(n for n, _ in live.values()))
    FIGURES.peak("retries with the Idempotency-Key", ledger.retries)
    return Verdict(commands, events, sum(n for n, _ in live.values()), quiet_after, time.monotonic() - started)


async def check_commands(engine: AsyncEngine, ledger: Ledger) -> int:
    """Each 2xx command's effect, found by its marker, exactly once in the source and in every read model."""
    projects = {
        r.code: r for r in await _rows(engine, "SELECT project_id::text AS id, code, doc FROM projects.projects")
    }
    code_counts = Counter(r.code for r in await _rows(engine, "SELECT code FROM projects.projects"))
    portfolio = await _rows(engine, "SELECT project_id::text AS id, code, milestones FROM reporting.portfolio_projects")
    reported = Counter(r.code for r in portfolio)
    reported_milestones = {r.id: r.milestones for r in portfolio}
    known = {r.id for r in await _rows(engine, "SELECT project_id::text AS id FROM budget.known_projects")}
    milestone_rows = await _rows(
        engine, "SELECT milestone_id::text AS id, project_id::text AS pid, name FROM reporting.portfolio_milestones"
    )
    milestone_names = Counter(r.name for r in milestone_rows)
    known_milestones = {
        r.id for r in await _rows(engine, "SELECT milestone_id::text AS id FROM budget.known_milestones")
    }
    baselines = Counter(
        r.pid
        for r in await _rows(engine, "SELECT partition_key AS pid FROM budget.events WHERE name = 'budget-baselined'")
    )
    baseline_facts = Counter(
        r.pid
        for r in await _rows(
            engine, "SELECT project_id::text AS pid FROM reporting.facts WHERE name = 'budget-baselined'"
        )
    )
    changes = Counter(
        r.reason
        for r in await _rows(
            engine, "SELECT data->>'reason' AS reason FROM budget.events WHERE name = 'budget-change-requested'"
        )
    )
    change_facts = Counter(
        r.reason
        for r in await _rows(
            engine, "SELECT data->>'reason' AS reason FROM reporting.facts WHERE name = 'budget-change-requested'"
        )
    )
    registered = Counter(
        r.id
        for r in await _rows(engine, "SELECT stream_id AS id FROM resources.events WHERE name = 'resource-registered'")
    )
    resource_facts = (
        Counter(
            r.id
            for r in await _rows(
                engine,
                "SELECT 'resource-' || resource_id::text AS id FROM reporting.resource_facts "
                "WHERE name = 'resource-registered'",
            )
        )
        if await _scalar(engine, "SELECT to_regclass('reporting.resource_facts') IS NOT NULL")
        else None
    )
    problems: list[str] = []
    planned: Counter[str] = Counter()
    checked = 0
    for c in ledger.ok():
        checked += 1
        if c.kind == "register":
            pid = str(c.answer["project_id"])
            row = projects.get(c.marker)
            if code_counts[c.marker] != 1 or row is None or row.id != pid:
                problems.append(f"project {c.marker} {pid}: {code_counts[c.marker]} rows in projects")
            if reported[c.marker] != 1:
                problems.append(f"project {c.marker} {pid}: {reported[c.marker]} rows in reporting")
            if pid not in known:
                problems.append(f"project {c.marker} {pid}: unknown to budget")
        elif c.kind == "milestone":
            assert c.project_id is not None
            planned[c.project_id] += 1
            mid = str(c.answer["milestone_id"])
            if milestone_names[c.marker] != 1:
                problems.append(f"milestone {c.marker}: {milestone_names[c.marker]} rows in reporting")
            if mid not in known_milestones:
                problems.append(f"milestone {c.marker}: unknown to budget")
        elif c.kind == "baseline":
            if baselines[c.marker] != 1 or baseline_facts[c.marker] != 1:
                problems.append(f"baseline {c.marker}: {baselines[c.marker]} events, {baseline_facts[c.marker]} facts")
        elif c.kind == "change":
            if changes[c.marker] != 1 or change_facts[c.marker] != 1:
                problems.append(f"change {c.marker}: {changes[c.marker]} events, {change_facts[c.marker]} facts")
        elif c.kind == "resource":
            stream = f"resource-{c.answer['resource_id']}"
            if registered[stream] != 1 or (resource_facts is not None and resource_facts[stream] != 1):
                facts_seen = resource_facts[stream] if resource_facts is not None else "-"
                problems.append(f"resource {c.marker}: {registered[stream]} events, {facts_seen} facts")
    docs = {r.id: r.doc for r in projects.values()}
    for pid, count in planned.items():
        if reported_milestones.get(pid) != count:
            problems.append(
                f"project {pid}: {count} milestones planned, reporting counts {reported_milestones.get(pid)}"
            )
        if pid in docs and len(docs[pid]["milestones"]) != count:
            problems.append(f"project {pid}: {count} milestones planned, projects shows {len(docs[pid]['milestones'])}")
    assert not problems, f"{len(problems)} commands not reflected exactly once: {problems[:10]}"
    return checked


async def _started_at(engine: AsyncEngine, c: Any) -> datetime:
    """When a ``start_at_end`` consumer first started (:data:`shared.consumer.STARTED_AT`); far in the future if it
    has not yet."""
    from shared.consumer import STARTED_AT

    rows = await _rows(
        engine,
        f"SELECT next_offset FROM {c.service}.consumer_offsets WHERE consumer = :c AND topic = '' AND partition = :p",
        {"c": c.name, "p": STARTED_AT},
    )
    if not rows:
        return datetime.max.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(rows[0].next_offset) / 1000, UTC)


async def _written_since(engine: AsyncEngine, ids: set[str]) -> set[str]:
    """Those of ``ids`` that some service's events table holds now."""
    found: set[str] = set()
    for service in TOPICS:
        rows = await _rows(
            engine,
            f"SELECT event_id::text AS id FROM {service}.events WHERE event_id::text = ANY(:ids)",
            {"ids": list(ids)},
        )
        found.update(r.id for r in rows)
    return found


async def check_events(engine: AsyncEngine, foreign: set[str]) -> int:
    """Every event of every service's table reached every consumer of its topic once (its inbox), and nothing else
    did; every event about a project is a fact of the reporting ledger once, and every event about a resource a
    resource fact (the facts ledger is idempotent and keeps no inbox: its rows are the evidence)."""
    sources: dict[str, set[str]] = {}
    project_keyed: dict[str, set[str]] = {}
    resource_keyed: set[str] = set()
    recorded_at: dict[str, datetime] = {}
    for service, topic in TOPICS.items():
        rows = await _rows(
            engine,
            f"SELECT event_id::text AS id, partition_key ~ '{UUID_KEY}' AS p, partition_key LIKE 'resource:%' AS r, "
            f"recorded_at FROM {service}.events",
        )
        sources[topic] = {r.id for r in rows}
        recorded_at.update((r.id, r.recorded_at) for r in rows)
        project_keyed[service] = {r.id for r in rows if r.p}
        if service == "resources":
            resource_keyed = {r.id for r in rows if r.r}
    problems: list[str] = []
    checked = 0
    for c in consumers().values():
        if getattr(c.projection, "idempotent", False):
            continue  # no inbox: checked by its own rows below
        inbox = {
            r.id
            for r in await _rows(
                engine, f"SELECT event_id::text AS id FROM {c.service}.inbox WHERE consumer = :c", {"c": c.name}
            )
        }
        every = set().union(*(sources[t] for t in c.topics))
        expected = every
        if getattr(c.projection, "start_at_end", False):
            # reads what was published since it first started (notifications): every event recorded after that moment
            # (published later still) is its to consume; one recorded before may have been published before or after
            expected = {i for i in every if recorded_at[i] >= await _started_at(engine, c)}
        missing = expected - inbox
        extra = inbox - every - foreign
        if extra:  # written after the tables were read (a service kept working meanwhile, e.g. an alert): not extra
            extra -= await _written_since(engine, extra)
        checked += len(expected)
        if missing:
            problems.append(f"{c.name}: {len(missing)} events never consumed, e.g. {sorted(missing)[:3]}")
        if extra:
            problems.append(f"{c.name}: {len(extra)} events consumed that no service wrote, e.g. {sorted(extra)[:3]}")
    facts = consumers().get("reporting.facts")
    for service, ids in project_keyed.items():
        if facts is None or TOPICS[service] not in facts.topics:
            continue
        stored = {
            r.id
            for r in await _rows(
                engine, "SELECT event_id::text AS id FROM reporting.facts WHERE service = :s", {"s": service}
            )
        }
        if ids - stored:
            problems.append(f"facts: {len(ids - stored)} {service} events missing")
        if stored - ids - foreign:
            problems.append(f"facts: {len(stored - ids - foreign)} {service} facts with no event")
        checked += len(ids)
    if facts is not None and TOPICS["resources"] in facts.topics:
        stored = {r.id for r in await _rows(engine, "SELECT event_id::text AS id FROM reporting.resource_facts")}
        if resource_keyed - stored:
            problems.append(f"resource facts: {len(resource_keyed - stored)} resources events missing")
        if stored - resource_keyed - foreign:
            problems.append(f"resource facts: {len(stored - resource_keyed - foreign)} with no event")
        checked += len(resource_keyed)
    assert not problems, "; ".join(problems)
    return checked
