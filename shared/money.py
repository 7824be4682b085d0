"""Money: a ``Decimal`` amount with an ISO 4217 currency, never a float.

Rounding rule (one for the whole system): half-even to the currency's minor unit, applied at the edges
(when an amount is accepted from outside and when a computed figure is reported). Amounts that carry more
decimals than the currency allows are rejected on input rather than silently rounded.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    PlainSerializer,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from shared.limits import max_amount

# ISO 4217 active codes with their minor units (exponent). Codes absent here are rejected.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        [
            "AED",
            "AFN",
            "ALL",
            "AMD",
            "AOA",
            "ARS",
            "AUD",
            "AWG",
            "AZN",
            "BAM",
            "BBD",
            "BDT",
            "BGN",
            "BMD",
            "BND",
            "BOB",
            "BRL",
            "BSD",
            "BTN",
            "BWP",
            "BYN",
            "BZD",
            "CAD",
            "CDF",
            "CHF",
            "CNY",
            "COP",
            "CRC",
            "CUP",
            "CVE",
            "CZK",
            "DKK",
            "DOP",
            "DZD",
            "EGP",
            "ERN",
            "ETB",
            "EUR",
            "FJD",
            "FKP",
            "GBP",
            "GEL",
            "GHS",
            "GIP",
            "GMD",
            "GTQ",
            "GYD",
            "HKD",
            "HNL",
            "HTG",
            "HUF",
            "IDR",
            "ILS",
            "INR",
            "IRR",
            "KES",
            "KGS",
            "KHR",
            "KPW",
            "KYD",
            "KZT",
            "LAK",
            "LBP",
            "LKR",
            "LRD",
            "LSL",
            "MAD",
            "MDL",
            "MGA",
            "MKD",
            "MMK",
            "MNT",
            "MOP",
            "MRU",
            "MUR",
            "MVR",
            "MWK",
            "MXN",
            "MYR",
            "MZN",
            "NAD",
            "NGN",
            "NIO",
            "NOK",
            "NPR",
            "NZD",
            "PAB",
            "PEN",
            "PGK",
            "PHP",
            "PKR",
            "PLN",
            "QAR",
            "RON",
            "RSD",
            "RUB",
            "SAR",
            "SBD",
            "SCR",
            "SDG",
            "SEK",
            "SGD",
            "SHP",
            "SLE",
            "SOS",
            "SRD",
            "SSP",
            "STN",
            "SVC",
            "SYP",
            "SZL",
            "THB",
            "TJS",
            "TMT",
            "TOP",
            "TRY",
            "TTD",
            "TWD",
            "TZS",
            "UAH",
            "USD",
            "UYU",
            "UZS",
            "VES",
            "WST",
            "XCD",
            "YER",
            "ZAR",
            "ZMW",
            "ZWG",
        ],
        2,
    ),
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


def minor_unit(currency: str) -> int:
    """Number of decimals of ``currency``; raises ``ValueError`` for a code that is not ISO 4217."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"{currency!a} is not an ISO 4217 currency code") from None


_ROUNDING = Context(prec=80, rounding=ROUND_HALF_EVEN)
"""Wide enough that quantizing any figure a report computes from bounded amounts (even a cost-performance index
near zero) is exact, where the default 28 digits would raise ``InvalidOperation``."""

LARGEST = Decimal(10) ** 24
"""What any amount or exact number the system holds stays below in absolute value: far above every input bound
(:mod:`shared.limits`) and the sums of them, well inside what :data:`_ROUNDING` computes exactly."""

_PLAIN_DECIMAL = re.compile(r"^[+-]?[0-9]{1,40}(\.[0-9]{1,40})?$", re.ASCII)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-even to the minor unit of ``currency`` (the system's one rounding rule)."""
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), context=_ROUNDING)


def _decimal_str(value: Decimal) -> str:
    return format(value, "f")


