"""Exchange rates in the budget: which recorded rate converts an amount (direct, else the inverse; rounded once),
and the exchange-rate aggregate recording a pair's rate by date. Every expected figure computed by hand."""

from __future__ import annotations

from datetime import date
from decimal import Context, Decimal

import pytest

from budget import domain
from shared.contracts import budget as ev
from shared.errors import InvalidCommandError
from shared.money import Money
from tests.support.budget import (
    NOW,
    TODAY,
    rate_in_force,
    recorded_rate,
)
from tests.support.money import eur, usd

# --- which rate converts an amount ----------------------------------------------------------------------------


def test_a_recorded_rate_converts_its_pair_and_wins_over_an_inverse_one() -> None:
    direct = recorded_rate("USD", "EUR", "0.9215", date(2027, 2, 1))
    reverse = recorded_rate("EUR", "USD", "1.0843", date(2027, 2, 20))
    found = domain.in_force("USD", "EUR", direct, reverse)
    assert found is not None and found.rate == Decimal("0.9215") and found.inverse_of is None
    assert found.effective_on == date(2027, 2, 1) and found.source == "ECB"


def test_with_only_the_opposite_pair_recorded_the_rate_is_its_inverse_to_80_digits() -> None:
    reverse = recorded_rate("EUR", "USD", "1.0843", date(2027, 2, 20))
    found = domain.in_force("USD", "EUR", None, reverse)
    assert found is not None and found.inverse_of == reverse
    # 1 / 1.0843 = 0.922253988748501337268283685326939039011343724061606566448399889329521350179839 53...
    assert found.rate == Decimal("0.92225398874850133726828368532693903901134372406160656644839988932952135017983953")
    assert len(found.rate.as_tuple().digits) == 80
    assert found.rate == Context(prec=80).divide(Decimal(1), Decimal("1.0843"))
    assert domain.in_force("USD", "EUR", None, None) is None


def test_an_amount_in_another_currency_is_booked_rounded_once_half_even_to_the_projects_minor_unit() -> None:
    # 1,234.56 USD x 0.9215 = 1,137.647040 EUR -> 1,137.65
    converted = domain.book(usd("1234.56"), "EUR", rate_in_force("USD", "EUR", "0.9215", date(2027, 2, 1)), TODAY, "a")
    assert converted.booked == eur("1137.65") and converted.original == usd("1234.56")
    assert converted.booking is not None and converted.booking.rate_on == date(2027, 2, 1)
    # 0.05 USD x 50 = 2.5 JPY -> 2 (half to even), 0.03 USD x 50 = 1.5 JPY -> 2
    to_jpy = rate_in_force("USD", "JPY", "50", date(2027, 2, 1))
    assert domain.book(usd("0.05"), "JPY", to_jpy, TODAY, "a").booked == Money.of("2", "JPY")
    assert domain.book(usd("0.03"), "JPY", to_jpy, TODAY, "a").booked == Money.of("2", "JPY")
    # 1.00 EUR x 0.3335 = 0.3335 KWD -> 0.334 (three decimals, half to even)
    to_kwd = rate_in_force("EUR", "KWD", "0.3335", date(2027, 2, 1))
    assert domain.book(eur("1.00"), "KWD", to_kwd, TODAY, "a").booked == Money.of("0.334", "KWD")


def test_a_booking_is_multiplied_exactly_before_its_one_rounding() -> None:
    # 100,550,000,000,000.05 IDR x 0.999999999999 = 100,549,999,999,899.49999999999995 VND -> 100,549,999,999,899.
    # Multiplied in the default 28 digits it would read ...899.5000000000000 and round to even, ...900.
    to_vnd = rate_in_force("IDR", "VND", "0.999999999999", date(2027, 1, 1))
    converted = domain.book(Money.of("100550000000000.05", "IDR"), "VND", to_vnd, TODAY, "amount")
    assert converted.booked == Money.of("100549999999899", "VND")


def test_an_amount_in_the_projects_currency_is_not_booked() -> None:
    converted = domain.book(eur("10.00"), "EUR", None, TODAY, "amount")
    assert converted.booking is None and converted.booked == eur("10.00")


def test_without_a_rate_in_force_an_amount_in_another_currency_is_refused_naming_its_currency_field() -> None:
    with pytest.raises(InvalidCommandError, match=r"no USD->EUR rate in force on 2027-03-01") as error:
        domain.book(usd("10.00"), "EUR", None, TODAY, "amount")
    assert error.value.field == "amount.currency"


