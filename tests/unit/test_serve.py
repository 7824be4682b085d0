"""``python -m shared.serve``: uvicorn's server, its housekeeping once a second instead of ten times (a service at rest
rests), its ``Date`` header still current, and a stop signal acted on at once."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import uvicorn

from shared.serve import TICK_SECONDS, QuietServer


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


class _Counting(QuietServer):
    ticks = 0

    async def on_tick(self, counter: int) -> bool:
        self.ticks += 1
        return await super().on_tick(counter)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_server_ticks_once_a_second_keeps_its_date_and_stops_at_once_when_told() -> None:
    port = _free_port()
    server = _Counting(uvicorn.Config(_app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, serving.exception() if serving.done() else "not started in 5 s"
    await asyncio.sleep(2.5)
    assert server.ticks <= 2 + int(2.5 / TICK_SECONDS), server.ticks  # uvicorn's own server: about 25 by now
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{port}/")
    assert answer.text == "ok"
    assert abs(parsedate_to_datetime(answer.headers["date"]).timestamp() - time.time()) < 3  # refreshed every tick
    told = time.monotonic()
    # as a signal handler would call it; with a signal whose default is to be ignored: uvicorn raises the signals it
    # captured again once it has shut down (SIGTERM would end the test process)
    server.handle_exit(signal.SIGWINCH, None)
    await asyncio.wait_for(serving, 5)
    assert time.monotonic() - told < 0.5  # not at the next tick


def test_the_command_line_serves_an_app_factory_and_stops_on_sigterm() -> None:
    port = _free_port()
    command = [sys.executable, "-m", "shared.serve", "tests.unit.test_serve:_factory", "--factory"]
    process = subprocess.Popen([*command, "--port", str(port), "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/", timeout=1).text == "ok"
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        told = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
        assert time.monotonic() - told < 2
    finally:
        if process.poll() is None:
            process.kill()


def _factory() -> Any:
    return _app
