"""``pmo``: run the PMO backend locally, look at it from the terminal, and look after its read models.

    pmo run              infrastructure + all five services in the foreground; Ctrl-C stops everything
    pmo start / stop     the same in the background (log: .pmo/logs/system.log) / stop it
    pmo infra start|stop|status
                         the private PostgreSQL and Kafka alone
    pmo alerts           open alerts (from the reporting service)
    pmo report ID        a project's figures, as of today or --as-of
    pmo replay NAME      rebuild a read model (or all of a service's, in one pass) from the topics, with a progress bar
    pmo demo             load the demo portfolio (pmo run does it unless --no-demo)
    pmo token            mint a development bearer token (--sub, --role)
    pmo access           which roles may call each route of each service
    pmo relay held|retry|skip SERVICE
                         events a service's relay holds back from Kafka; publish them again; skip one for good

Every command has ``--help``.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from typing import Any

# Terminal escape sequences: CSI (colours, cursor moves, screen clearing), OSC (window titles, hyperlinks, clipboard
# writes), DCS/SOS/PM/APC strings, the other two-byte escapes, and the 8-bit CSI.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)


def printable(value: object, *, keep_newlines: bool = False) -> str:
    """``value`` as text that is safe to print on a terminal: escape sequences removed, then every other control
    or invisible format character (C0, C1, DEL, bidi overrides, zero-width characters) removed; tabs (and line
    breaks unless ``keep_newlines``) become spaces. Everything the CLI prints that comes from data (names, codes,
    subjects, reasons, answers of a service) goes through here, so a name cannot recolour, retitle or rewrite the
    operator's terminal."""
    text = _ESCAPES.sub("", str(value))
    kept = []
    for char in text:
        if char == "\n" and keep_newlines:
            kept.append(char)
        elif char in "\t\n\r":
            kept.append(" ")
        elif unicodedata.category(char) not in ("Cc", "Cf"):
            kept.append(char)
    return "".join(kept)


def _run(args: argparse.Namespace) -> int:
    from shared.auth import mint_token
    from shared.infra.system import System, ensure_infrastructure, stop_infrastructure

    started = time.monotonic()
    print("starting infrastructure (PostgreSQL, Kafka)...", flush=True)
    endpoints = ensure_infrastructure()
    print(f"  database: {endpoints.database_url}\n  kafka:    {endpoints.kafka_bootstrap_servers}", flush=True)
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


def _start(args: argparse.Namespace) -> int:
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


def _stop(args: argparse.Namespace) -> int:
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


def _infra(args: argparse.Namespace) -> int:
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


