"""Contract parts every producing service uses the same way: the dated exchange rate a cost, commitment or funding
tranche was booked at, and an amount phased by calendar month.

Currency rule (one for every event): an amount is given in the currency it was entered in (an invoice in the
supplier's, a work sheet in its rate's, an expense in the receipt's). When that is not the project's currency the
event also carries ``booked``: the amount in the project's currency, converted once by the producing service at the
exchange rate in force on the event's business date (``exchange-rate-recorded`` on ``pmo.budget.v1``), with the rate,
its date and its source, rounded half-even to the project currency's minor unit (:meth:`Booking.of`). Reports add
booked amounts; they never convert again and never drop an amount: an amount in another currency without a booking
is listed apart as unconverted.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.money import DecimalStr, Money, quantize

RATE_CONTEXT = Context(prec=80, rounding=ROUND_HALF_EVEN)
"""The context an inverse rate is divided in: 80 significant digits, the width of the system's rounding context."""


def converting_rate(direct: Decimal | None, reverse: Decimal | None) -> Decimal | None:
    """The one rule choosing the rate that converts currency X into P on a day: ``direct``, the X->P rate in force
    that day (the latest recorded with ``effective_on`` on or before it), whatever its date, when there is one; else
    ``1 / reverse`` (``reverse``: the P->X rate in force that day) divided in :data:`RATE_CONTEXT`, exact to 80
    significant digits; None without either (the amount cannot be booked). Every service that books an amount, and
    reporting's roll-up, use it."""
    if direct is not None:
        return direct
    if reverse is not None and reverse != 0:
        return RATE_CONTEXT.divide(Decimal(1), reverse)
    return None


_EXACT = Context(prec=80)
"""Wide enough that a bounded amount times a rate of up to 40 digits is exact (an inverse rate of 80 digits is
rounded once more, at its 80th digit, far below any minor unit)."""


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Booking(_Part):
    """An amount entered in another currency, booked in the project's at a dated rate:
    ``amount = round(original x rate, project currency)``; 1 unit of ``original``'s currency = ``rate`` units of
    ``amount``'s."""

    amount: Money
    original: Money
    rate: DecimalStr = Field(gt=0)
    rate_on: date
    source: str

    @classmethod
    def of(cls, original: Money, currency: str, rate: Decimal, rate_on: date, source: str) -> Booking:
        """Convert ``original`` into ``currency`` at ``rate`` (the one conversion rule; rounded once here)."""
        exact = _EXACT.multiply(original.amount, rate)  # the default 28 digits would round before quantize does
        booked = Money(amount=quantize(exact, currency), currency=currency)
        return cls(amount=booked, original=original, rate=rate, rate_on=rate_on, source=source)


class MonthAmount(_Part):
    """An amount for one calendar month (``YYYY-MM``)."""

    month: str
    amount: Money

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        if len(value) != 7 or value[4] != "-" or not (value[:4].isdigit() and value[5:].isdigit()):
            raise ValueError("month must be YYYY-MM")
        if not 1 <= int(value[5:]) <= 12:
            raise ValueError("month must be YYYY-MM with a month 01-12")
        return value
