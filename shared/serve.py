"""Serving a service: uvicorn's command line (``python -m shared.serve <app> [uvicorn's options]``, what the image,
``pmo run`` and the benchmarks start), with a server that rests at rest.

uvicorn's server wakes ten times a second to keep its ``Date`` header current and to notice that it should stop: a
tenth of a second of CPU a minute for a service receiving nothing, half a second for the five (measured with a bare
app: 0.10 s a minute against 0.02 with one wake a second). :class:`QuietServer` does the same work once a second (the
``Date`` header has a resolution of a second anyway) and wakes at once when told to stop, so a SIGTERM is acted on
as soon as before. Everything else is uvicorn's own: options, workers (each worker runs this server), signals,
shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from types import FrameType

import uvicorn

TICK_SECONDS = 1.0
"""How often the server refreshes its ``Date`` header and checks its request limit (uvicorn: every 0.1 s)."""


class QuietServer(uvicorn.Server):
    """:class:`uvicorn.Server` whose housekeeping loop runs once a second and is woken by the exit signal."""

    _woken: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        counter = 0  # uvicorn refreshes the headers when the counter is a multiple of 10: at every tick here
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), TICK_SECONDS)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._woken is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._woken.set)


def main(argv: list[str] | None = None) -> None:
    """uvicorn's command line with :class:`QuietServer` as its server (``uvicorn.main.run`` builds the server it
    runs, or hands to each worker, from that module's ``Server``)."""
    cli = importlib.import_module("uvicorn.main")  # the module (the package's ``uvicorn.main`` is its function)
    cli.Server = QuietServer  # type: ignore[attr-defined]
    cli.main.main(args=sys.argv[1:] if argv is None else argv, prog_name="python -m shared.serve")


if __name__ == "__main__":
    # through the module's own name, so that the server handed to worker processes pickles as shared.serve's
    from shared.serve import main as serve

    serve()