def _client(args: argparse.Namespace) -> Any:
    import httpx

    from shared.auth import mint_token
    from shared.infra.paths import SERVICE_PORT_OFFSETS, port_base

    url = (
        args.url
        or os.environ.get("PMO_REPORTING_URL")
        or f"http://127.0.0.1:{port_base() + SERVICE_PORT_OFFSETS['reporting']}"
    )
    token = os.environ.get("PMO_TOKEN") or mint_token("cli", ["viewer"])
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [{c: printable(r.get(c, "") or "") for c in columns} for r in rows]
    widths = {c: max([len(c), *(len(r[c]) for r in cells)]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in cells]
    return "\n".join(lines)


def _alerts(args: argparse.Namespace) -> int:
    params = {k: v for k, v in {"status": args.status, "project_id": args.project, "limit": 500}.items() if v}
    with _client(args) as client:
        response = client.get("/alerts", params=params)
    if response.status_code != 200:
        print(f"{response.status_code}: {printable(response.text)}", file=sys.stderr)
        return 1
    items = response.json()["items"]
    print(_table(items, ["severity", "rule", "title", "status", "updated_at"]) if items else "no alerts")
    return 0


def _report(args: argparse.Namespace) -> int:
    params = {"as_of": args.as_of} if args.as_of else {}
    with _client(args) as client:
        response = client.get(f"/reports/projects/{args.project_id}", params=params)
    if response.status_code != 200:
        print(f"{response.status_code}: {printable(response.text)}", file=sys.stderr)
        return 1
    body = response.json()
    print(printable(f"{body['code']}  {body['name']}  ({body['status']}, {body['currency']}) as of {body['as_of']}"))
    rows = [{"figure": k, "value": v["value"], "note": v["reason"] or ""} for k, v in body["figures"].items()]
    print(_table(rows, ["figure", "value", "note"]))
    for risk in body["underfunding_risk"]:
        print(
            printable(
                f"underfunding risk {risk['name']} (due {risk['due_date']}): {risk['probability']} - {risk['driver']}"
            )
        )
    return 0


def _replay(args: argparse.Namespace) -> int:
    import importlib

    from shared import aio
    from shared.db import create_engine, migrate
    from shared.infra.system import ensure_infrastructure
    from shared.replay import replay_all, text_progress

    service, _, model = args.name.partition(".")
    names = [
        p.name
        for s in ("budget", "resources", "invoicing", "reporting")
        for p in importlib.import_module(f"{s}.bootstrap").SPEC.projections
    ]
    if args.name not in names and args.name not in {n.split(".")[0] for n in names}:
        print(f"no read model {args.name}; one of: {', '.join(names)} (or a service: all of its)", file=sys.stderr)
        return 2
    spec = importlib.import_module(f"{service}.bootstrap").SPEC
    chosen = [p for p in spec.projections if not model or p.name == args.name]
    endpoints = ensure_infrastructure()
    schema = args.schema or service
    # The deployment's own settings when it is configured through the environment (TLS, SASL), else the private
    # infrastructure's endpoints.
    if os.environ.get("PMO_DATABASE_URL") and os.environ.get("PMO_KAFKA_BOOTSTRAP_SERVERS"):
        from shared.settings import ServiceSettings

        settings = ServiceSettings()
        kafka = settings.kafka()
        ssl_mode, ssl_root_cert = settings.database_ssl_mode, settings.database_ssl_root_cert
    else:
        from shared.kafka import KafkaOptions

        kafka, ssl_mode, ssl_root_cert = KafkaOptions(endpoints.kafka_bootstrap_servers), "disable", None
    writers = 2
    connect = functools.partial(
        create_engine,
        endpoints.database_url,
        schema,
        pool_size=writers + 1,
        ssl_mode=ssl_mode,
        ssl_root_cert=ssl_root_cert,
    )

    async def go() -> int:
        from shared import consumer as consumer_module
        from shared import relay as relay_module

        engine = connect()
        try:
            await migrate(engine, schema, [*relay_module.DDL, *consumer_module.DDL, *spec.ddl])
            result = await replay_all(
                engine,
                kafka,
                chosen,
                [t for p in chosen for t in getattr(p, "tables", ())],
                progress=text_progress(args.name),
                writers=writers,
                processes=args.processes,
                connect=connect,
            )
            print(
                f"replayed {', '.join(p.name for p in chosen)}: {result.records} records from "
                f"{result.partitions} partitions into schema {schema} in {result.processes} process(es)"
            )
            return 0
        finally:
            await engine.dispose()

    return aio.run(go())


def _demo(args: argparse.Namespace) -> int:
    from shared.demo import load_demo
    from shared.infra.paths import SERVICE_PORT_OFFSETS, port_base
    from shared.infra.system import SERVICES

    urls = {
        s: os.environ.get(f"PMO_{s.upper()}_URL") or f"http://127.0.0.1:{port_base() + SERVICE_PORT_OFFSETS[s]}"
        for s in SERVICES
    }
    print(printable(load_demo(urls), keep_newlines=True))
    return 0


def _relay(args: argparse.Namespace) -> int:
    import getpass
    import uuid

    from shared import aio, relay_held
    from shared.db import create_engine, migrate

    ssl_mode, ssl_root_cert = "disable", None
    if args.database_url or os.environ.get("PMO_DATABASE_URL"):
        url = args.database_url or os.environ["PMO_DATABASE_URL"]
        ssl_mode = os.environ.get("PMO_DATABASE_SSL_MODE", "disable")
        ssl_root_cert = os.environ.get("PMO_DATABASE_SSL_ROOT_CERT")
    else:
        from shared.infra.system import ensure_infrastructure

        url = ensure_infrastructure().database_url
    by = args.by if getattr(args, "by", None) else getpass.getuser()

    def show(events: list[relay_held.HeldEvent]) -> str:
        rows = [
            {
                "event": e.event_id,
                "project": e.partition_key,
                "name": e.name,
                "bytes": e.size_bytes,
                "held_at": e.held_at.isoformat(timespec="seconds"),
                "why": e.error[:80] if e.cause else "behind its project's first held event",
                "request": e.request,
            }
            for e in events
        ]
        return _table(rows, ["event", "project", "name", "bytes", "held_at", "why", "request"])

    async def go() -> int:
        engine = create_engine(
            url, args.schema or args.service, pool_size=1, ssl_mode=ssl_mode, ssl_root_cert=ssl_root_cert
        )
        try:
            await migrate(engine, args.schema or args.service, relay_held.DDL)
            if args.action == "held":
                async with engine.connect() as conn:
                    held = await relay_held.held_events(conn, "relay", args.project)
                print(show(held) if held else "nothing held")
                return 0
            if args.action == "retry":
                marked = await relay_held.request_retry(engine, "relay", by, args.project)
                if not marked:
                    print("nothing held" + (f" for project {args.project}" if args.project else ""))
                    return 0
                print(f"retry asked for {len(marked)} held events; waiting for the relay (up to {args.wait:g}s)...")
            else:
                marked = [uuid.UUID(args.event_id)]
                if not await relay_held.request_skip(engine, "relay", marked[0], by, args.reason):
                    print(f"event {args.event_id} is not held", file=sys.stderr)
                    return 1
                print(f"skip asked for {args.event_id}; waiting for the relay (up to {args.wait:g}s)...")
            left = await relay_held.await_requests(engine, "relay", marked, args.wait)
            if left is None:
                print("the relay has not acted yet (is the service running?); it will once it runs", file=sys.stderr)
                return 1
            async with engine.connect() as conn:
                held = await relay_held.held_events(conn, "relay", args.project)
            print("done; still held:\n" + show(held) if held else "done; nothing held")
            return 0 if not left else 1
        finally:
            await engine.dispose()

    return aio.run(go())


def _token(args: argparse.Namespace) -> int:
    from shared.auth import DEFAULT_MAX_LIFETIME_SECONDS, mint_token

    longest = int(os.environ.get("PMO_JWT_MAX_LIFETIME_SECONDS") or DEFAULT_MAX_LIFETIME_SECONDS)
    if not 0 < args.ttl <= longest:
        print(f"--ttl must be between 1 and {longest} seconds (PMO_JWT_MAX_LIFETIME_SECONDS)", file=sys.stderr)
        return 2
    print(mint_token(args.sub, args.role or ["director"], ttl_seconds=args.ttl))
    return 0


def _access(args: argparse.Namespace) -> int:
    import importlib

    os.environ.setdefault("PMO_ENV", "development")
    os.environ.setdefault("PMO_DATABASE_URL", "postgresql+asyncpg://unused/unused")
    os.environ.setdefault("PMO_KAFKA_BOOTSTRAP_SERVERS", "unused:9092")
    from shared.infra.system import SERVICES

    for service in SERVICES:
        app = importlib.import_module(f"{service}.bootstrap").create_app()
        print(f"\n## {service}\n\n| method | path | roles |\n|---|---|---|")
        for path, item in app.openapi()["paths"].items():
            if path in ("/healthz", "/readyz"):
                continue
            for method in item:
                roles = sorted(r.value for r in app.state.access.allowed(method.upper(), path))
                print(f"| {method.upper()} | `{path}` | {', '.join(roles)} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pmo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="start infrastructure and all services in the foreground; Ctrl-C stops")
    run.add_argument("--keep-infra", action="store_true", help="leave PostgreSQL and Kafka running on exit")
    run.add_argument("--no-demo", action="store_true", help="do not load the demo portfolio")
    run.set_defaults(func=_run)
    start = commands.add_parser("start", help="like run, in the background")
    start.add_argument("--no-demo", action="store_true", help="do not load the demo portfolio")
    start.set_defaults(func=_start)
    commands.add_parser("stop", help="stop what `pmo start` started").set_defaults(func=_stop)
    infra = commands.add_parser("infra", help="manage the private PostgreSQL and Kafka")
    infra.add_argument("action", choices=["start", "stop", "status"])
    infra.set_defaults(func=_infra)
    for name, func, summary in (("alerts", _alerts, "list alerts"), ("report", _report, "a project's figures")):
        sub = commands.add_parser(name, help=summary)
        sub.add_argument("--url", help="reporting service URL (default: the local one, or PMO_REPORTING_URL)")
        if name == "alerts":
            sub.add_argument("--status", choices=["open", "cleared"], default="open")
            sub.add_argument("--project", help="only this project id")
        else:
            sub.add_argument("project_id")
            sub.add_argument("--as-of", help="YYYY-MM-DD (default: today)")
        sub.set_defaults(func=func)
    rep = commands.add_parser(
        "replay",
        help="rebuild read models from the topics (stop their service first, or use --schema for a new schema)",
    )
    rep.add_argument(
        "name",
        help="a read model, e.g. reporting.facts, budget.projects; or a service, e.g. reporting: all of its read "
        "models in one pass over their topics",
    )
    rep.add_argument("--schema", help="the schema to rebuild into (default: the service's)")
    rep.add_argument(
        "--processes",
        type=int,
        default=max(1, min(os.cpu_count() or 1, 8)),
        help="processes sharing the partitions (default: one per CPU core, at most 8 and at most one per partition; "
        "1: this process alone)",
    )
    rep.set_defaults(func=_replay)
    commands.add_parser(
        "demo", help="load the demo portfolio into the running local system (PMO_<SERVICE>_URL to point elsewhere)"
    ).set_defaults(func=_demo)
    token = commands.add_parser("token", help="mint a development bearer token (development mode only)")
    token.add_argument("--sub", default="dev.director", help="the acting user (default: dev.director)")
    token.add_argument("--role", action="append", default=[], help="a role; repeat for several (default: director)")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds (default: 8 hours)")
    token.set_defaults(func=_token)
    commands.add_parser("access", help="print which roles may call each route of each service").set_defaults(
        func=_access
    )
    relay = commands.add_parser(
        "relay",
        help="events a relay holds back from Kafka (refused for good, or behind such an event of their project)",
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, summary in (
        ("held", "list the held events, in publication order"),
        ("retry", "publish held events again, in order (after raising the limit that refused them)"),
        ("skip", "never publish one held event (recorded with who and why), then publish the rest of its project"),
    ):
        sub = relay.add_parser(action, help=summary)
        sub.add_argument("service", choices=["projects", "budget", "resources", "invoicing", "reporting"])
        if action == "skip":
            sub.add_argument("event_id")
            sub.add_argument("--reason", required=True, help="why it is skipped (kept in relay_skipped)")
            sub.add_argument("--by", help="who asks (default: the login name)")
        else:
            sub.add_argument("--project", help="only this project (partition key)")
        if action != "held":
            sub.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the relay (default 30)")
        sub.add_argument("--schema", help="the service's schema (default: its name)")
        sub.add_argument("--database-url", help="default: PMO_DATABASE_URL, else the private local PostgreSQL")
        sub.set_defaults(func=_relay, project=None)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
