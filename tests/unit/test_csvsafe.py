"""CSV exports open in a spreadsheet as data: no cell starts a formula, and numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from shared.csvsafe import csv_text, neutralise


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("https://evil.example","click")',
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "-",
        "--1",
        "-12.50 EUR",
        "\uff1dHYPERLINK(1)",  # fullwidth equals sign
    ],
)
def test_a_text_cell_that_could_start_a_formula_gets_a_leading_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-12.50", "+3", "-0.5", "-.5", "12", "1250.00", "0"])
def test_a_plain_number_written_as_text_stays_a_number(cell: str) -> None:
    assert neutralise(cell) == cell


@pytest.mark.parametrize("value", [Decimal("-12.50"), -3, -1.5, None, True])
def test_number_values_and_empty_cells_are_left_as_they_are(value: object) -> None:
    assert neutralise(value) is value


@pytest.mark.parametrize("cell", ["Apollo", "a=b", "x-1", " =1", "'=already quoted", "2026-12-06"])
def test_ordinary_text_is_unchanged(cell: str) -> None:
    assert neutralise(cell) == cell


def test_every_cell_of_an_export_is_neutralised_and_the_file_still_parses() -> None:
    rows = [
        {"code": '=HYPERLINK("https://evil.example")', "name": 'Apollo, "the" one', "vac": "-12.50"},
        {"code": "P-2", "name": "@evil", "vac": Decimal("-3.00")},
    ]
    parsed = list(csv.DictReader(io.StringIO(csv_text(rows))))
    assert parsed == [
        {"code": '\'=HYPERLINK("https://evil.example")', "name": 'Apollo, "the" one', "vac": "-12.50"},
        {"code": "P-2", "name": "'@evil", "vac": "-3.00"},
    ]


def test_no_rows_give_an_empty_file_or_only_the_header() -> None:
    assert csv_text([]) == ""
    assert csv_text([], fieldnames=["code", "name"]).strip() == "code,name"
