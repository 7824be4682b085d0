"""The :class:`Books` of one project: its components, taking facts one at a time and read on any date."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from reporting.domain.books import encoding
from reporting.domain.books.costs import CostDay
from reporting.domain.books.entities import MilestoneIndex
from reporting.domain.books.keys import Key, ReportRow, Row, order_key
from reporting.domain.books.reading import book_at
from reporting.domain.books.recording import record
from reporting.domain.ledger import Amount, Fact, ProjectBook
from shared.events import DomainEvent


@dataclass
class Books:
    """One project's books (see :mod:`reporting.domain.books`). ``apply`` facts, read ``at`` any date."""

    project_id: UUID
    per_service: dict[str, int] = field(default_factory=dict)
    """Facts applied per producing service: a fact's place among its own service's facts (their topic's order)."""
    registrations: list[Row] = field(default_factory=list)
    lifecycle: list[Row] = field(default_factory=list)
    budget: list[Row] = field(default_factory=list)
    allocations: list[Row] = field(default_factory=list)
    milestones: dict[str, list[Row]] = field(default_factory=dict)
    kpis: dict[str, list[Row]] = field(default_factory=dict)
    follow_ups: dict[str, list[Row]] = field(default_factory=dict)
    commitments: dict[str, list[Row]] = field(default_factory=dict)
    tranches: dict[str, list[Row]] = field(default_factory=dict)
    invoices: dict[str, list[Row]] = field(default_factory=dict)
    reports: list[ReportRow] = field(default_factory=list)
    """Status reports sorted by (meeting date, key)."""
    costs: dict[str, list[CostDay]] = field(default_factory=dict)
    pending: list[Row] = field(default_factory=list)
    resource_categories: dict[str, str] = field(default_factory=dict)
    pmb: list[Row] = field(default_factory=list)
    estimates: list[Row] = field(default_factory=list)
    foreign: list[Row] = field(default_factory=list)
    """Costs in another currency than the project's without a booking (listed, never added)."""
    claims: dict[str, list[str]] = field(default_factory=dict)
    """Expense claims: ``[amount, currency (booked, else entered), category, label]``."""
    receipts: dict[str, list[Any]] = field(default_factory=dict)
    """Goods receipts: ``[amount, currency, category, label, reversed]``."""
    _latest_report: list[int] | None = field(default=None, compare=False, repr=False)
    latest_reports: list[int] | None = field(default=None, compare=False, repr=False)
    """For each prefix of ``reports``, the index of its latest recorded one: computed by :meth:`at` when first needed,
    dropped when a report arrives."""
    settled: dict[tuple[str, str, str | None, Key | None], tuple[date, date, tuple[Any, Any, str] | None]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Entities (invoices, commitments) by :meth:`at`: the earliest and latest of their rows' dates and, once folded
    on a date after all of them, their state (it no longer depends on the date); dropped when a fact is applied."""
    evidence_read: dict[tuple[str, int], list[Amount]] = field(default_factory=dict, compare=False, repr=False)
    """The latest cost evidence up to a day of ``costs``, by currency and day, read by :meth:`at`; dropped when a
    fact is applied."""
    milestone_indexes: dict[str, MilestoneIndex | None] = field(default_factory=dict, compare=False, repr=False)
    """Each milestone's rows arranged by date (:class:`~reporting.domain.books.entities.MilestoneIndex`), built by
    :meth:`at` when first needed; dropped when a fact is applied."""

    @property
    def count(self) -> int:
        """Facts applied (the books' version: it only grows)."""
        return sum(self.per_service.values())

    @classmethod
    def of(cls, project_id: UUID, facts: Iterable[Fact]) -> Books:
        """The books of ``facts`` (in the ledger's order)."""
        books = cls(project_id)
        for fact in facts:
            books.apply(fact)
        return books

    def apply(self, fact: Fact, event: DomainEvent | None = None) -> None:
        """Take one fact (``event``: its decoded contract, when the caller has it). Facts of other versions or
        types this version does not know are counted and otherwise ignored, as the ledger ignores them."""
        if event is None:
            event = fact.decode()
        seq = self.per_service.get(fact.service, 0)
        key: Key = order_key(fact, seq)
        self.per_service[fact.service] = seq + 1
        if event is not None:
            self.settled.clear()
            self.evidence_read.clear()
            self.milestone_indexes.clear()
            record(self, event, fact, key, fact.recorded_at.date())

    def first_registration(self) -> Key | None:
        """The order key of the project's first registration (costs recorded before it wait in ``pending``)."""
        return self.registrations[0][0] if self.registrations else None

    def at(self, as_of: date, performance_only: bool = False) -> ProjectBook:
        """The project's books on ``as_of``: the same as the ledger's fold of the same facts on that date
        (``performance_only``: what the performance figures read, :func:`~reporting.domain.books.reading.book_at`)."""
        return book_at(self, as_of, performance_only)

    def to_json(self) -> str:
        """Compact JSON (Decimals, dates and ids as strings) that :meth:`from_json` reads back equal."""
        return encoding.to_json(self)

    @classmethod
    def from_json(cls, raw: str | Mapping[str, Any]) -> Books:
        return encoding.from_json(cls, raw)
