"""``pmo``: run the PMO backend locally, look at it from the terminal, and look after its read models.

    pmo run              infrastructure + all five services in the foreground; Ctrl-C stops everything
    pmo start / stop     the same in the background (log: .pmo/logs/system.log) / stop it
    pmo infra start|stop|status
                         the private PostgreSQL and Kafka alone
    pmo alerts           open alerts (from the reporting service)
    pmo report ID        a project's figures, as of today or --as-of
    pmo migrate [SERVICE...]
                         bring the schemas to the code's revisions (--check, --sql)
    pmo replay NAME      rebuild a read model (or all of a service's, in one pass) from the topics, with a progress bar
    pmo demo             load the demo portfolio (pmo run does it unless --no-demo)
    pmo token            mint a development bearer token (--sub, --role)
    pmo access           which roles may call each route of each service
    pmo relay held|retry|skip SERVICE
                         events a service's relay holds back from Kafka; publish them again; skip one for good
    pmo backup / restore / republish SERVICE / reconcile SERVICE
                         disaster recovery (docs/operations.md, "Recovery runbook")
    pmo kafka topics|quorum|groups [ARGS...]
                         Kafka's own tools against the configured cluster (docs/operations.md, "Kafka cluster")
    pmo dlq list|show|redrive
                         events a service's consumers could not apply; apply them again once the cause is fixed

Every command has ``--help``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from shared.cli import development, dlq, kafka, maintenance, migrating, recovery, system
from shared.cli.output import printable
from shared.cli.output import table as _table

__all__ = ["main", "printable"]


# ``pmo alerts`` and ``pmo report``: the system seen through the reporting service's API.


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pmo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="start infrastructure and all services in the foreground; Ctrl-C stops")
    run.add_argument("--keep-infra", action="store_true", help="leave PostgreSQL and Kafka running on exit")
    run.add_argument("--no-demo", action="store_true", help="do not load the demo portfolio")
    run.set_defaults(func=system.run)
    start = commands.add_parser("start", help="like run, in the background")
    start.add_argument("--no-demo", action="store_true", help="do not load the demo portfolio")
    start.set_defaults(func=system.start)
    commands.add_parser("stop", help="stop what `pmo start` started").set_defaults(func=system.stop)
    infra = commands.add_parser("infra", help="manage the private PostgreSQL and Kafka")
    infra.add_argument("action", choices=["start", "stop", "status"])
    infra.set_defaults(func=system.infra)
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
    migrating.add_parser(commands)
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
    rep.set_defaults(func=maintenance.replay)
    commands.add_parser(
        "demo", help="load the demo portfolio into the running local system (PMO_<SERVICE>_URL to point elsewhere)"
    ).set_defaults(func=development.demo)
    token = commands.add_parser("token", help="mint a development bearer token (development mode only)")
    token.add_argument("--sub", default="dev.director", help="the acting user (default: dev.director)")
    token.add_argument("--role", action="append", default=[], help="a role; repeat for several (default: director)")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds (default: 8 hours)")
    token.set_defaults(func=development.token)
    commands.add_parser("access", help="print which roles may call each route of each service").set_defaults(
        func=development.access
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
        sub.set_defaults(func=maintenance.relay, project=None)
    recovery.register(commands)
    dlq.register(commands)
    kafka.register(commands)
    args = parser.parse_args(argv)
    return int(args.func(args))
