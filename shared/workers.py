"""Several uvicorn worker processes per replica (``PMO_WORKERS``): all serve HTTP, one runs the rest.

Every worker answers requests on the replica's port (uvicorn's supervisor shares the socket). One of them, the
holder of the replica's *background lease* (a PostgreSQL advisory lock held on a session of its own), also runs the
relay, the consumers and the service's background tasks (the matcher, the evaluator, the notification sender), so
that a replica keeps one Kafka group member per read model and one relay, whatever its worker count. The others
try the lease again every :data:`RETRY_SECONDS`: a holder that dies (its session ends with it) is replaced within
that time, and uvicorn's supervisor starts a new worker in its place.

Nothing depends on the lease for correctness: relays elect their leader by a lock of their own, consumers keep their
positions and inboxes in the database, the evaluator is elected, the matcher's queue is shared. A holder whose lease
session broke (the database restarted) keeps its tasks running and takes the lease again; if another worker took it
meanwhile, both run them until this one's process ends, which those parts already allow (as for two replicas).

A command committed in a worker that does not hold the lease wakes the holder's relay and tasks by ``NOTIFY`` (the
relay's :class:`shared.relay_wake.Notifier`, and one more of them for each channel a service names in
``ServiceSpec.woken_by_commands``).

Metrics: with ``PMO_WORKERS`` > 1, ``prometheus_client`` runs in its multiprocess mode
(:func:`shared.processes.prepare_metrics`, run when :mod:`shared` is imported, before ``prometheus_client`` is):
``/metrics`` answers for every worker of the replica, counters summed, gauges one series per live worker (``pid``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
"""How often a worker without the lease tries it again (and how long a dead holder's work waits at most)."""
CHECK_SECONDS = 30.0
"""How often the holder checks that its lease session is alive."""


def forget_dead_workers() -> None:
    """Remove the live gauges of worker processes that are gone (their counters stay: totals never go back)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    from prometheus_client import multiprocess

    pids = set()
    for path in Path(folder).glob("gauge_live*_*.db"):
        with contextlib.suppress(ValueError):
            pids.add(int(path.stem.rsplit("_", 1)[1]))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


def leaving() -> None:
    """This worker is stopping: its live gauges go."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), folder)  # type: ignore[no-untyped-call]


class BackgroundLease:
    """The replica's background lease: ``start`` is called once, in the worker that first holds it."""

    def __init__(self, engine: AsyncEngine, key: str, start: Callable[[], None]) -> None:
        self.engine = engine
        self.key = key
        self._start = start
        self.held = False
        """True while this worker holds the lease (and runs the replica's background work)."""
        self.started = False
        self._failing = False

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self.engine.connect() as conn:
                    taken = await conn.scalar(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": self.key})
                    await conn.commit()  # the lock is the session's, not the transaction's
                    if taken:
                        self.held = True
                        if not self.started:
                            self.started = True
                            log.info("this worker runs the replica's relay, consumers and background tasks")
                            self._start()
                        while not await _stopped(stop, CHECK_SECONDS):
                            await conn.execute(text("SELECT 1"))
                            await conn.commit()
                        await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": self.key})
                        await conn.commit()
                        return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._failing:  # once per run of failures
                    log.warning("background lease: %s: %s; trying again", type(exc).__name__, exc)
                self._failing = True
            else:
                self._failing = False
            finally:
                self.held = False
            await _stopped(stop, RETRY_SECONDS)


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait until ``stop`` is set or ``seconds`` pass; whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
