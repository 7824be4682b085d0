"""Identifiers: UUID version 7 (RFC 9562), time-ordered.

Every id this system makes up (event ids, project, milestone, invoice, resource ... ids) is a version 7 UUID: 48
bits of Unix time in milliseconds, then 74 random bits. Ids made later sort later, so the B-tree indexes they key
(the events' unique event id, every consumer's inbox, the facts ledger, the read models' primary keys) grow at their
right edge instead of at random pages: fewer pages touched and written per insert, and after a checkpoint far fewer
full-page images in the write-ahead log. Measured in ``bench/README.md`` (replay). The ids stay unguessable (74
random bits); what they reveal is the millisecond they were made, which every event records anyway.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_RAND_B = (1 << 62) - 1


def new_id() -> uuid.UUID:
    """A new version 7 UUID (the time-ordered layout of RFC 9562, random bits from ``os.urandom``)."""
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits: the low 62 for rand_b, the next 12 for rand_a
    rand_a = (rand >> 62) & 0xFFF
    millis = time.time_ns() // 1_000_000
    return uuid.UUID(int=millis << 80 | _VERSION_7 | rand_a << 64 | _VARIANT_RFC | rand & _RAND_B)
