"""Event contracts and the envelope that carries them.

A domain event is a frozen pydantic model with a kebab-case, past-tense wire name and a schema version.
An :class:`EventRegistry` maps ``(name, version)`` to its model so that stored and consumed events can be
decoded; each service publishes its registry's JSON Schemas with the code (``shared.contracts``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    """Base of every event contract. Subclasses set ``event_name`` (kebab-case) and ``event_version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_name: ClassVar[str]
    event_version: ClassVar[int] = 1

    @property
    def partition_key(self) -> str:
        """The Kafka key: the project the event belongs to (all events of one project keep their order)."""
        project_id = getattr(self, "project_id", None)
        if project_id is None:
            raise NotImplementedError(f"{type(self).__name__} must define partition_key or project_id")
        return str(project_id)


@dataclass(frozen=True)
class EventMetadata:
    """Who caused an event and in which conversation: recorded with every event."""

    actor: str
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"actor": self.actor, "correlation_id": self.correlation_id}
        if self.causation_id:
            out["causation_id"] = self.causation_id
        if self.traceparent:
            out["traceparent"] = self.traceparent
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EventMetadata:
        return cls(
            actor=str(raw.get("actor", "unknown")),
            correlation_id=str(raw.get("correlation_id", "")),
            causation_id=raw.get("causation_id"),
            traceparent=raw.get("traceparent"),
        )


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: the contract plus its place in the stream and in the service's log."""

    event_id: uuid.UUID
    stream_id: str
    stream_type: str
    version: int
    position: int
    name: str
    schema_version: int
    partition_key: str
    data: dict[str, Any]
    metadata: EventMetadata
    recorded_at: datetime
    event: DomainEvent | None = field(default=None, compare=False)


class UnknownEventError(LookupError):
    """No contract is registered for an event name and version."""


class EventRegistry:
    """Maps wire names and versions to event models."""

    def __init__(self, events: Iterable[type[DomainEvent]] = ()) -> None:
        self._by_key: dict[tuple[str, int], type[DomainEvent]] = {}
        for model in events:
            self.register(model)

    def register(self, model: type[DomainEvent]) -> type[DomainEvent]:
        key = (model.event_name, model.event_version)
        if key in self._by_key and self._by_key[key] is not model:
            raise ValueError(f"event {key} registered twice")
        self._by_key[key] = model
        return model

    def __iter__(self) -> Any:
        return iter(self._by_key.values())

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._by_key

    def decode(self, name: str, version: int, data: Mapping[str, Any]) -> DomainEvent:
        """Validate ``data`` into the registered model; raises :class:`UnknownEventError` if none is."""
        try:
            model = self._by_key[(name, version)]
        except KeyError:
            raise UnknownEventError(f"no contract for event {name} v{version}") from None
        return model.model_validate(dict(data))

    def decode_json(self, name: str, version: int, data: str | bytes) -> DomainEvent:
        """:meth:`decode` of the JSON text of ``data``, parsed and validated in one step (pydantic's JSON mode:
        what ``decode(json.loads(data))`` accepts, without building the dict first)."""
        try:
            model = self._by_key[(name, version)]
        except KeyError:
            raise UnknownEventError(f"no contract for event {name} v{version}") from None
        return model.model_validate_json(data)

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schema of every registered event, keyed ``<name>.v<version>``."""
        return {f"{m.event_name}.v{m.event_version}": m.model_json_schema() for m in self._by_key.values()}
