"""Amounts in another currency than the project's: which rate converts them, and the booking they get.

The rule (one for the service): an amount in currency X on a project in currency P is booked at the X->P rate in
force on the amount's business date (the latest recorded with ``effective_on`` on or before it). When no X->P rate
is in force that day but a P->X one is, the amount is booked at ``1 / rate`` of that one, divided in ``Decimal``
with an 80-digit context (:data:`INVERSE_CONTEXT`), so the rate recorded on the event is the exact quotient to 80
significant digits and nothing but the booking itself is rounded. A direct rate in force always wins over an
inverse one, even an older one. :meth:`shared.contracts.common.Booking.of` multiplies and rounds, once, half-even
to P's minor unit. Without any rate in force the command is refused (422 naming the amount's currency field) and
nothing is appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.contracts.common import RATE_CONTEXT, Booking, converting_rate
from shared.errors import InvalidCommandError
from shared.limits import max_amount
from shared.money import Money

INVERSE_CONTEXT = RATE_CONTEXT


@dataclass(frozen=True)
class RecordedRate:
    """A rate as recorded: from ``effective_on`` on, 1 ``base`` = ``rate`` ``quote``."""

    base: str
    quote: str
    rate: Decimal
    effective_on: date
    source: str


@dataclass(frozen=True)
class RateInForce:
    """The rate that converts ``base`` into ``quote`` on a day: a recorded one, or the inverse of the recorded
    ``quote``->``base`` rate (``inverse_of``, whose ``rate`` it inverts)."""

    base: str
    quote: str
    rate: Decimal
    effective_on: date
    source: str
    inverse_of: RecordedRate | None = None


def in_force(base: str, quote: str, direct: RecordedRate | None, reverse: RecordedRate | None) -> RateInForce | None:
    """The rate converting ``base`` into ``quote``, given the ``base``->``quote`` rate in force (``direct``) and the
    ``quote``->``base`` one (``reverse``) on the same day, either possibly None: ``direct`` when there is one, else
    ``1 / reverse.rate`` (:data:`INVERSE_CONTEXT`), else None."""
    rate = converting_rate(direct.rate if direct is not None else None, reverse.rate if reverse is not None else None)
    if rate is None:
        return None
    if direct is not None:
        return RateInForce(base, quote, rate, direct.effective_on, direct.source)
    assert reverse is not None
    return RateInForce(base, quote, rate, reverse.effective_on, reverse.source, inverse_of=reverse)


@dataclass(frozen=True)
class Converted:
    """An amount as a command gave it, and what the budget counts: the amount itself in the project's currency, or
    its booking's amount."""

    original: Money
    booking: Booking | None

    @property
    def booked(self) -> Money:
        return self.booking.amount if self.booking is not None else self.original


def book(amount: Money, currency: str, rate: RateInForce | None, on: date | None, field: str) -> Converted:
    """``amount`` (the command's field ``field``) counted in ``currency`` on ``on``: as it is when it is in
    ``currency``, else booked at ``rate`` (the rate :func:`in_force` on ``on``); refused when there is none (or no
    day to look it up on)."""
    if amount.currency == currency:
        return Converted(amount, None)
    if rate is None or on is None:
        day = on.isoformat() if on is not None else "the day it is booked"
        raise InvalidCommandError(
            f"no {amount.currency}->{currency} rate in force on {day} (nor a {currency}->"
            f"{amount.currency} one to invert): record one with PUT /exchange-rates/{amount.currency}/{currency}/"
            "<effective_on>",
            field=f"{field}.currency",
        )
    if (rate.base, rate.quote) != (amount.currency, currency) or rate.effective_on > on:
        raise InvalidCommandError(
            f"the {rate.base}->{rate.quote} rate of {rate.effective_on} does not convert {amount.currency} into "
            f"{currency} on {on.isoformat()}",
            field=f"{field}.currency",
        )
    bound = max_amount(currency)
    if abs(amount.amount) * rate.rate > bound:
        raise InvalidCommandError(
            f"{amount} is more than {bound:,} {currency} at {rate.rate} {currency} per {amount.currency}",
            field=f"{field}.amount",
        )
    return Converted(amount, Booking.of(amount, currency, rate.rate, rate.effective_on, rate.source))
