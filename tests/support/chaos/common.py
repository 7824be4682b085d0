"""Constants, tokens, ports and the figures the suites print."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.auth import mint_token
from shared.infra.system import SERVICES

PROBLEM = "application/problem+json"
TOPICS = {
    "projects": "pmo.projects.v1",
    "budget": "pmo.budget.v1",
    "resources": "pmo.resources.v1",
    "invoicing": "pmo.invoicing.v1",
    "reporting": "pmo.alerts.v1",
}
TRANSIENT_TABLES = frozenset({"dirty_projects"})
"""Read-model tables that are work queues, emptied as they are worked off: not compared."""
BOOKKEEPING_COLUMNS = ("position", "received_at", "updated_at")
"""Identity and bookkeeping columns that are not from events: left out of the digests (as are identity columns and
columns defaulting to the clock, found in the catalog)."""


@dataclass(frozen=True)
class Consumer:
    """One projection fed from Kafka, as a service runs it."""

    name: str
    service: str
    topics: tuple[str, ...]
    tables: tuple[str, ...]
    projection: Any


def specs() -> dict[str, Any]:
    """Every service's ``ServiceSpec`` (as the code stands: a service being built may have gained consumers)."""
    import importlib

    return {name: importlib.import_module(f"{name}.bootstrap").SPEC for name in SERVICES}


def consumers() -> dict[str, Consumer]:
    out = {}
    for service, spec in specs().items():
        for projection in spec.projections:
            tables = tuple(t for t in getattr(projection, "tables", ()) if t not in TRANSIENT_TABLES)
            out[projection.name] = Consumer(projection.name, service, tuple(projection.topics), tables, projection)
    return out


def read_models() -> dict[str, Consumer]:
    """The consumers that are read models of the whole history: every one but a consumer about what happens from now
    on (``start_at_end``: the notifications' deliveries), which a replay does not rebuild (``pmo replay`` leaves it
    out) and whose inbox begins where it first started."""
    return {n: c for n, c in consumers().items() if not getattr(c.projection, "start_at_end", False)}


def token(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(subject, roles, ttl_seconds=6 * 3600)}"}


DIRECTOR = token("dora.director", "director")


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Figures:
    """What the suites measured, printed at the end of the run (``pytest -s`` not needed) and in the report."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.totals: Counter[str] = Counter()
        self.peaks: dict[str, int] = {}

    def add(self, line: str, **totals: int) -> None:
        self.entries.append(line)
        print(line)
        self.totals.update(totals)

    def peak(self, name: str, value: int) -> None:
        self.peaks[name] = max(value, self.peaks.get(name, 0))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def lines(self) -> list[str]:
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(self.totals.items()))
        peaks = ", ".join(f"{k}: {v}" for k, v in self.peaks.items())
        return [*self.entries, f"totals: {summary}", f"at the last check: {peaks}"]


FIGURES = Figures()
