"""The entity components of the books (milestones, KPIs, follow-ups, commitments, funding tranches, invoices): each
entity's rows folded on a date as the ledger folds its facts, and listed in the order the ledger created them."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from reporting.domain.books.keys import Key, Row, entity_id
from reporting.domain.ledger import (
    Amount,
    CommitmentBook,
    InvoiceBook,
    KpiBook,
    MilestoneBook,
    TrancheBook,
    booked_terms,
    received_invoice,
    unconverted_label,
)


def ordered(folded: Iterable[tuple[Key | None, Any, str]]) -> list[tuple[str, Any]]:
    """Entities that exist on the date, in the order the ledger's fold first created them."""
    present = [(created, key, x) for created, x, key in folded if created is not None and x is not None]
    return [(key, x) for _, key, x in sorted(present, key=lambda t: t[0])]


@dataclass
class Foreign:
    """What an entity's fold needs to tell amounts in another currency (the project's currency and its first
    registration: the ledger takes amounts recorded before it as they are), and the unconverted ones it found, with
    their order keys."""

    currency: str
    registered: Key | None
    found: list[tuple[Key, Amount]] = field(default_factory=list)

    def unconvertible(self, key: Key, currency: str) -> bool:
        return self.registered is not None and key > self.registered and currency != self.currency

    def listed(self, key: Key, amount: Amount) -> None:
        self.found.append((key, amount))


def folded_milestone(key: str, rows: list[Row], as_of: date) -> tuple[Key | None, MilestoneBook | None, str]:
    m: MilestoneBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert day is not None and eid is not None
        if kind == "planned":
            assert amount is not None
            m = MilestoneBook(entity_id(key), extra, day, amount, eid)
            created = created or k
        elif m is None:
            continue  # the ledger cannot fold it either (a milestone never planned)
        elif kind == "rescheduled":
            m.due_date = day
        elif day > as_of:
            continue
        elif kind == "progress":
            assert amount is not None
            m.percent, m.progress_event = amount, eid
        elif kind == "reached":
            m.reached_on, m.reached_event = day, eid
        elif kind == "missed":
            m.missed = True
        elif kind == "revalued":
            assert amount is not None
            m.planned_value, m.planned_event = amount, eid
    return created, m, key


@dataclass(frozen=True)
class MilestoneIndex:
    """A milestone's rows arranged to be read on any date without a pass over them (:func:`indexed_milestone`): the
    last ``planned`` row in the order of the facts (each one starts the milestone afresh) with the last reschedule
    after it, and the progress, reached and revalued (an approved change of its planned value) rows after it sorted
    by date, each with the latest-recorded row among those up to it (the fold keeps the last one recorded among
    those dated by the date read)."""

    created: Key
    planned: Row
    due_date: date
    progress_days: list[date]
    progress_latest: list[Row]
    reached_days: list[date]
    reached_latest: list[Row]
    missed_from: date | None
    revalued_days: list[date] = field(default_factory=list)
    revalued_latest: list[Row] = field(default_factory=list)


def milestone_index(rows: list[Row]) -> MilestoneIndex | None:
    """The :class:`MilestoneIndex` of a milestone's rows (in the facts' order), None if it was never planned."""
    planned_at = [n for n, row in enumerate(rows) if row[1] == "planned"]
    if not planned_at:
        return None
    last = planned_at[-1]
    planned = rows[last]
    assert planned[2] is not None
    due = planned[2]
    dated: dict[str, list[Row]] = {"progress": [], "reached": [], "revalued": []}
    missed: date | None = None
    for row in rows[last + 1 :]:
        _, kind, day, _, _, _ = row
        assert day is not None
        if kind == "rescheduled":
            due = day
        elif kind in dated:
            dated[kind].append(row)
        elif kind == "missed":
            missed = day if missed is None else min(missed, day)
    arranged = {kind: _latest_by_date(found) for kind, found in dated.items()}
    return MilestoneIndex(
        rows[planned_at[0]][0], planned, due, *arranged["progress"], *arranged["reached"], missed, *arranged["revalued"]
    )


