"""How the reporting service shows an amount: the one place every report section rounds money.

The system's rounding rule (:func:`shared.money.quantize`): half-even to the currency's minor unit (EUR 2 decimals,
JPY 0, KWD 3), applied once, when a figure leaves the service; computations keep full precision until then. Every
amount a report, a CSV export, an explanation, an alert's evidence or the dashboard shows goes through :func:`shown`;
ratios go through :func:`shown_ratio` (4 decimals).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from shared.money import quantize

RATIO = Decimal("0.0001")


def shown(amount: Decimal, currency: str) -> str:
    """``amount`` rounded half-even to ``currency``'s minor unit, as a plain decimal string (``"1200000"`` in JPY,
    ``"12.345"`` in KWD); ``ValueError`` for a code that is not ISO 4217."""
    return format(quantize(amount, currency), "f")


def shown_or_none(amount: Decimal | None, currency: str) -> str | None:
    """:func:`shown`, or ``None`` for an undefined amount."""
    return None if amount is None else shown(amount, currency)


def shown_ratio(value: Decimal) -> str:
    """A ratio (CPI, SPI, a share) rounded half-even to 4 decimals."""
    return format(value.quantize(RATIO, rounding=ROUND_HALF_EVEN), "f")
