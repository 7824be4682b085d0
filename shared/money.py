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
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

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

_PLAIN_DECIMAL_PATTERN = r"^-?[0-9]{1,40}(\.[0-9]{1,40})?$"
"""An exact number written as text: ASCII digits, an optional leading minus and point; no plus sign (the documented
pattern, :func:`amount_pattern`, has none), exponent, separator or space."""
_PLAIN_DECIMAL = re.compile(_PLAIN_DECIMAL_PATTERN, re.ASCII)

_NOT_A_FLOAT = "give exact numbers as a string or an integer, not a float"
_NOT_PLAIN = 'must be a number in plain decimal notation, e.g. "1250.50" (no exponent or separators)'
_NOT_FINITE = "must be a finite number"
_TOO_LARGE = f"must be below {LARGEST:.0E} in absolute value"


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
        raise ValueError(_NOT_A_FLOAT)
    if isinstance(value, str):
        if not _PLAIN_DECIMAL.match(value):
            raise ValueError(_NOT_PLAIN)
        value = Decimal(value)
    elif isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(_NOT_FINITE)
        if abs(value) >= LARGEST:
            raise ValueError(_TOO_LARGE)
    return value


def _refusal(schema: CoreSchema, kind: str, message: str) -> CoreSchema:
    """``schema`` whose every failure is one error of type ``kind`` saying ``message`` as a Python validator's
    ``ValueError`` would (``Value error, ...``), so the refusals read as they did when Python code checked them."""
    return cs.custom_error_schema(schema, custom_error_type=kind, custom_error_message=f"Value error, {message}")


class _ExactAmount:
    """The core schema of :class:`Money`'s amount: what :func:`_no_float_input` checks, with its messages, checked by
    pydantic-core (no Python call per amount: a work sheet carries a dozen of them, and reading them through Python
    validators was a quarter of the reporting consumers' CPU). In four steps, each refusing one thing: the input's
    type (an integer, a string, or, from Python, a ``Decimal``: a float or a boolean is refused), a string's
    notation (:data:`_PLAIN_DECIMAL_PATTERN`), a finite value, the bound (:data:`LARGEST`)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        decimal = cs.is_instance_schema(Decimal)
        text = cs.str_schema(strict=True)
        integer = cs.int_schema(strict=True)
        return cs.chain_schema(
            [
                _refusal(cs.union_schema([integer, text, decimal]), "exact_number", _NOT_A_FLOAT),
                _refusal(
                    cs.union_schema([integer, decimal, cs.str_schema(strict=True, pattern=_PLAIN_DECIMAL_PATTERN)]),
                    "plain_decimal",
                    _NOT_PLAIN,
                ),
                _refusal(cs.decimal_schema(allow_inf_nan=False), "finite_amount", _NOT_FINITE),
                _refusal(cs.decimal_schema(gt=-LARGEST, lt=LARGEST), "amount_bound", _TOO_LARGE),
            ],
            serialization=cs.plain_serializer_function_ser_schema(_decimal_str, return_schema=cs.str_schema()),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """As a ``Decimal`` written as a string would be documented (:func:`shared.web._decimal` states the input as an
        integer or a plain decimal string; :class:`Money` states the per-currency groups)."""
        return handler(cs.decimal_schema() if handler.mode == "validation" else cs.str_schema())


ExactAmount = Annotated[Decimal, _ExactAmount]
"""A Decimal read by pydantic-core from an integer or a plain decimal string, finite and below :data:`LARGEST` (a
float, an exponent, a separator or a sign other than a leading minus refused, naming the field), written as an
exact string."""


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
    return f"^-?([0-9]{{1,{digits}}}{fraction}|1{'0' * digits}{zeros})$"


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

    amount: ExactAmount
    currency: str

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if value not in MINOR_UNITS:
            minor_unit(value)  # raises, naming the code
        return value

    @model_validator(mode="after")
    def _within_minor_unit(self) -> Money:
        """The one check in Python: the amount's decimals against its currency's minor unit (the amount is finite:
        :class:`_ExactAmount`; the currency ISO 4217: its field validator)."""
        exponent = self.amount.as_tuple().exponent
        if -exponent > MINOR_UNITS[self.currency]:  # type: ignore[operator]  # finite: an int
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
