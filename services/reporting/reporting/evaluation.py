"""The evaluator that raises and clears alerts (the use case: :func:`reporting.handlers.evaluate`).

The evaluator runs in the service (a background task), on one replica at a time (an advisory lock elects it):
every ``evaluation_interval`` it evaluates the projects the facts consumer marked as changed, and all of them at
start, when the business date changes and every ``full_evaluation_interval`` (time passing is a fact too: a status
report becomes overdue without any event). Each alert change is a command on the alert's own stream, so
it is stored as an event and published on ``pmo.alerts.v1`` by the relay like any other event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import text

from reporting import handlers, queries
from shared.metrics import ALERTS_OPEN, EVALUATOR_LEADER
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)
EVALUATION_CHUNK = 500
"""Projects whose facts and open alerts one evaluation query loads."""


async def _count_open_alerts(rt: ServiceRuntime) -> None:
    counts = await queries.open_alerts_by_severity(rt.engine)
    for severity in ("warning", "critical"):
        ALERTS_OPEN.labels(severity).set(counts.get(severity, 0))


EVALUATOR_LOCK = "pmo-evaluator:{schema}"
"""The advisory lock whose holder evaluates: one evaluator per deployment, however many reporting replicas run."""
LEADER_CHECK_INTERVAL = 1.0
IDLE_INTERVAL = 1.6
"""The longest wait between evaluation passes while no project changes (from ``evaluation_interval``, doubling)."""


async def evaluator(rt: ServiceRuntime, stop: asyncio.Event) -> None:
    """Background task: the replica holding the evaluator lock evaluates the projects whose facts changed (after
    each consumed batch marks them), and every project at start, when the business date changes and every
    ``full_evaluation_interval`` (date-driven rules: due dates, status freshness, reviews, overdue invoices);
    the other replicas wait to take over."""
    while not stop.is_set():
        try:
            async with rt.engine.connect() as leader:
                key = EVALUATOR_LOCK.format(schema=rt.schema)
                got = (await leader.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key})).scalar()
                await leader.commit()
                if not got:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=2.0)
                    continue
                rt.memo["evaluator_leader"] = True
                EVALUATOR_LEADER.set(1)
                try:
                    await _evaluate_while_leading(rt, stop, leader)
                finally:
                    rt.memo["evaluator_leader"] = False
                    EVALUATOR_LEADER.set(0)
                    try:
                        await leader.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
                        await leader.commit()
                    except Exception:
                        await leader.invalidate()  # never back to the pool holding the lock
        except Exception:
            log.exception("alert evaluation failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _evaluate_while_leading(rt: ServiceRuntime, stop: asyncio.Event, leader: Any) -> None:
    settings: Any = rt.settings
    interval = float(getattr(settings, "evaluation_interval", 0.2))
    full_interval = float(getattr(settings, "full_evaluation_interval", 86400.0))
    last_full, last_day, last_check = 0.0, None, time.monotonic()
    waiting = interval
    facts = queries.Ledger(rt.engine)
    while not stop.is_set():
        today = rt.executor.clock.now().date()
        full = last_day != today or time.monotonic() - last_full >= full_interval
        projects = await queries.projects_to_evaluate(rt.engine, every=full)
        if full:
            last_full, last_day = time.monotonic(), today
        if projects:
            await _count_open_alerts(rt)
        for start in range(0, len(projects), EVALUATION_CHUNK):
            chunk = projects[start : start + EVALUATION_CHUNK]
            loaded = await handlers.load_pass(facts, chunk)
            for project_id in chunk:
                if stop.is_set():
                    break
                try:
                    await handlers.evaluate(
                        rt.executor, facts, project_id, today, loaded, raid_share=settings.raid_exposure_share
                    )
                except Exception:
                    log.exception("evaluating project %s failed; retried at the next full evaluation", project_id)
        if time.monotonic() - last_check >= LEADER_CHECK_INTERVAL:
            await leader.execute(text("SELECT 1"))  # leadership ends with this session
            await leader.commit()
            last_check = time.monotonic()
        # at rest (nothing changed) the wait doubles up to IDLE_INTERVAL: no query every 0.2 s doing nothing
        waiting = interval if projects else min(max(waiting * 2, interval), max(IDLE_INTERVAL, interval))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=waiting)
