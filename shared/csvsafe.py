"""CSV that a spreadsheet opens as data, never as formulas (CSV or formula injection, OWASP).

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their fullwidth forms,
which some spreadsheets read as the ASCII ones) is written with a leading single quote, so ``=HYPERLINK(...)``
in a project name arrives as the text ``'=HYPERLINK(...)``. Numbers stay numbers: a number value, or a text cell
that is a plain decimal number such as ``-12.50`` (amounts travel as strings), is written as it is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def neutralise(value: Any) -> Any:
    """``value`` as a CSV cell that cannot start a formula (see the module's docstring)."""
    if value is None or isinstance(value, (bool, int, float, Decimal)):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(rows: Iterable[Mapping[str, Any]], fieldnames: list[str] | None = None) -> str:
    """``rows`` as CSV with a header line (the first row's keys unless ``fieldnames``), every cell neutralised;
    empty text for no rows and no field names."""
    rows = list(rows)
    names = fieldnames if fieldnames is not None else (list(rows[0]) if rows else [])
    if not names:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[neutralise(n) for n in names], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({neutralise(k): neutralise(v) for k, v in row.items()})
    return out.getvalue()