def _latest_by_date(rows: list[Row]) -> tuple[list[date], list[Row]]:
    """``rows`` sorted by date, each with the latest-recorded (largest key) row of those dated up to it."""
    days: list[date] = []
    latest: list[Row] = []
    for row in sorted(rows, key=lambda r: (r[2], r[0])):
        assert row[2] is not None
        days.append(row[2])
        latest.append(row if not latest or row[0] > latest[-1][0] else latest[-1])
    return days, latest


def indexed_milestone(
    key: str, index: MilestoneIndex | None, as_of: date
) -> tuple[Key | None, MilestoneBook | None, str]:
    """:func:`folded_milestone` on ``as_of``, read from the milestone's index (two bisections)."""
    if index is None:
        return None, None, key
    _, _, _, amount, eid, name = index.planned
    assert amount is not None and eid is not None
    m = MilestoneBook(entity_id(key), name, index.due_date, amount, eid)
    n = bisect_right(index.progress_days, as_of)
    if n:
        _, _, _, percent, event, _ = index.progress_latest[n - 1]
        assert percent is not None
        m.percent, m.progress_event = percent, event
    n = bisect_right(index.reached_days, as_of)
    if n:
        _, _, day, _, event, _ = index.reached_latest[n - 1]
        m.reached_on, m.reached_event = day, event
    m.missed = index.missed_from is not None and index.missed_from <= as_of
    n = bisect_right(index.revalued_days, as_of)
    if n:
        _, _, _, value, event, _ = index.revalued_latest[n - 1]
        assert value is not None and event is not None
        m.planned_value, m.planned_event = value, event
    return index.created, m, key


def folded_kpi(key: str, rows: list[Row], as_of: date) -> tuple[Key | None, KpiBook | None, str]:
    kpi: KpiBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert amount is not None and eid is not None
        if kind == "defined":
            name, unit, direction, review = extra
            kpi = KpiBook(entity_id(key), name, unit, amount, direction, date.fromisoformat(review))
            created = created or k
        elif kind == "revised":
            if kpi is not None:
                kpi.target, kpi.review_date = amount, date.fromisoformat(extra)
        elif kpi is not None and day is not None and day <= as_of:
            if kpi.latest is None or day > kpi.latest[0]:
                kpi.latest = (day, amount, bool(extra), eid)
            kpi.measured += 1
    return created, kpi, key


def folded_follow_up(rows: list[Row], as_of: date) -> tuple[Key | None, tuple[date, date | None, UUID] | None]:
    state: tuple[date, date | None, UUID] | None = None
    created: Key | None = None
    for k, kind, day, _, eid, extra in rows:
        assert day is not None and eid is not None
        if day > as_of:
            continue
        if kind == "logged":
            state, created = (date.fromisoformat(extra), None, eid), created or k
        elif state is not None:
            state = (state[0], day, state[2])
    return created, state


def folded_commitment(
    key: str, rows: list[Row], as_of: date, foreign: Foreign
) -> tuple[Key | None, CommitmentBook | None, str]:
    c: CommitmentBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert day is not None and eid is not None
        if day > as_of:
            continue
        if kind == "committed":
            assert amount is not None
            currency, entered = _currency_of(extra, foreign.currency)
            if foreign.unconvertible(k, currency):
                what = unconverted_label(f"commitment {extra['reference']}", amount, entered, foreign.currency)
                foreign.listed(k, Amount(amount, eid, day, what, extra["category"]))
                continue
            expected = [(date.fromisoformat(on), Decimal(v)) for on, v in extra["expected"]]
            value, expected = booked_terms(amount, expected, _booked(extra))
            c = CommitmentBook(entity_id(key), extra["category"], value, expected, True, eid, extra["reference"])
            created = created or k
        elif c is not None and kind == "adjusted":
            assert amount is not None
            currency, entered = _currency_of(extra, foreign.currency)
            if foreign.unconvertible(k, currency):
                what = unconverted_label(f"commitment {c.reference} adjusted", amount, entered, foreign.currency)
                foreign.listed(k, Amount(amount, eid, day, what, c.category))
                continue
            listed = extra["expected"] if isinstance(extra, dict) else extra
            expected = [(date.fromisoformat(on), Decimal(v)) for on, v in listed]
            c.amount, c.expected = booked_terms(amount, expected, _booked(extra))
        elif c is not None and kind == "cancelled":
            c.active = False
    return created, c, key


