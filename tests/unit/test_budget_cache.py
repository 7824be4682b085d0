"""The budget's remembered states (:mod:`budget.domain.cache`): least recently used out, never an older version
over a newer one, counted hits and misses."""

from __future__ import annotations

import pytest

from budget.domain.cache import AggregateCache


def test_the_least_recently_used_stream_leaves_first() -> None:
    cache = AggregateCache(size=2)
    cache.put("a", "state a", 1)
    cache.put("b", "state b", 1)
    assert cache.get("a") == ("state a", 1)  # a is now the most recently used
    cache.put("c", "state c", 1)
    assert cache.get("b") is None and cache.get("a") == ("state a", 1) and cache.get("c") == ("state c", 1)
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (3, 1)


def test_an_older_version_never_replaces_a_newer_one_and_forget_drops_the_entry() -> None:
    cache = AggregateCache()
    cache.put("a", "v3", 3)
    cache.put("a", "v2", 2)  # a command of this process that finished later but decided earlier
    assert cache.get("a") == ("v3", 3)
    cache.put("a", "v4", 4)
    assert cache.get("a") == ("v4", 4)
    cache.forget("a")
    cache.forget("never there")
    assert cache.get("a") is None


def test_a_cache_holds_at_least_one_stream() -> None:
    with pytest.raises(ValueError):
        AggregateCache(size=0)
