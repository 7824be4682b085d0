"""The latest known state of recently used budgets (and exchange-rate streams), by stream and version: what a
command would otherwise fold from the stream it reads first.

Pure and per process: no lock, no I/O. Nothing here decides whether a remembered state is current; the stream's
version check on append does (:class:`budget.handlers.streams.CachedStreams`): a state remembered at version 5 is
appended to at expected version 5, and a replica that appended meanwhile makes that append fail, so a stale entry
is never written over, only forgotten and read again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

DEFAULT_SIZE = 500
"""Streams remembered per process (the budgets worked on lately); the least recently used leave first. A budget's
state holds its commitments and tranches: a few kilobytes to a few hundred for the largest, so at most some tens of
megabytes per process."""


class AggregateCache:
    """``stream id -> (state, version)``, least recently used first out. States are frozen dataclasses: an entry
    is shared, never changed."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("the cache holds at least one stream")
        self.size = size
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.stale = 0
        """Entries found stale by a command (the append's version check, or a decision confirmed on the stream)."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, stream_id: str) -> tuple[Any, int] | None:
        found = self._entries.get(stream_id)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(stream_id)
        self.hits += 1
        return found

    def put(self, stream_id: str, state: Any, version: int) -> None:
        """Remember ``state`` at ``version``, unless a later version is remembered already (two commands of this
        process finishing out of order)."""
        known = self._entries.get(stream_id)
        if known is not None and known[1] > version:
            return
        self._entries[stream_id] = (state, version)
        self._entries.move_to_end(stream_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, stream_id: str) -> None:
        self._entries.pop(stream_id, None)
