"""Money: exact decimals with a currency, one rounding rule."""

import re
from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.money import Money, _no_float_input, amount_pattern, minor_unit, quantize


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


@pytest.mark.parametrize("amount", ["+1", "+0.50", "+1250.50"])
def test_a_leading_plus_is_refused_naming_the_amount_as_the_documented_pattern_does(amount: str) -> None:
    """The document's pattern (``amount_pattern``) has no plus sign; the code refuses it too, naming the field."""
    with pytest.raises(ValidationError) as refused:
        Money.model_validate_json(f'{{"amount": "{amount}", "currency": "EUR"}}')
    plain = 'Value error, must be a number in plain decimal notation, e.g. "1250.50" (no exponent or separators)'
    assert [(e["loc"], e["msg"]) for e in refused.value.errors()] == [(("amount",), plain)]
    assert not re.search(amount_pattern(2, Decimal(10) ** 12), amount)
    assert Money.of(amount.removeprefix("+"), "EUR").amount == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0.1, "not a float"),
        (True, "not a float"),
        ("1e3", "plain decimal notation"),
        ("1_000", "plain decimal notation"),
        (" 12", "plain decimal notation"),
        ("NaN", "plain decimal notation"),
        (Decimal("NaN"), "finite number"),
        (Decimal("-Infinity"), "finite number"),
        ("1" + "0" * 24, "below 1E+24"),
        (-(10**24), "below 1E+24"),
    ],
)
def test_amounts_are_refused_by_pydantic_core_with_the_python_validators_messages(amount: object, message: str) -> None:
    """Money's amount is checked by pydantic-core (no Python call per amount) with the messages of
    ``_no_float_input``, which ``ExactDecimal`` still uses: both refuse the same inputs, saying the same."""
    with pytest.raises(ValidationError) as refused:
        Money.model_validate({"amount": amount, "currency": "EUR"})
    [error] = refused.value.errors()
    assert error["loc"] == ("amount",) and message in error["msg"]
    with pytest.raises(ValueError, match=re.escape(message)):
        _no_float_input(amount)


def test_amounts_accepted_from_json_and_python_are_exact_decimals() -> None:
    assert Money.model_validate_json('{"amount": "-0.01", "currency": "EUR"}').amount == Decimal("-0.01")
    assert Money.model_validate_json('{"amount": 7, "currency": "JPY"}').amount == Decimal(7)
    assert Money(amount=Decimal("10.555"), currency="KWD").model_dump(mode="json") == {
        "amount": "10.555",
        "currency": "KWD",
    }
