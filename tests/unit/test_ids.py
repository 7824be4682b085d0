"""Ids are UUID version 7: time-ordered, random below the millisecond."""

import time
import uuid

from shared.ids import new_id


def test_a_new_id_is_a_version_7_rfc_uuid_carrying_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after
    assert uuid.UUID(str(made)) == made


def test_ids_made_in_later_milliseconds_sort_later_and_ids_do_not_repeat() -> None:
    first = [new_id() for _ in range(1000)]
    time.sleep(0.002)
    later = [new_id() for _ in range(1000)]
    assert max(first) < min(later)
    assert len(set(first + later)) == 2000


def test_the_bits_below_the_millisecond_are_random() -> None:
    ids = [new_id().int for _ in range(2000)]
    rand_a = {(i >> 64) & 0xFFF for i in ids}
    rand_b = [i & ((1 << 62) - 1) for i in ids]
    assert len(rand_a) > 1500  # 12 random bits: about 1,600 distinct values expected in 2,000 draws
    assert len(set(rand_b)) == 2000
    for bit in (0, 20, 40, 61):  # each bit of rand_b is set about half the time
        assert 800 < sum((b >> bit) & 1 for b in rand_b) < 1200
    # rand_a and rand_b come from different random bits
    assert sum(((i >> 64) & 0xFFF) == (i & 0xFFF) for i in ids) < 10
