"""Schema compatibility of the event contracts with a committed snapshot (``shared/contracts/snapshot.json``).

An event type keeps its version only while every event ever written under it still decodes and every reader built
for it still reads what is produced: so, against the snapshot, no contract (name and version) may disappear, and
within one, no field may be removed, made required or added as required, no type (or format, or constant) may
change, and no enum value may be removed. Optional fields and enum values may be added. A change that needs more is
a new version with an upcaster (``EventRegistry.register_upcaster``); ``python -m shared.contracts snapshot``
records the new version (and any additive change) once it is intended. ``tests/unit/test_event_evolution.py`` runs
:func:`breaking_changes` in CI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("snapshot.json")

Schemas = Mapping[str, Mapping[str, Any]]
"""JSON Schemas keyed ``<service>/<name>.v<version>``."""


def current() -> dict[str, dict[str, Any]]:
    """The published JSON Schema of every contract, keyed ``<service>/<name>.v<version>``."""
    from shared.contracts import json_schemas

    return {f"{s}/{n}.v{v}": schema for (s, n, v), schema in sorted(json_schemas().items())}


def load(path: Path = SNAPSHOT) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def write(path: Path = SNAPSHOT) -> Path:
    """Record the current schemas as the snapshot (after an intended change: a new version, an optional field)."""
    path.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
    return path


def breaking_changes(old: Schemas, new: Schemas) -> list[str]:
    """Every breaking change from ``old`` to ``new`` that keeps its contract's version, one sentence each."""
    problems = [f"{key}: removed (events of this version exist and must still decode)" for key in old if key not in new]
    for key in sorted(set(old) & set(new)):
        problems += _Walk(key, old[key], new[key]).compare(old[key], new[key], "")
    return problems


class _Walk:
    """Compares two schemas of one contract, each resolving ``$ref`` in its own ``$defs``."""

    def __init__(self, key: str, old_root: Mapping[str, Any], new_root: Mapping[str, Any]) -> None:
        self.key = key
        self.roots = (old_root, new_root)

    def compare(self, old: Mapping[str, Any], new: Mapping[str, Any], at: str) -> list[str]:
        old, new = self._resolve(old, 0), self._resolve(new, 1)
        where = f"{self.key}: {at or 'the event'}"
        old_alts, new_alts = _alternatives(old), _alternatives(new)
        if len(old_alts) > 1 or len(new_alts) > 1:
            return self._union(old_alts, new_alts, at)
        if (kinds := (_kind(old), _kind(new))) and kinds[0] != kinds[1]:
            return [f"{where} changed type from {kinds[0]} to {kinds[1]}"]
        problems = []
        removed = [v for v in old.get("enum", ()) if v not in new.get("enum", ())]
        if removed and "enum" in new:
            problems.append(f"{where} lost the enum values {removed}")
        if old.get("type") == "object" or "properties" in old:
            problems += self._object(old, new, at)
        if "items" in old and "items" in new:
            problems += self.compare(old["items"], new["items"], f"{at}[]")
        old_map, new_map = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_map, dict) and isinstance(new_map, dict):
            problems += self.compare(old_map, new_map, f"{at}{{}}")
        return problems

    def _object(self, old: Mapping[str, Any], new: Mapping[str, Any], at: str) -> list[str]:
        problems = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name in old_props:
            path = f"{at}.{name}" if at else name
            if name not in new_props:
                problems.append(f"{self.key}: field {path} removed")
            elif name in new_required and name not in old_required:
                problems.append(f"{self.key}: field {path} made required")
            else:
                problems += self.compare(old_props[name], new_props[name], path)
        for name in sorted(new_required - set(old_props)):
            problems.append(f"{self.key}: field {f'{at}.{name}' if at else name} added as required")
        return problems

    def _union(self, old_alts: list[Mapping[str, Any]], new_alts: list[Mapping[str, Any]], at: str) -> list[str]:
        old_by_kind = {_kind(self._resolve(a, 0), titled=True): a for a in old_alts}
        new_by_kind = {_kind(self._resolve(a, 1), titled=True): a for a in new_alts}
        if set(old_by_kind) != set(new_by_kind):
            return [
                f"{self.key}: {at or 'the event'} changed type from {' | '.join(sorted(old_by_kind))} to "
                f"{' | '.join(sorted(new_by_kind))}"
            ]
        problems = []
        for kind, alt in old_by_kind.items():
            problems += self.compare(alt, new_by_kind[kind], at)
        return problems

    def _resolve(self, schema: Mapping[str, Any], side: int) -> Mapping[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                return schema
            target: Any = self.roots[side]
            for part in ref[2:].split("/"):
                target = target[part]
            schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **target}
        return schema


def _alternatives(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for word in ("anyOf", "oneOf"):
        if word in schema:
            return list(schema[word])
    return [schema]


def _kind(schema: Mapping[str, Any], *, titled: bool = False) -> str:
    """What a value of ``schema`` is, in a word: its type with its format or constant (and, to tell the parts of a
    union apart, the part's title)."""
    if "const" in schema:
        return f"const {schema['const']!r}"
    kind = schema.get("type", "any")
    kind = "|".join(kind) if isinstance(kind, list) else str(kind)
    if "format" in schema:
        kind += f" ({schema['format']})"
    if titled and kind == "object" and "properties" in schema:
        kind += f" {schema.get('title', '')}".rstrip()
    if "enum" in schema and "type" not in schema:
        kind = "enum"
    return kind
