"""Money: exact decimals with a currency, one rounding rule."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.money import Money, minor_unit, quantize


def test_amounts_serialise_as_exact_strings() -> None:
    assert Money.of("1250.50", "EUR").model_dump(mode="json") == {"amount": "1250.50", "currency": "EUR"}
    assert Money.of("0.10", "EUR") + Money.of("0.20", "EUR") == Money.of("0.30", "EUR")


def test_floats_are_refused() -> None:
    with pytest.raises(ValidationError, match="not a float"):
        Money.model_validate({"amount": 0.1, "currency": "EUR"})


def test_more_decimals_than_the_currency_allows_is_refused() -> None:
    with pytest.raises(ValidationError, match="more decimals than JPY"):
        Money.of("10.5", "JPY")
    assert Money.of("10.555", "KWD").amount == Decimal("10.555")


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(ValidationError, match="ISO 4217"):
        Money.of("1", "XYZ")
    with pytest.raises(ValueError):
        minor_unit("eur")


def test_a_currency_with_a_lone_surrogate_is_a_validation_error_not_a_crash() -> None:
    """The message names the code escaped: echoing a lone surrogate made pydantic fail to encode it (a 500)."""
    with pytest.raises(ValidationError, match=r"'\\ud800' is not an ISO 4217 currency code"):
        Money.model_validate({"amount": "1", "currency": "\ud800"})


def test_mixing_currencies_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        Money.of("1", "EUR") + Money.of("1", "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "EUR", "2.34"),
        ("2.355", "EUR", "2.36"),
        ("-2.345", "EUR", "-2.34"),
        ("2.5", "JPY", "2"),
        ("3.5", "JPY", "4"),
    ],
)
def test_rounding_is_half_even_to_the_minor_unit(amount: str, currency: str, expected: str) -> None:
    assert quantize(Decimal(amount), currency) == Decimal(expected)
