"""Utilisation and allocation per person and ISO week.

Capacity comes from ``resource-registered`` and ``capacity-changed`` (effective from a week); allocated hours from
the allocations in force that week (``resource-allocated``, ``allocation-changed``, ``allocation-ended``; a
partial week counts its working days); approved hours from ``work-sheet-approved`` (minus reversals).
Utilisation = approved hours / capacity; allocation = allocated hours / capacity; over 100 % allocation is an alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from reporting.domain.ledger import Fact
from shared.contracts import resources as r


@dataclass(frozen=True)
class WeekLoad:
    resource_id: UUID
    role: str
    week: str
    week_start: date
    capacity: Decimal
    allocated: Decimal
    approved: Decimal

    @property
    def allocation(self) -> Decimal | None:
        return self.allocated / self.capacity if self.capacity else None

    @property
    def utilisation(self) -> Decimal | None:
        return self.approved / self.capacity if self.capacity else None

    @property
    def over_allocated(self) -> bool:
        return self.allocated > self.capacity


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def loads(
    facts: Iterable[Fact], weeks: list[date], approved_hours: Mapping[tuple[UUID, str], Decimal] | None = None
) -> list[WeekLoad]:
    """One row per person (not subcontractors) and week starting on each Monday of ``weeks``. Approved hours come
    from the work-sheet facts among ``facts``, plus ``approved_hours`` per (resource, ISO week) when the caller
    summed them already (the database does, for the weeks asked, without decoding every sheet)."""
    capacity: dict[UUID, list[tuple[date, Decimal]]] = {}
    roles: dict[UUID, str] = {}
    allocations: dict[UUID, tuple[UUID, Decimal, date, date]] = {}
    approved: dict[tuple[UUID, str], Decimal] = dict(approved_hours or {})
    for fact in sorted(facts, key=lambda f: f.recorded_at):
        event = fact.decode()
        match event:
            case r.ResourceRegistered():
                if event.kind is r.ResourceKind.PERSON:
                    capacity[event.resource_id] = [(date.min, event.weekly_capacity_hours)]
                    roles[event.resource_id] = event.role
            case r.CapacityChanged():
                capacity.setdefault(event.resource_id, []).append((event.effective_from, event.weekly_capacity_hours))
            case r.ResourceAllocated():
                allocations[event.allocation_id] = (
                    event.resource_id,
                    event.hours_per_week,
                    event.starts_on,
                    event.ends_on,
                )
            case r.AllocationChanged():
                allocations[event.allocation_id] = (
                    event.resource_id,
                    event.hours_per_week,
                    event.starts_on,
                    event.ends_on,
                )
            case r.AllocationEnded():
                if event.allocation_id in allocations:
                    rid, hours, starts, _ = allocations[event.allocation_id]
                    allocations[event.allocation_id] = (rid, hours, starts, event.ends_on)
            case r.WorkSheetApproved():
                key = (event.resource_id, event.week)
                approved[key] = approved.get(key, Decimal(0)) + event.hours
            case r.WorkSheetApprovalReversed():
                key = (event.resource_id, event.week)
                approved[key] = approved.get(key, Decimal(0)) - event.hours
    rows = []
    for rid in sorted(capacity, key=str):
        for monday in weeks:
            in_force = [c for since, c in sorted(capacity[rid]) if since <= monday]
            cap = in_force[-1] if in_force else Decimal(0)
            allocated = sum(
                (
                    hours * _working_days(starts, ends, monday) / 5
                    for a_rid, hours, starts, ends in allocations.values()
                    if a_rid == rid
                ),
                Decimal(0),
            )
            week = iso_week(monday)
            rows.append(
                WeekLoad(rid, roles.get(rid, ""), week, monday, cap, allocated, approved.get((rid, week), Decimal(0)))
            )
    return rows


def _working_days(starts: date, ends: date, monday: date) -> int:
    friday = monday + timedelta(days=4)
    first, last = max(starts, monday), min(ends, friday)
    if first > last:
        return 0
    return sum(1 for i in range((last - first).days + 1) if (first + timedelta(days=i)).weekday() < 5)
