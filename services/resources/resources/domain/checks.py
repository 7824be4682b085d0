"""The small checks every command of the resources domain shares: hours, dates, blank text, rates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shared.errors import InvalidCommandError
from shared.money import Money

MAX_DAY_HOURS = Decimal(24)
MAX_WEEK_HOURS = Decimal(168)
MAX_TRAINING_HOURS = Decimal(1000)
HOURS_DECIMALS = 2


def check_hours(value: Decimal, name: str, maximum: Decimal | None, *, positive: bool = False) -> None:
    """``value`` is a finite, non-negative number of hours (more than zero when ``positive``), at most ``maximum``,
    with at most :data:`HOURS_DECIMALS` decimals; otherwise :class:`InvalidCommandError` naming ``name``."""
    if not value.is_finite():
        raise InvalidCommandError(f"{name} must be a number", field=name)
    if value < 0:
        raise InvalidCommandError(f"{name} must not be negative", field=name)
    if positive and value == 0:
        raise InvalidCommandError(f"{name} must be more than zero", field=name)
    if maximum is not None and value > maximum:
        raise InvalidCommandError(f"{name} must not exceed {maximum} hours", field=name)
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # unreachable: finite, checked above
        raise InvalidCommandError(f"{name} must be a number", field=name)
    if -exponent > HOURS_DECIMALS:
        raise InvalidCommandError(f"{name} has at most {HOURS_DECIMALS} decimals", field=name)


def rate_in(rate: Money, currency: str, name: str) -> None:
    """An hourly rate is in ``currency`` and not negative."""
    if rate.currency != currency:
        raise InvalidCommandError(f"{name} must be in the resource's currency {currency}", field=f"{name}.currency")
    if rate.amount < 0:
        raise InvalidCommandError(f"{name} must not be negative", field=f"{name}.amount")


def not_future(day: date, today: date, name: str) -> None:
    if day > today:
        raise InvalidCommandError(f"{name} {day} is in the future", field=name)


def not_blank(value: str, name: str) -> None:
    if not value.strip():
        raise InvalidCommandError(f"{name} must not be blank", field=name)