def _no_float_input(value: Any) -> Any:
    """An exact number from outside: an integer, or a string in plain decimal notation (ASCII digits, an optional
    sign and point: no exponent, underscores, spaces or other digits); never a float. Internal ``Decimal`` values
    pass if finite. Everything stays below :data:`LARGEST`."""
    if isinstance(value, (bool, float)):
        raise ValueError("give exact numbers as a string or an integer, not a float")
    if isinstance(value, str):
        if not _PLAIN_DECIMAL.match(value):
            raise ValueError('must be a number in plain decimal notation, e.g. "1250.50" (no exponent or separators)')
        value = Decimal(value)
    elif isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("must be a finite number")
        if abs(value) >= LARGEST:
            raise ValueError(f"must be below {LARGEST:.0E} in absolute value")
    return value


DecimalStr = Annotated[Decimal, PlainSerializer(_decimal_str, return_type=str, when_used="always")]
"""A Decimal that serialises to JSON as an exact string (``"1250.50"``), never a float."""

ExactDecimal = Annotated[
    Decimal,
    BeforeValidator(_no_float_input),
    PlainSerializer(_decimal_str, return_type=str, when_used="always"),
]
"""A Decimal accepted only from a string or an integer (a float is refused), serialised as a string."""


def amount_pattern(decimals: int, bound: Decimal) -> str:
    """The plain decimal strings of at most ``decimals`` decimals and at most ``bound`` (a power of ten) in absolute
    value, as a JSON Schema pattern (what :class:`Money` and a request's bound accept, written as text)."""
    digits = len(str(int(bound))) - 1
    fraction = f"(\\.[0-9]{{1,{decimals}}})?" if decimals else ""
    zeros = f"(\\.0{{1,{decimals}}})?" if decimals else ""
    return f"^[+-]?([0-9]{{1,{digits}}}{fraction}|1{'0' * digits}{zeros})$"


def amount_schemas() -> list[dict[str, Any]]:
    """One JSON Schema per group of currencies with the same minor unit and bound: the currencies, and the amount
    as an integer within the bound or a plain decimal string with at most the minor unit's decimals."""
    groups: dict[tuple[int, Decimal], list[str]] = {}
    for code, decimals in sorted(MINOR_UNITS.items()):
        groups.setdefault((decimals, max_amount(code)), []).append(code)
    return [
        {
            "properties": {
                "currency": {"enum": codes},
                "amount": {
                    "anyOf": [
                        {"type": "integer", "minimum": -int(bound), "maximum": int(bound)},
                        {"type": "string", "pattern": amount_pattern(decimals, bound)},
                    ]
                },
            }
        }
        for (decimals, bound), codes in sorted(groups.items())
    ]


class Money(BaseModel):
    """An exact amount in one currency. JSON: ``{"amount": "1250.50", "currency": "EUR"}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: DecimalStr
    currency: str

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        minor_unit(value)
        return value

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        return _no_float_input(value)

    @model_validator(mode="after")
    def _within_minor_unit(self) -> Money:
        exponent = self.amount.as_tuple().exponent
        if not isinstance(exponent, int):  # "n", "N" or "F": NaN, signalling NaN, infinity
            raise ValueError("amount must be a finite number")
        if -exponent > MINOR_UNITS[self.currency]:  # the currency is ISO 4217: checked by its field validator
            raise ValueError(f"amount has more decimals than {self.currency} allows ({minor_unit(self.currency)})")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """As input, the document states what a request accepts: per group of currencies, the amount's decimals
        (the minor unit) and its bound (:func:`shared.limits.max_amount`), as an integer or a plain decimal string."""
        schema = handler(core_schema)
        if handler.mode == "validation":
            handler.resolve_ref_schema(schema)["anyOf"] = amount_schemas()
        return schema

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Build from a string (plain decimal notation), int or Decimal (never a float)."""
        try:
            return cls(amount=amount, currency=currency)  # validated into a Decimal
        except InvalidOperation as exc:
            raise ValueError(f"{amount!a} is not a number") from exc

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=quantize(Decimal(0), currency), currency=currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __str__(self) -> str:
        return f"{_decimal_str(self.amount)} {self.currency}"
