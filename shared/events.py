"""Event contracts and the envelope that carries them.

A domain event is a frozen pydantic model with a kebab-case, past-tense wire name and a schema version.
An :class:`EventRegistry` maps ``(name, version)`` to its model so that stored and consumed events can be
decoded; each service publishes its registry's JSON Schemas with the code (``shared.contracts``).

Events evolve (docs/consuming-events.md): building an event in code is strict (an unknown field is a typo and is
refused), reading one is tolerant (:meth:`EventRegistry.decode` ignores fields it does not know, at every level, and
validates the ones it does), and a breaking change is a new version whose registry entry upcasts the old one, so a
reader only ever sees the newest version of an event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    """Base of every event contract. Subclasses set ``event_name`` (kebab-case) and ``event_version``.

    Constructing one refuses unknown fields (``extra="forbid"``: a misspelt field is an error where the event is
    made); decoding one through :class:`EventRegistry` ignores them (tolerant reader)."""

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


Upcaster = Callable[[Any], DomainEvent]
"""Turns a decoded event of one version into the next version of the same event."""


def open_schema(schema: Any) -> Any:
    """``schema`` without ``additionalProperties: false`` anywhere: the schema a tolerant reader validates with
    (a producer may add optional fields without a new version). Other ``additionalProperties`` (maps) are kept."""
    if isinstance(schema, dict):
        return {k: open_schema(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [open_schema(v) for v in schema]
    return schema


class EventRegistry:
    """Maps wire names and versions to event models, and older versions to the newer one they are read as.

    Decoding is tolerant: unknown fields are ignored at every level (the event and its nested parts), known fields
    are validated as strictly as when the event is built. An event registered with an upcaster
    (:meth:`register_upcaster`) is decoded into its own model, then upcast version by version: readers get the
    newest version whatever version was stored or published.
    """

    def __init__(self, events: Iterable[type[DomainEvent]] = ()) -> None:
        self._by_key: dict[tuple[str, int], type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], tuple[type[DomainEvent], Upcaster]] = {}
        for model in events:
            self.register(model)

    def register(self, model: type[DomainEvent]) -> type[DomainEvent]:
        key = (model.event_name, model.event_version)
        if key in self._by_key and self._by_key[key] is not model:
            raise ValueError(f"event {key} registered twice")
        self._by_key[key] = model
        return model

    def register_upcaster(self, old: type[DomainEvent], new: type[DomainEvent], upcast: Upcaster) -> None:
        """Register ``old`` and ``new`` (``new.event_version == old.event_version + 1``, same name) and read every
        ``old`` event as ``upcast(old_event)``, an instance of ``new``."""
        if old.event_name != new.event_name or new.event_version != old.event_version + 1:
            raise ValueError(f"an upcaster goes from one version of an event to the next, not {old} to {new}")
        self.register(old)
        self.register(new)
        self._upcasters[(old.event_name, old.event_version)] = (new, upcast)

    def __iter__(self) -> Iterator[type[DomainEvent]]:
        """Every registered model, older versions included (their schemas are published for old events)."""
        return iter(self._by_key.values())

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._by_key

    def upcasts(self, name: str, version: int) -> bool:
        """Whether events ``name`` v``version`` are read as a newer version."""
        return (name, version) in self._upcasters

    def _model(self, name: str, version: int) -> type[DomainEvent]:
        try:
            return self._by_key[(name, version)]
        except KeyError:
            raise UnknownEventError(f"no contract for event {name} v{version}") from None

    def _upcast(self, event: DomainEvent) -> DomainEvent:
        step = self._upcasters.get((event.event_name, event.event_version))
        while step is not None:
            new, upcast = step
            event = upcast(event)
            if type(event) is not new:  # a wrong upcaster would otherwise loop or hand readers an old version
                raise TypeError(f"the upcaster to {new.__name__} returned a {type(event).__name__}")
            step = self._upcasters.get((event.event_name, event.event_version))
        return event

    def decode(self, name: str, version: int, data: Mapping[str, Any]) -> DomainEvent:
        """Validate ``data`` into the registered model, ignoring unknown fields, and upcast it to the newest
        version; raises :class:`UnknownEventError` if no model is registered, pydantic's ``ValidationError`` if a
        known field is missing or invalid."""
        event = self._model(name, version).model_validate(dict(data), extra="ignore")
        return self._upcast(event) if self._upcasters else event

    def decode_json(self, name: str, version: int, data: str | bytes) -> DomainEvent:
        """:meth:`decode` of the JSON text of ``data``, parsed and validated in one step (pydantic's JSON mode:
        what ``decode(json.loads(data))`` accepts, without building the dict first)."""
        event = self._model(name, version).model_validate_json(data, extra="ignore")
        return self._upcast(event) if self._upcasters else event

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schema of every registered event (open to additional properties), keyed ``<name>.v<version>``."""
        return {f"{m.event_name}.v{m.event_version}": open_schema(m.model_json_schema()) for m in self._by_key.values()}
