"""Checks every value of a request against :mod:`shared.limits`, so no service writes a bound twice.

* :class:`RequestBody` is the base of every request body: it refuses unknown fields, trims strings, and checks
  each of its values however deeply nested (text without control characters, dates in the business range,
  amounts within their currency's bound, lists not longer than :data:`~shared.limits.MAX_LIST`), naming the
  field of each violation (``lines.3.description``).
* :data:`Day` is a business date for query parameters; :func:`iso_week` parses ``2027-W05`` within the range.
  Dates are only ever read from ``YYYY-MM-DD`` (in a query, a path or a body): pydantic would read ``0`` as
  1970-01-01. :data:`Whole` is an integer query parameter written in decimal digits only (not ``1.0`` or ``1_000``).
* :func:`refuse_control_characters` is the one definition of text the system will not store;
  :data:`REFUSED_CHARACTERS` and :data:`WHITESPACE` are the same sets as regular expression classes, for the OpenAPI
  documents (:mod:`shared.openapi`), which state every bound these checks keep.
* :data:`CurrencyCode` is an ISO 4217 code as a request field (documented as the list of codes).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, PydanticKnownError

from shared.limits import MAX_DATE, MAX_LIST, MIN_DATE, max_amount
from shared.money import MINOR_UNITS, Money, minor_unit

_ALLOWED_CONTROLS = frozenset("\t\n\r")


def forbidden_character(text: str) -> str | None:
    """The first character of ``text`` the system will not store, described, or ``None``: control characters
    (NUL, escape, ...) except tab and line breaks, lone surrogates, and bidirectional overrides (which make text
    read differently from what it is)."""
    for char in text:
        code = ord(char)
        if (code < 0x20 and char not in _ALLOWED_CONTROLS) or 0x7F <= code <= 0x9F:
            return f"control character U+{code:04X}"
        if 0xD800 <= code <= 0xDFFF:
            return f"lone surrogate U+{code:04X}"
        if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
            return f"bidirectional override U+{code:04X}"
    return None


def _character_class(codes: list[int]) -> str:
    """The code points ``codes`` (sorted) as the inside of a regular expression class, in ranges (``\\x00-\\x08``)."""
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))

    def one(code: int) -> str:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return "".join(one(a) if a == b else f"{one(a)}-{one(b)}" for a, b in ranges)


REFUSED_CHARACTERS = _character_class(
    [c for c in range(0x10000) if forbidden_character(chr(c)) and not 0xD800 <= c <= 0xDFFF]
)
"""The characters :func:`forbidden_character` refuses, as the inside of a regular expression class (lone surrogates,
which JSON Schema cannot write, left out: they are refused all the same)."""
WHITESPACE = _character_class([c for c in range(0x10000) if chr(c).isspace()])
"""What a request body's text is trimmed of (``str.strip``: ``str.isspace``), as the inside of a class."""


def refuse_control_characters(text: str) -> str:
    """``text`` unchanged, or :class:`ValueError` naming the first character refused by :func:`forbidden_character`."""
    found = forbidden_character(text)
    if found:
        raise ValueError(f"must not contain a {found}")
    return text


def in_date_range(day: date) -> date:
    """``day`` unchanged, or :class:`ValueError` outside :data:`~shared.limits.MIN_DATE` .. ``MAX_DATE``."""
    plain = day.date() if isinstance(day, datetime) else day
    if not MIN_DATE <= plain <= MAX_DATE:
        raise ValueError(f"must lie between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}")
    return day


_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ISO_INSTANT = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
assert (date(1900, 1, 1), date(2199, 12, 31)) == (MIN_DATE, MAX_DATE), "the patterns below state these years"
_YEAR_MONTH_DAY = "(19[0-9]{2}|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
DATE_PATTERN = f"^{_YEAR_MONTH_DAY}$"
"""A ``YYYY-MM-DD`` within :data:`~shared.limits.MIN_DATE` .. ``MAX_DATE`` (1900 to 2199), as documented."""
_HOUR_MINUTE = "([01][0-9]|2[0-3]):[0-5][0-9]"
INSTANT_PATTERN = f"^{_YEAR_MONTH_DAY}T{_HOUR_MINUTE}:[0-5][0-9](\\.[0-9]{{1,6}})?(Z|[+-]{_HOUR_MINUTE})$"
"""An ISO 8601 timestamp :func:`known_at_instant` takes, as documented (RFC 3339, a year in the business range, at
most microseconds); it also takes a space for ``T``, no seconds or no offset, which the document leaves out."""


