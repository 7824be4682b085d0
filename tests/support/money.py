"""Amounts for tests: ``eur()`` and ``usd()`` as :class:`shared.money.Money`, ``money()`` as a request body's JSON."""

from __future__ import annotations

from shared.money import Money


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    """An amount as a request body carries it: the decimal string exactly as given, and its currency."""
    return {"amount": amount, "currency": currency}
