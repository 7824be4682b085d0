"""Python's cyclic garbage collector deferred over a stretch of CPU-heavy work (:func:`gc_paused`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a stretch of CPU-heavy work (a consumed batch, a fold), back on
    after: one collection of what the stretch left instead of one every 700 allocations, each of which may sweep the
    older generations holding the kept books (in a catch-up the collector took about a third of the consumers' CPU,
    measured with it off). It only defers: the coroutines that run meanwhile (at an ``await``) allocate with it off
    too, for as long as the stretch lasts; nothing is collected later than the end of the outermost stretch. Nested
    or overlapping stretches leave it off until the one that turned it off ends."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