def iso_date_only(value: Any) -> Any:
    """A date given as text must be ``YYYY-MM-DD`` (a number such as ``0`` is not read as 1970-01-01)."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    if isinstance(value, (int, float)):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(iso_date_only), AfterValidator(in_date_range)]
"""A business date within the documented range, written ``YYYY-MM-DD`` (for query parameters; request bodies check
theirs anyway)."""


_WHOLE = re.compile(r"^-?[0-9]{1,18}$")


def decimal_digits_only(value: Any) -> Any:
    """An integer given as text must be written in decimal digits (``1.0``, ``+1``, `` 1`` and ``1_000`` are not)."""
    if isinstance(value, str) and not _WHOLE.match(value):
        raise ValueError("must be a whole number written in decimal digits")
    return value


Whole = Annotated[int, BeforeValidator(decimal_digits_only)]
"""An integer query parameter, strictly written."""


@functools.cache
def _max_length(field: Any) -> int | None:
    """The ``max_length`` a field's metadata sets for its string, if any (fields live as long as their model)."""
    limits = [m.max_length for m in field.metadata if isinstance(getattr(m, "max_length", None), int)]
    return min(limits) if limits else None


def _takes_a_date(annotation: Any) -> bool:
    """Whether a field's type is a date, or a union with a date (not a datetime)."""
    if annotation is date:
        return True
    return any(arg is date for arg in getattr(annotation, "__args__", ()))


def known_at_instant(value: Any) -> Any:
    """``YYYY-MM-DD`` (the end of that day, UTC) or an ISO 8601 timestamp (UTC when it has no offset), as an aware
    datetime: the last moment whose records count."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and _ISO_DATE.match(value):
        day = in_date_range(date.fromisoformat(value))
        return datetime.combine(day, time.max, tzinfo=UTC)
    if isinstance(value, str) and _ISO_INSTANT.match(value):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        in_date_range(moment.date())
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 timestamp such as 2027-03-01T17:30:00Z")


Instant = Annotated[
    datetime,
    BeforeValidator(known_at_instant),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date", "pattern": DATE_PATTERN},
                {"type": "string", "format": "date-time", "pattern": INSTANT_PATTERN},
            ],
            "examples": ["2027-03-01", "2027-03-01T17:30:00Z"],
        },
        mode="validation",
    ),
]
"""A moment for ``known_at``: a date means the end of that day (UTC)."""


def _iso_4217(code: str) -> str:
    minor_unit(code)  # raises ValueError naming the code
    return code


CurrencyCode = Annotated[
    str,
    Field(min_length=3, max_length=3, examples=["EUR"]),
    AfterValidator(_iso_4217),
    WithJsonSchema({"type": "string", "enum": sorted(MINOR_UNITS), "examples": ["EUR"]}, mode="validation"),
]
"""An ISO 4217 currency code (upper case, as listed in :data:`shared.money.MINOR_UNITS`), documented as the list."""

Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["ada@example.org"])]
"""A person's e-mail address (personal data: kept out of events)."""
Phone = Annotated[str, Field(min_length=3, max_length=32, pattern=r"^\+?[0-9 ()./-]+$", examples=["+44 20 7946 0000"])]
"""A person's telephone number (personal data: kept out of events)."""

_ISO_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")


def _week_pattern() -> str:
    """ISO weeks ``YYYY-Www`` of the business years: weeks 01 to 52 of every year, week 53 of the years that have
    one (listed, as :func:`iso_week` computes them)."""
    years = range(MIN_DATE.year, MAX_DATE.year + 1)
    long_years = "|".join(str(y) for y in years if date(y, 12, 28).isocalendar().week == 53)
    return f"^((19[0-9]{{2}}|2[01][0-9]{{2}})-W(0[1-9]|[1-4][0-9]|5[0-2])|({long_years})-W53)$"


WEEK_PATTERN = _week_pattern()
"""An ISO week :func:`iso_week` takes, as a pattern (the requests' and the document's)."""


