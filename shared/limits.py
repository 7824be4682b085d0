"""Every bound on what enters the system, in one place (documented in ``docs/security.md``, "Limits").

A value past one of these is refused at the edge with a 4xx naming the field, before any other work: the limits
are far above what a real portfolio needs and well below what would hurt the system (a Kafka record, a
PostgreSQL statement, a ``Decimal`` computation, a report).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

# --- money ------------------------------------------------------------------------------------------------

MAX_AMOUNT_MAJOR_UNITS = 10**12
"""Largest absolute amount in major units (one trillion EUR, USD, ...): a thousand times the largest projects."""

HIGH_NOMINAL_CURRENCIES = frozenset(
    {
        "BIF", "CDF", "CLP", "COP", "GNF", "IDR", "IQD", "IRR", "KHR", "KPW", "KRW", "LAK", "LBP", "MGA", "MMK",
        "MNT", "PYG", "RWF", "SLE", "SOS", "SYP", "TZS", "UGX", "UZS", "VES", "VND", "XAF", "XOF", "YER",
    }
)  # fmt: skip
"""Currencies worth less than a thousandth of a US dollar or so: their bound is a thousand times higher."""

MAX_AMOUNT_DIGITS = 40
"""Longest amount text accepted before it is even parsed (sign, digits and point)."""


def max_amount(currency: str) -> Decimal:
    """The largest absolute amount accepted in ``currency`` (major units)."""
    factor = 1000 if currency in HIGH_NOMINAL_CURRENCIES else 1
    return Decimal(MAX_AMOUNT_MAJOR_UNITS * factor)


MAX_EXCHANGE_RATE = Decimal(10**9)
"""Exchange rates lie below this (1 unit of the base currency worth a billion of the quote currency's units): far
above any rate between ISO 4217 currencies, and small enough that a bounded amount times a rate stays exact."""

MAX_RATE_DIGITS = 12
"""An exchange rate has at most this many significant digits, and none past the 12th decimal place."""


# --- text, lists, events ------------------------------------------------------------------------------------

MAX_NAME = 200
"""Names, codes, references, subjects."""
MAX_TEXT = 2000
"""Free text: reasons, notes, descriptions."""
MAX_LIST = 500
"""Items in any list of a request."""
MAX_SUBJECT = 200
"""A token's subject (the acting user), after normalisation."""

MAX_STATUS_REFERENCES = 50
"""RAID items of one kind a weekly status report refers to (as many as its free-text lists hold)."""

MAX_BASELINE_ITEMS = 100
"""Items (milestones) in one version of a performance measurement baseline."""
MAX_BASELINE_STEPS = 20
"""Steps of one weighted-milestones baseline item."""
MAX_BASELINE_MONTHS = 120
"""Months one baseline item is phased over (ten years)."""

MAX_EVENT_BYTES = 256 * 1024
"""Largest event an append accepts (its data and metadata as JSON): a quarter of Kafka's default record limit
(1 MiB), so an event that was stored can always be published."""

# --- dates ----------------------------------------------------------------------------------------------------

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)
"""Business dates (plans, due dates, ``as_of``) lie in this range; ISO weeks too."""

MAX_QUERY_DAYS = 366 * 10
"""Longest date range a query covers (ten years)."""

# --- HTTP -------------------------------------------------------------------------------------------------------

MAX_BODY_BYTES = 1_000_000
"""Default body limit (``PMO_MAX_BODY_BYTES``), counted as the bytes arrive."""
MAX_HEADER_BYTES = 16 * 1024
"""All request headers together (431 beyond)."""
MAX_AUTHORIZATION_BYTES = 8 * 1024
"""The ``Authorization`` header alone (a bearer token)."""
MAX_QUERY_STRING_BYTES = 4096
"""The query string of a URL."""
MAX_PATH_BYTES = 2048
"""The path of a URL."""
MAX_SERVICE_ANSWER_BYTES = 2_000_000
"""Largest answer a service reads from another over HTTP (the projects service's one call: reporting's project
report for a gate decision); a longer one is treated as no answer."""
