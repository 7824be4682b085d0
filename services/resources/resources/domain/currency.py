"""A work sheet's cost in the project's currency, when its rate is in another one.

Rule (accrual basis): the cost is booked when the sheet is approved, at the exchange rate in force on the approval
date (``approved_on``): the ``X->P`` rate (X the cost's currency, P the project's) recorded with the latest
``effective_on`` not after that date; when there is none, ``1 / rate`` of the ``P->X`` rate in force that day,
computed in the 80-digit context (the booking records that quotient, with the recorded rate's date and source, as
the budget service does). A direct rate in force wins over an inverse one, even an older one. No rate either way:
the approval is refused (422 naming ``currency``), nothing is appended. The conversion and its one rounding
(half-even to P's minor unit) are :meth:`shared.contracts.common.Booking.of`'s.
A reversal carries the booking of the version it reverses, so the amount that leaves the project's actual cost is
the amount that entered it.

Rates come from ``exchange-rate-recorded`` on ``pmo.budget.v1`` (the budget service owns them); the approval command
carries the rates in force on its date (:class:`ExchangeRate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.contracts.common import Booking, converting_rate
from shared.errors import InvalidCommandError
from shared.money import Money


@dataclass(frozen=True)
class ExchangeRate:
    """From ``effective_on`` on (until a later one of the same pair), 1 ``base`` = ``rate`` ``quote``."""

    base: str
    quote: str
    rate: Decimal
    effective_on: date
    source: str


class NoExchangeRateError(InvalidCommandError):
    """No rate between the cost's currency and the project's is in force on the booking date."""


def rate_in_force(rates: Sequence[ExchangeRate], base: str, quote: str, on: date) -> ExchangeRate | None:
    """The ``base->quote`` rate in force on ``on``: the one with the latest ``effective_on`` not after it."""
    in_force = [r for r in rates if r.base == base and r.quote == quote and r.effective_on <= on]
    return max(in_force, key=lambda r: r.effective_on, default=None)


def book(amount: Money, currency: str, rates: Sequence[ExchangeRate], on: date) -> Booking | None:
    """``amount`` booked in ``currency`` at the rate in force on ``on`` (``None`` when it is already in it), or
    :class:`NoExchangeRateError` naming ``currency``."""
    if amount.currency == currency:
        return None
    direct = rate_in_force(rates, amount.currency, currency, on)
    inverse = rate_in_force(rates, currency, amount.currency, on)
    rate = converting_rate(direct.rate if direct is not None else None, inverse.rate if inverse is not None else None)
    used = direct if direct is not None else inverse
    if rate is not None and used is not None:
        return Booking.of(amount, currency, rate, used.effective_on, used.source)
    raise NoExchangeRateError(
        f"no {amount.currency}->{currency} exchange rate (nor {currency}->{amount.currency}) in force on {on}: the "
        f"cost in {amount.currency} cannot be booked in the project's currency {currency}; record a rate effective "
        "on or before that day (budget service, PUT /exchange-rates/...)",
        field="currency",
    )
