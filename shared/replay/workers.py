"""A replay's worker processes: each loads its share of the partitions (:class:`shared.replay.loading.Loader`) on
connections of its own and reports to the process that planned the replay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.replay.loading import Loader, Offsets, Progress, fewer_collections


class Workers:
    """``count`` worker processes (spawned: a fresh interpreter each, nothing of this process's event loop, sockets
    or connections inherited) next to this one: with ``n = count + 1``, partition number ``p`` is loaded by worker
    ``p % n``, worker 0 being this process. The workers report progress, their record count or their error through
    one queue; a worker that dies without a word fails the replay too, and every worker is stopped when the replay
    ends, however it ends."""

    def __init__(self, count: int, loader: Loader, connect: Callable[[], AsyncEngine] | None) -> None:
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.count = count
        self.loader = loader
        self.connect = connect
        self.queue: Any = self.context.Queue()
        self.jobs: list[Any] = [self.context.Queue() for _ in range(count)]
        self.processes: list[Any] = []

    def start(self) -> None:
        for index in range(self.count):
            process = self.context.Process(
                target=_worker,
                args=(index + 1, self.jobs[index], self.queue, self.loader, self.connect),
                daemon=True,
            )
            process.start()
            self.processes.append(process)

    async def load(
        self, engine: AsyncEngine, starts: Offsets, ends: Offsets, progress: Progress | None, total: int
    ) -> int:
        """Share ``0`` of the partitions is loaded here, share ``i`` by worker ``i``; the sum of their records."""
        import queue as queue_module

        shares = self.count + 1

        def share(index: int) -> tuple[Offsets, Offsets]:
            mine = [tp for tp in starts if tp.partition % shares == index]
            return {tp: starts[tp] for tp in mine}, {tp: ends[tp] for tp in mine}

        for index, job in enumerate(self.jobs, start=1):
            job.put((*share(index), total))
        done = [0] * shares

        def report(index: int, count: int) -> None:
            done[index] = count
            if progress:
                progress(sum(done), total)

        here_starts, here_ends = share(0)
        here = asyncio.create_task(
            self.loader.load(engine, here_starts, here_ends, lambda count, _: report(0, count), total)
        )
        finished: set[int] = set()

        def handle(kind: str, index: int, value: Any) -> None:
            if kind == "error":
                raise RuntimeError(f"replay worker {index} failed:\n{value}")
            if kind == "done":
                finished.add(index)
            report(index, value)

        try:
            while len(finished) < self.count:
                if here.done() and here.exception() is not None:
                    here.result()  # raises this process's error
                try:
                    handle(*await asyncio.to_thread(self.queue.get, True, 0.2))
                    continue
                except queue_module.Empty:
                    pass
                gone = [n for n, p in enumerate(self.processes, start=1) if n not in finished and not p.is_alive()]
                if gone:  # killed (OOM, a signal)? Its last words may still be on their way: read them first
                    with contextlib.suppress(queue_module.Empty):
                        for _ in range(100):  # what is there now, not what the others go on sending
                            handle(*await asyncio.to_thread(self.queue.get, True, 0.05))
                    for number in gone:
                        if number not in finished:
                            code = self.processes[number - 1].exitcode
                            raise RuntimeError(f"replay worker {number} exited with code {code}")
            report(0, await here)
        finally:
            if not here.done():
                here.cancel()
                await asyncio.gather(here, return_exceptions=True)
        return sum(done)

    def stop(self) -> None:
        """Wait briefly for workers that are ending anyway; terminate the others (a failed or cancelled replay)."""
        for process in self.processes:
            process.join(2)
            if process.is_alive():
                process.terminate()
                process.join(10)


def _worker(index: int, job: Any, out: Any, loader: Loader, connect: Callable[[], AsyncEngine]) -> None:
    """A worker process's body: wait for its share of the partitions, load them, report."""
    import traceback

    from shared import aio

    async def go(starts: Offsets, ends: Offsets, total: int) -> int:
        engine = connect()
        try:
            with fewer_collections():
                return await loader.load(
                    engine, starts, ends, lambda done, _: out.put(("progress", index, done)), total
                )
        finally:
            await engine.dispose()

    try:
        starts, ends, total = job.get()
        out.put(("done", index, aio.run(go(starts, ends, total))))
    except BaseException:
        out.put(("error", index, traceback.format_exc()))
        raise SystemExit(1) from None
