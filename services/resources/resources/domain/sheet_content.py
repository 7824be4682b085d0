"""What a work sheet may hold: entries of its own week, none in the future, one per day and milestone, at most 24
hours a day for a person (all their sheets of the week together), a subcontractor's accepted deliverables in its
currency, and a rate in force for every day worked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

from resources.domain.checks import MAX_DAY_HOURS, check_hours, not_blank
from resources.domain.pricing import price
from resources.domain.rates import RoleRateCard
from resources.domain.weeks import iso_week
from shared.contracts.resources import AcceptedDeliverable, ResourceKind, TimeEntry
from shared.errors import InvalidCommandError

if TYPE_CHECKING:
    from resources.domain.resource import Resource


def sheet_content(
    state: Resource,
    sheet_id: UUID,
    week: date,
    entries: Sequence[TimeEntry],
    deliverables: Sequence[AcceptedDeliverable],
    role: RoleRateCard,
    today: date,
) -> tuple[tuple[TimeEntry, ...], Decimal]:
    """Check a sheet's entries and deliverables; return the entries worth keeping (hours > 0) and the hours."""
    if week.weekday() != 0:
        raise InvalidCommandError(f"{week} is not the Monday of an ISO week", field="week")
    if week > today:
        raise InvalidCommandError(f"week {iso_week(week)} is in the future", field="week")
    sunday = week + timedelta(days=6)
    seen: set[tuple[date, UUID | None]] = set()
    for i, entry in enumerate(entries):
        name = f"entries.{i}"
        check_hours(entry.hours, f"{name}.hours", MAX_DAY_HOURS if state.kind is ResourceKind.PERSON else None)
        if not week <= entry.day <= sunday:
            raise InvalidCommandError(f"{entry.day} is not in week {iso_week(week)}", field=f"{name}.day")
        if entry.day > today:
            raise InvalidCommandError(f"{entry.day} is in the future", field=f"{name}.day")
        if (entry.day, entry.milestone_id) in seen:
            raise InvalidCommandError(
                f"{entry.day} appears twice for the same milestone; give one entry per day and milestone", field=name
            )
        seen.add((entry.day, entry.milestone_id))
    if deliverables and state.kind is not ResourceKind.SUBCONTRACTOR:
        raise InvalidCommandError(
            "only a subcontractor reports deliverables; a person reports hours", field="deliverables"
        )
    for i, d in enumerate(deliverables):
        name = f"deliverables.{i}"
        not_blank(d.description, f"{name}.description")
        not_blank(d.accepted_by, f"{name}.accepted_by")
        if d.amount.currency != state.currency:
            raise InvalidCommandError(
                f"the amount must be in the resource's currency {state.currency}", field=f"{name}.amount.currency"
            )
        if d.amount.amount <= 0:
            raise InvalidCommandError("the agreed amount must be more than zero", field=f"{name}.amount.amount")
        if not week <= d.accepted_on <= sunday:
            raise InvalidCommandError(f"accepted_on must be in week {iso_week(week)}", field=f"{name}.accepted_on")
        if d.accepted_on > today:
            raise InvalidCommandError(f"{d.accepted_on} is in the future", field=f"{name}.accepted_on")
    kept = tuple(e for e in entries if e.hours > 0)
    if not kept and not deliverables:
        raise InvalidCommandError("a work sheet reports some hours or an accepted deliverable", field="entries")
    if state.kind is ResourceKind.PERSON:
        within_a_day(state, sheet_id, week, entries)
    price(state, kept, deliverables, role)  # every day worked must have a rate
    return kept, sum((e.hours for e in kept), Decimal(0))


def within_a_day(state: Resource, sheet_id: UUID, week: date, entries: Sequence[TimeEntry]) -> None:
    """A person works at most 24 hours a day, all their sheets of the week together."""
    elsewhere: dict[date, Decimal] = {}
    for sheet in state.sheets.values():
        if sheet.week_start == week and sheet.sheet_id != sheet_id:
            for e in sheet.counted_entries:
                elsewhere[e.day] = elsewhere.get(e.day, Decimal(0)) + e.hours
    here: dict[date, Decimal] = {}
    for i, entry in enumerate(entries):
        here[entry.day] = here.get(entry.day, Decimal(0)) + entry.hours
        total = here[entry.day] + elsewhere.get(entry.day, Decimal(0))
        if total > MAX_DAY_HOURS:
            other = elsewhere.get(entry.day, Decimal(0))
            detail = f" ({other} of them on other sheets)" if other else ""
            raise InvalidCommandError(
                f"more than 24 hours on {entry.day}: {total} hours{detail}", field=f"entries.{i}.hours"
            )
