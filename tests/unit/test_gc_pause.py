"""The consumers defer Python's cyclic garbage collector to the end of a batch (``gc_paused``): it is back
on after the batch whatever happens inside, and a process that turned it off itself keeps it off."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.collector import gc_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_the_collector_waits_for_the_end_of_the_outermost_stretch() -> None:
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner stretch did not turn it back on
    assert gc.isenabled()


def test_the_collector_is_back_on_after_a_failed_batch() -> None:
    with pytest.raises(RuntimeError, match="batch failed"), gc_paused():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_process_stays_off() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
