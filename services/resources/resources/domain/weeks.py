"""ISO weeks (Monday to Sunday), the calendar every rule of the resources domain counts in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from shared.bounds import iso_week as monday_of_iso_week

WORKDAYS_PER_WEEK = 5
ONE_WEEK = timedelta(days=7)


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def iso_week(day: date) -> str:
    """``2027-W05``: the ISO week of ``day``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_iso_week(label: str) -> date:
    """The Monday of an ISO week written ``2027-W05``; raises ``ValueError`` for anything else (a week the year
    does not have, a year outside the business date range)."""
    return monday_of_iso_week(label)


def weeks(first: date, last: date) -> Iterable[date]:
    """The Mondays of every ISO week from ``first``'s to ``last``'s."""
    monday = week_start(first)
    while monday <= last:
        yield monday
        monday += ONE_WEEK
