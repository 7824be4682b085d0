"""The facts a project's books are folded from: events of other services as the reporting service stored them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.events import DomainEvent, EventRegistry

REGISTRIES: dict[str, EventRegistry] = {
    "projects": p.REGISTRY,
    "budget": b.REGISTRY,
    "resources": r.REGISTRY,
    "invoicing": i.REGISTRY,
}


@dataclass(frozen=True)
class Fact:
    """One event of another service about a project, as the reporting service stored it."""

    event_id: UUID
    service: str
    name: str
    version: int
    recorded_at: datetime
    data: dict[str, Any]

    def decode(self) -> DomainEvent | None:
        registry = REGISTRIES.get(self.service)
        if registry is None or (self.name, self.version) not in registry:
            return None
        return registry.decode(self.name, self.version, self.data)


def decode_fact(service: str, name: str, version: int, raw: str | bytes) -> DomainEvent | None:
    """:meth:`Fact.decode` of a fact's data as the JSON text the ledger holds, parsed and validated in one step
    (pydantic's JSON mode, as the facts consumer decodes the record: :meth:`shared.kafka.ConsumedEvent.contract`)."""
    registry = REGISTRIES.get(service)
    if registry is None or (name, version) not in registry:
        return None
    return registry.decode_json(name, version, raw)


def end_of(day: date) -> datetime:
    """The first moment (UTC) after ``day``: facts recorded before it were known by the end of ``day``."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
