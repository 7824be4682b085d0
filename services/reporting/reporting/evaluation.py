"""The evaluator that raises and clears alerts (the use case: :func:`reporting.handlers.evaluate`).

The evaluator runs in the service (a background task), on one replica at a time (an advisory lock elects it):
it evaluates the projects the facts consumer marked as changed, and all of them at start, when the business date
changes and every ``full_evaluation_interval`` (time passing is a fact too: a status report becomes overdue without
any event). Each alert change is a command on the alert's own stream, so it is stored as an event and published on
``pmo.alerts.v1`` by the relay like any other event.

**Woken, not polling** (:mod:`shared.wakeups`): the consumer transaction that marks projects notifies
(:func:`reporting.raid_model.mark_dirty`); the leading evaluator listens, looks at its work list at once, then
again every ``evaluation_interval`` while projects keep changing. At rest it sleeps until a notification, the next
business date, or its safety poll (:data:`SAFETY_POLL`), for whatever a lost notification left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from reporting import handlers, queries
from reporting.raid_model import EVALUATOR_CHANNEL
from shared import wakeups
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
SAFETY_POLL = 30.0
"""The longest wait between evaluation passes while nothing wakes the evaluator."""


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
    facts = queries.Ledger(rt.engine)
    woken = asyncio.Event()
    listener = wakeups.Listener(
        rt.engine, EVALUATOR_CHANNEL, woken.set, what="alert evaluator", check_every=SAFETY_POLL
    )
    listening = asyncio.create_task(listener.run(stop), name="alert-evaluator-listen")
    try:
        while not stop.is_set():
            woken.clear()  # a notification from here on wakes the next pass
            started = time.monotonic()
            now = rt.executor.clock.now()
            today = now.date()
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
            if projects:  # projects keep changing: look again after the interval (a batch's marks coalesce)
                await asyncio.sleep(max(0.0, started + interval - time.monotonic()))
                continue
            midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=now.tzinfo)
            until_tomorrow = max(interval, (midnight - now).total_seconds())
            rest = min(SAFETY_POLL, until_tomorrow, max(interval, last_full + full_interval - time.monotonic()))
            await wakeups.sleep_until_woken(stop, woken, max(interval, rest))
            if woken.is_set():  # a burst of notifications: evaluate once, after the interval since the last pass
                await asyncio.sleep(max(0.0, started + interval - time.monotonic()))
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listening
