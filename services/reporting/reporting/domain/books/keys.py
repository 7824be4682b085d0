"""The order the books fold a project's facts in (each fact's order key) and the row a component keeps of a fact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

from reporting.domain.ledger import Fact

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Key = tuple[int, int, int]
Row = tuple[Key, str, date | None, Decimal | None, UUID | None, Any]
"""One fact as a component keeps it: order key, kind, effective date, amount, event id, other fields (JSON)."""
ReportRow = tuple[date, Key, str, UUID]
"""A status report: meeting date, order key, overall RAG, event id."""


@lru_cache(maxsize=1 << 16)
def entity_id(text: str) -> UUID:
    """``UUID(text)``, remembered: the books keep ids as text and read the same entities' ids on every date (an
    S-curve reads 105 dates, a report nine), where parsing them again was a fifth of ``Books.at``'s time."""
    return UUID(text)


SERVICE_RANK = {"budget": 0, "invoicing": 1, "projects": 2, "resources": 3}
"""Facts recorded at the same microsecond by different services are taken in this order (the ledger's too:
``ORDER BY recorded_at, service, position``), so the books do not depend on how the topics interleaved."""


def _micros(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


def order_key(fact: Fact, seq: int) -> Key:
    """The key of a fact, ``seq``-th of its service's facts: recorded time in microseconds, the service's rank, ``seq``
    (the ledger's order: recorded time, producing service, position)."""
    return (_micros(fact.recorded_at), SERVICE_RANK.get(fact.service, len(SERVICE_RANK)), seq)
