"""Turning domain state (frozen dataclasses, mappings, Decimals, Money) into JSON-ready values, exactly."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import BaseModel

_FIELDS: dict[type, tuple[str, ...]] = {}
"""The field names of each dataclass met (``dataclasses.fields`` builds its tuple again on every call)."""


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value``. Decimals become exact strings, never floats; mappings keep string keys."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    names = _FIELDS.get(type(value))
    if names is not None:
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[type(value)] = tuple(f.name for f in dataclasses.fields(value))
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats have no place in PMO figures; use Decimal")
    raise TypeError(f"cannot turn {type(value).__name__} into JSON")
