"""Running the whole system on this machine: ``pmo run``, ``pmo start`` / ``stop`` and ``pmo infra``."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from shared.cli.output import printable


def run(args: argparse.Namespace) -> int:
    from shared.auth import mint_token
    from shared.infra.system import System, ensure_infrastructure, stop_infrastructure

    started = time.monotonic()
    print("starting infrastructure (PostgreSQL, Kafka)...", flush=True)
    endpoints = ensure_infrastructure()
    print(f"  database: {endpoints.database_url}\n  kafka:    {endpoints.kafka_bootstrap_servers}", flush=True)
    from shared import aio
    from shared.cli.migrating import migrate_schemas
    from shared.migrations import SERVICES

    print("migrating the schemas (pmo migrate)...", flush=True)
    if aio.run(migrate_schemas(dict.fromkeys(SERVICES, endpoints.database_url))):
        return 1
    system = System(endpoints)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        system.start()
        print(f"ready in {time.monotonic() - started:.1f}s:", flush=True)
        for service in system.services.values():
            print(f"  {service.name:<10} {service.url}/docs   (log: {service.log_path})", flush=True)
        if not args.no_demo:
            from shared.demo import load_demo

            print("loading the demo portfolio...", flush=True)
            try:
                summary = load_demo({s.name: s.url for s in system.services.values()})
            except Exception as exc:  # the system still runs; say what went wrong
                summary = f"the demo portfolio could not be loaded: {exc}"
            print(f"  {printable(summary)}", flush=True)
        print(f"dashboard: {system.services['reporting'].url}/dashboard", flush=True)
        token = mint_token("dev.director", ["director"], ttl_seconds=8 * 3600)
        print(f"a development token (director, 8 h):\n  export TOKEN={token}", flush=True)
        print("Ctrl-C stops everything.", flush=True)
        while not stop.wait(1.0):
            for service in system.services.values():
                if service.process.poll() is not None:
                    print(f"{service.name} exited; see {service.log_path}", file=sys.stderr)
                    return 1
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping...", flush=True)
        system.stop()
        if not args.keep_infra:
            stop_infrastructure(endpoints)
    return 0


def _pid_file() -> Any:
    from shared.infra.paths import state_dir

    return state_dir() / "system.pid"


def start(args: argparse.Namespace) -> int:
    from shared.infra.paths import state_dir

    pid_file = _pid_file()
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        print(f"already running (pid {pid_file.read_text()}); `pmo stop` stops it")
        return 0
    log = state_dir() / "logs" / "system.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    command = [sys.executable, "-m", "shared.cli", "run", *(["--no-demo"] if args.no_demo else [])]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(str(process.pid))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with log.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        if "Ctrl-C stops everything." in text:
            print(
                printable(text.replace("Ctrl-C stops everything.", "`pmo stop` stops everything."), keep_newlines=True)
            )
            return 0
        if process.poll() is not None:
            print(f"the system did not start; see {log}", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(f"not ready after 180 s; see {log}", file=sys.stderr)
    return 1


def stop(args: argparse.Namespace) -> int:
    pid_file = _pid_file()
    if not pid_file.exists():
        print("not running")
        return 0
    pid = int(pid_file.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(120):
            if not _alive(pid):
                break
            time.sleep(0.25)
    pid_file.unlink(missing_ok=True)
    print("stopped")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def infra(args: argparse.Namespace) -> int:
    from shared.infra.kafka import LocalKafka
    from shared.infra.postgres import LocalPostgres

    pg, kafka = LocalPostgres(), LocalKafka()
    if args.action == "start":
        print(f"postgres: {pg.start()}")
        print(f"kafka:    {kafka.start()}")
    elif args.action == "stop":
        kafka.stop()
        pg.stop()
    else:
        print(f"postgres: {'running ' + pg.url() if pg.is_running() else 'stopped'}")
        print(f"kafka:    {'running ' + kafka.bootstrap_servers if kafka.is_running() else 'stopped'}")
    return 0
