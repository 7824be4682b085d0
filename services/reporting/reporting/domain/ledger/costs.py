"""How an amount counts in a project's books: the amount and currency it is booked in, the label of one left
unconverted, a commitment's terms in the project's currency, a work sheet's cost category."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from shared.contracts import resources as r
from shared.contracts.common import Booking
from shared.money import Money


def effective(amount: Money, booked: Booking | None) -> tuple[Decimal, str]:
    """The amount reports add and its currency: the booking when the event has one, else the amount as entered."""
    if booked is not None:
        return booked.amount.amount, booked.amount.currency
    return amount.amount, amount.currency


def unconverted_label(what: str, value: Decimal, currency: str, project_currency: str) -> str:
    return f"{what}: {format(value, 'f')} {currency} without a booking in {project_currency}, not counted"


def sheet_category(kind: r.ResourceKind) -> str:
    return "subcontracting" if kind is r.ResourceKind.SUBCONTRACTOR else "labour"


def booked_terms(
    amount: Decimal, expected: Sequence[tuple[date, Decimal]], booked: Decimal | None
) -> tuple[Decimal, list[tuple[date, Decimal]]]:
    """A commitment's amount and expected invoices in the project's currency: as entered, or its booked amount and
    the expected invoices pro rata of the booking (``x x booked / amount``)."""
    if booked is None:
        return amount, list(expected)
    if not amount:
        return booked, list(expected)
    return booked, [(on, x * booked / amount) for on, x in expected]