def test_a_rate_not_yet_in_force_or_of_another_pair_is_refused() -> None:
    with pytest.raises(InvalidCommandError) as error:
        domain.book(usd("10.00"), "EUR", rate_in_force("USD", "EUR", "0.92", date(2027, 4, 1)), TODAY, "amount")
    assert error.value.field == "amount.currency"
    with pytest.raises(InvalidCommandError):
        domain.book(usd("10.00"), "EUR", rate_in_force("GBP", "EUR", "1.17", date(2027, 1, 1)), TODAY, "amount")


def test_a_booking_past_the_project_currencys_amount_bound_is_refused_not_a_server_error() -> None:
    huge = rate_in_force("USD", "IDR", "999999999", date(2027, 1, 1))
    with pytest.raises(InvalidCommandError) as error:
        domain.book(usd("1000000000000.00"), "IDR", huge, TODAY, "amount")
    assert error.value.field == "amount.amount"


# --- the exchange-rate aggregate ------------------------------------------------------------------------------


def record(rate: str, source: str = "ECB reference rate", on: date = date(2027, 3, 1)) -> domain.RecordExchangeRate:
    return domain.RecordExchangeRate("EUR", "USD", on, Decimal(rate), source, "fiona.finance")


def fold(*events: ev.ExchangeRateRecorded) -> domain.ExchangeRatePair:
    state = domain.ExchangeRatePair()
    for event in events:
        state = domain.EXCHANGE_RATE.evolve(state, event)
    return state


def test_a_rate_is_recorded_for_its_pair_and_date_keyed_by_the_pair() -> None:
    (event,) = domain.EXCHANGE_RATE.decide(domain.ExchangeRatePair(), record("1.0843"), NOW)
    assert isinstance(event, ev.ExchangeRateRecorded)
    assert (event.base, event.quote, event.rate, event.replaces_rate) == ("EUR", "USD", Decimal("1.0843"), None)
    assert event.partition_key == "fx:EUR-USD" and domain.fx_stream("EUR", "USD") == "fx-EUR-USD"


def test_recording_the_same_date_again_replaces_the_rate_and_the_same_rate_again_changes_nothing() -> None:
    (first,) = domain.EXCHANGE_RATE.decide(domain.ExchangeRatePair(), record("1.0843"), NOW)
    state = fold(first)  # type: ignore[arg-type]
    (second,) = domain.EXCHANGE_RATE.decide(state, record("1.0850"), NOW)
    assert isinstance(second, ev.ExchangeRateRecorded) and second.replaces_rate == Decimal("1.0843")
    state = fold(first, second)  # type: ignore[arg-type]
    assert state.rates[date(2027, 3, 1)].rate == Decimal("1.0850")
    assert domain.EXCHANGE_RATE.decide(state, record("1.08500"), NOW) == []  # the same number, the same source
    (resourced,) = domain.EXCHANGE_RATE.decide(state, record("1.0850", source="Bank fixing"), NOW)
    assert isinstance(resourced, ev.ExchangeRateRecorded) and resourced.replaces_rate == Decimal("1.0850")
    other_day = domain.EXCHANGE_RATE.decide(state, record("1.0850", on=date(2027, 3, 2)), NOW)
    assert isinstance(other_day[0], ev.ExchangeRateRecorded) and other_day[0].replaces_rate is None


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (domain.RecordExchangeRate("EUR", "EUR", date(2027, 3, 1), Decimal("1"), "x", "f"), "quote"),
        (domain.RecordExchangeRate("EUR", "USD", date(2027, 3, 1), Decimal("0"), "x", "f"), "rate"),
        (domain.RecordExchangeRate("EUR", "USD", date(2027, 3, 1), Decimal("-1.2"), "x", "f"), "rate"),
        (domain.RecordExchangeRate("EUR", "XYZ", date(2027, 3, 1), Decimal("1.2"), "x", "f"), "quote"),
        (domain.RecordExchangeRate("EUR", "USD", date(2027, 3, 1), Decimal("1.2"), " ", "f"), "source"),
    ],
)
def test_a_bad_rate_is_refused_naming_the_field(command: domain.RecordExchangeRate, field: str) -> None:
    with pytest.raises(InvalidCommandError) as error:
        domain.EXCHANGE_RATE.decide(domain.ExchangeRatePair(), command, NOW)
    assert error.value.field == field