def folded_tranche(
    key: str, rows: list[Row], as_of: date, foreign: Foreign
) -> tuple[Key | None, TrancheBook | None, str]:
    t: TrancheBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert day is not None and eid is not None
        if kind in ("secured", "planned"):
            assert amount is not None
            planned = kind == "planned"
            if planned and t is not None and not t.planned:
                continue  # already secured: a plan for it changes nothing
            currency, entered = _currency_of(extra, foreign.currency)
            if foreign.unconvertible(k, currency):
                what = unconverted_label(f"{kind} funding tranche {key}", amount, entered, foreign.currency)
                foreign.listed(k, Amount(amount, eid, day, what, "funding"))
                continue
            value = _booked(extra)
            t = TrancheBook(entity_id(key), amount if value is None else value, day, None, eid, planned)
            created = created or k
        elif t is not None and kind == "rescheduled":
            t.available_on = day
        elif t is not None and kind == "withdrawn" and day <= as_of:
            t.withdrawn_on = day
    return created, t, key


def folded_invoice(
    key: str, rows: list[Row], as_of: date, foreign: Foreign
) -> tuple[Key | None, InvoiceBook | None, str]:
    x: InvoiceBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert day is not None and eid is not None
        if day > as_of:
            continue
        if kind == "received":
            assert amount is not None
            if foreign.registered is None or k < foreign.registered:
                continue
            booked = extra.get("booked")
            currency = extra["currency"]
            if currency != foreign.currency and (booked is None or booked[1] != foreign.currency):
                what = unconverted_label(
                    f"invoice {extra['vendor']} {extra['number']}", amount, currency, foreign.currency
                )
                foreign.listed(k, Amount(amount, eid, day, what, "invoice"))
                continue
            booking = None
            if booked is not None and currency != foreign.currency:
                booking = (Decimal(booked[0]), Decimal(booked[2]))
            x = received_invoice(
                entity_id(key),
                extra["vendor"],
                extra["number"],
                date.fromisoformat(extra["due_on"]),
                amount,
                Decimal(extra["total"]),
                eid,
                extra["reference"],
                currency,
                booking,
            )
            created = created or k
        elif x is None:
            continue
        elif kind == "matched":
            x.backed, x.match_event = amount, eid
            x.matched, x.checks = bool(extra[0]), tuple(extra[1])
            if x.status in ("received", "matched", "mismatched"):
                x.status = "matched" if x.matched else "mismatched"
        elif kind == "approved":
            x.status, x.approved_on, x.approved_event = "approved", day, eid
        elif kind in ("disputed", "rejected"):
            x.status = kind
        elif kind == "credit":
            assert amount is not None
            x.credited_net += x.converted(amount)
        elif kind == "paid":
            assert amount is not None
            fully, paid = (extra[0], Decimal(extra[1])) if isinstance(extra, list) else (extra, amount)
            x.record_payment(paid, amount, bool(fully), eid)
    return created, x, key


def _booked(extra: Any) -> Decimal | None:
    raw = extra.get("booked") if isinstance(extra, dict) else None
    return None if raw is None else Decimal(raw)


def _currency_of(extra: Any, default: str) -> tuple[str, str]:
    """(the currency an entity's amount counts in, the one it was entered in); rows stored before bookings existed
    have neither: the project's."""
    if not isinstance(extra, dict) or "currency" not in extra:
        return default, default
    return extra["currency"], extra["entered"]
