"""Exchange rates for rolling a portfolio up in one reporting currency.

The rates are the ones recorded on ``pmo.budget.v1`` (``exchange-rate-recorded``), kept by the facts consumer in
``fx_rates`` (:mod:`reporting.projections`). The rule is the producing services' (:mod:`shared.contracts.common`):
on a day, the X->Y rate in force is the latest recorded X->Y rate whose ``effective_on`` is on or before that day
(of one date, the one recorded last: a correction replaces the rate); when no X->Y rate is in force, 1 / the Y->X
rate in force, computed with an 80-digit context (exact far below any minor unit). A direct rate wins over an
inverse one whatever their dates. X->X is 1. No rate either way: None (the caller lists the amount as unconverted,
never guesses).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.contracts.common import converting_rate

_IN_FORCE = text(
    "SELECT rate FROM fx_rates WHERE base = :base AND quote = :quote AND effective_on <= :on "
    "ORDER BY effective_on DESC, recorded_at DESC, event_id DESC LIMIT 1"
)


async def rate_in_force(session: AsyncSession | AsyncConnection, base: str, quote: str, on: date) -> Decimal | None:
    """1 ``base`` = this many ``quote`` on ``on`` (see the module docstring), or None without a rate either way."""
    if base == quote:
        return Decimal(1)
    direct = (await session.execute(_IN_FORCE, {"base": base, "quote": quote, "on": on})).scalar()
    if direct is not None:
        return converting_rate(Decimal(direct), None)
    inverse = (await session.execute(_IN_FORCE, {"base": quote, "quote": base, "on": on})).scalar()
    return converting_rate(None, None if inverse is None else Decimal(inverse))