def iso_week(label: str) -> date:
    """The Monday of ISO week ``YYYY-Www``; :class:`ValueError` for a week that does not exist (``W00``, ``W53``
    of a 52-week year) or lies outside the date range."""
    match = _ISO_WEEK.match(label)
    if not match:
        raise ValueError("must be an ISO week such as 2027-W05")
    year, week = int(match.group(1)), int(match.group(2))
    if not MIN_DATE.year <= year <= MAX_DATE.year:
        raise ValueError(f"the year must lie between {MIN_DATE.year} and {MAX_DATE.year}")
    weeks_in_year = date(year, 12, 28).isocalendar().week
    if not 1 <= week <= weeks_in_year:
        raise ValueError(f"{year} has weeks 1 to {weeks_in_year}")
    return date.fromisocalendar(year, week, 1)


def week_after(monday: date, weeks: int) -> date:
    """The Monday ``weeks`` weeks after ``monday``."""
    return monday + timedelta(weeks=weeks)


def _violations(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str, Any]]:
    """``(location, reason, value)`` of every bound ``value`` breaks, without entering nested request bodies
    (they checked themselves when they were validated)."""
    if isinstance(value, str):
        found = forbidden_character(value)
        if found:
            yield path, f"must not contain a {found}", value
    elif isinstance(value, Money):
        bound = max_amount(value.currency)
        if abs(value.amount) > bound:
            yield (*path, "amount"), f"must not exceed {bound:,} {value.currency} in absolute value", value.amount
    elif isinstance(value, date):
        try:
            in_date_range(value)
        except ValueError as exc:
            yield path, str(exc), value.isoformat()
    elif isinstance(value, (Decimal, int, float, bool)) or value is None or isinstance(value, RequestBody):
        return
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _violations(getattr(value, name), (*path, name))
    elif isinstance(value, (list, tuple, set, frozenset)):
        if len(value) > MAX_LIST:
            yield path, f"must hold at most {MAX_LIST} items", len(value)
            return
        for index, item in enumerate(value):
            yield from _violations(item, (*path, index))
    elif isinstance(value, Mapping):
        if len(value) > MAX_LIST:
            yield path, f"must hold at most {MAX_LIST} entries", len(value)
            return
        for key, item in value.items():
            yield from _violations(key, (*path, str(key)))
            yield from _violations(item, (*path, str(key)))


class RequestBody(BaseModel):
    """Base of every request body: unknown fields refused, strings trimmed, every value within
    :mod:`shared.limits` (each violation a validation error at its field)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """The schema pydantic makes, with each exact decimal's ``max_digits`` and ``decimal_places`` beside it
        (pydantic leaves them out where the field's type is annotated), for :mod:`shared.openapi` to state as the
        bounds of the decimal's text."""
        schema = handler(core_schema)
        properties = handler.resolve_ref_schema(schema).get("properties", {})
        for name, field in cls.model_fields.items():
            key = field.alias or name
            for meta in field.metadata:
                for bound in ("max_digits", "decimal_places"):
                    value = getattr(meta, bound, None)
                    if value is not None and key in properties:
                        properties[key][bound] = value
        return schema

    @field_validator("*", mode="before")
    @classmethod
    def _as_sent(cls, value: Any, info: ValidationInfo) -> Any:
        """A date field takes ``YYYY-MM-DD`` only (``0`` or ``86400`` is not a date); a string longer than its
        field's ``max_length`` as sent is refused before it is trimmed (the documented ``maxLength`` counts what the
        caller sent, blanks included)."""
        field = cls.model_fields.get(info.field_name or "")
        if field is None or value is None:
            return value
        if isinstance(value, str):
            limit = _max_length(field)
            if limit is not None and len(value) > limit:
                raise PydanticKnownError("string_too_long", {"max_length": limit})
        if _takes_a_date(field.annotation):
            return iso_date_only(value)
        return value

    @model_validator(mode="after")
    def _within_limits(self) -> RequestBody:
        errors = [
            {"type": PydanticCustomError("out_of_bounds", reason), "loc": loc, "input": value}
            for name in type(self).model_fields
            for loc, reason, value in _violations(getattr(self, name), (name,))
        ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)  # type: ignore[arg-type]
        return self
