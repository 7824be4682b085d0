"""Immutable helpers for the pure domains (standard library only)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def frozen(mapping: Mapping[K, V]) -> Mapping[K, V]:
    """A read-only copy of ``mapping``, for the maps held by frozen aggregate states."""
    return MappingProxyType(dict(mapping))
