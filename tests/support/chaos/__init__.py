"""Helpers of the chaos, load and concurrency suites: a private world to break, a command ledger, checks.

A :class:`PrivateWorld` is a PostgreSQL and a Kafka broker of its own in a temporary folder (never the shared ones
other test runs use), with the five services running on them as processes. Fault tests stop, kill and restart
those, and only those.

A :class:`Ledger` records every command a test sends and its answer. :func:`verify` then waits until every relay
and every consumer has caught up and checks what the issue asks of every fault scenario: each command that got a
2xx answer is reflected exactly once in the read models, and the read models equal a fresh replay of the topics
(compared by a digest of their tables).
"""

from __future__ import annotations

from tests.support.chaos.checks import UUID_KEY, Verdict, check_commands, check_events, verify
from tests.support.chaos.common import (
    BOOKKEEPING_COLUMNS,
    DIRECTOR,
    FIGURES,
    PROBLEM,
    TOPICS,
    TRANSIENT_TABLES,
    Consumer,
    Figures,
    consumers,
    free_ports,
    percentile,
    specs,
    token,
)
from tests.support.chaos.faults import (
    aggregates,
    append_outbox,
    blocked_on,
    disputes,
    freshness,
    rebuilt_equals_live,
    relay_lock_holder,
    table_locked,
    terminate_relay_session,
    topic_duplicates,
    wait_until,
    work_sheets,
)
from tests.support.chaos.observe import (
    _rows,
    _scalar,
    consumer_lag,
    end_offsets,
    header,
    inbox_digest,
    live_digests,
    read_topic,
    relay_backlog,
    replay_digests,
    table_digests,
    wait_quiet,
)
from tests.support.chaos.workload import KnownProject, Ledger, LoadFigures, Sent, Workload, clients_for
from tests.support.chaos.world import PrivateInfra, PrivateWorld, wait_ready

__all__ = [
    "BOOKKEEPING_COLUMNS",
    "DIRECTOR",
    "FIGURES",
    "PROBLEM",
    "TOPICS",
    "TRANSIENT_TABLES",
    "UUID_KEY",
    "Consumer",
    "Figures",
    "KnownProject",
    "Ledger",
    "LoadFigures",
    "PrivateInfra",
    "PrivateWorld",
    "Sent",
    "Verdict",
    "Workload",
    "_rows",
    "_scalar",
    "aggregates",
    "append_outbox",
    "blocked_on",
    "check_commands",
    "check_events",
    "clients_for",
    "consumer_lag",
    "consumers",
    "disputes",
    "end_offsets",
    "free_ports",
    "freshness",
    "header",
    "inbox_digest",
    "live_digests",
    "percentile",
    "read_topic",
    "rebuilt_equals_live",
    "relay_backlog",
    "relay_lock_holder",
    "replay_digests",
    "specs",
    "table_digests",
    "table_locked",
    "terminate_relay_session",
    "token",
    "topic_duplicates",
    "verify",
    "wait_quiet",
    "wait_ready",
    "wait_until",
    "work_sheets",
]
