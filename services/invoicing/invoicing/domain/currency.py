"""Amounts in another currency than the project's: the rate in force on a day and the booking it gives.

Rule (the one of ``shared.contracts.common``): an amount in currency X on a project in currency P is booked at the
X->P rate in force on the amount's business date (the latest ``exchange-rate-recorded`` with ``effective_on`` on or
before it); when only P->X is recorded, at 1/rate, computed in Decimal with an 80-digit context (the quotient is
exact to 80 significant digits, far beyond any minor unit). The X->P rate wins over the inverse of P->X, whatever
their dates. Conversion and rounding happen only in :meth:`shared.contracts.common.Booking.of` (half-even to P's
minor unit, once). No rate in force: the command is refused, naming the currency field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.contracts.common import Booking, converting_rate
from shared.errors import InvalidCommandError
from shared.money import Money


@dataclass(frozen=True)
class RecordedRate:
    """One ``exchange-rate-recorded``: from ``effective_on`` on, 1 ``base`` = ``rate`` ``quote``."""

    base: str
    quote: str
    rate: Decimal
    effective_on: date
    source: str


@dataclass(frozen=True)
class ExchangeRate:
    """The rate converting ``base`` into ``quote`` on a day: 1 ``base`` = ``rate`` ``quote``, from the rate recorded
    for ``rate_on`` (``source`` says which, and whether it is an inverse)."""

    base: str
    quote: str
    rate: Decimal
    rate_on: date
    source: str


def in_force(base: str, quote: str, direct: RecordedRate | None, inverse: RecordedRate | None) -> ExchangeRate | None:
    """The ``base``->``quote`` rate from the direct one in force, else from the inverse one (``quote``->``base``,
    1/rate); None when neither is recorded for the day."""
    rate = converting_rate(direct.rate if direct is not None else None, inverse.rate if inverse is not None else None)
    if rate is None:
        return None
    if direct is not None:
        return ExchangeRate(base, quote, rate, direct.effective_on, direct.source)
    assert inverse is not None
    source = f"1/{format(inverse.rate, 'f')} ({quote}->{base}, {inverse.source})"
    return ExchangeRate(base, quote, rate, inverse.effective_on, source)


def book(amount: Money, currency: str | None, rate: ExchangeRate | None, on: date, field: str) -> Booking | None:
    """``amount`` booked in ``currency`` (the project's) at ``rate``; None when it is already in that currency or the
    project's currency is not known. Refused (:class:`InvalidCommandError` on ``field``) when no rate is in force."""
    if currency is None or amount.currency == currency:
        return None
    if rate is None or rate.base != amount.currency or rate.quote != currency:
        raise InvalidCommandError(
            f"no {amount.currency}->{currency} rate in force on {on.isoformat()} (nor a {currency}->"
            f"{amount.currency} one to invert): record one (PUT /exchange-rates/{amount.currency}/{currency}/...) "
            "on the budget service first",
            field=field,
        )
    return Booking.of(amount, currency, rate.rate, rate.rate_on, rate.source)


def rebook(amount: Money, booking: Booking) -> Money:
    """``amount`` (in the booking's original currency) converted at the same rate as ``booking``."""
    return Booking.of(amount, booking.amount.currency, booking.rate, booking.rate_on, booking.source).amount
