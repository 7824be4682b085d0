"""A project's books kept as its facts arrive, readable as of any date without refolding its history.

:class:`Books` takes the project's facts one at a time (:meth:`Books.apply`) and answers :meth:`Books.at`: the
:class:`~reporting.domain.ledger.ProjectBook` of a business date, with the same figures as
:func:`reporting.domain.ledger.book` over the same facts. The ledger's fold stays the reference (and the path that
lists every event behind a figure); the books are what reports read.

What is kept, per component:

* amounts that only add up (approved work-sheet cost and its reversals): cumulative sums per currency and cost
  category by effective date (``at`` bisects for the date), with the latest few event ids of each day as evidence;
  their number grows with the calendar, not with the facts;
* entities (milestones, commitments, funding tranches, invoices, KPIs, follow-ups): their versions, each with its
  order key and effective date, folded by ``at`` in the ledger's order; they are bounded by the entity's life;
* the project's registrations, lifecycle transitions, budget baselines and approved changes, allocation checks:
  few, folded by ``at`` in the ledger's order;
* status reports: sorted by meeting date, with the latest recorded one per prefix (``at`` bisects).

Order: the ledger folds a project's facts by (recorded time, producing service, position), the position being the
order the facts were stored in. Each fact here gets the key (recorded time in microseconds, the service's rank, its
place among that service's facts), and every component is kept sorted by that key, so the books do not depend on
the order facts arrive in (facts of one project come from four topics, one partition each, and a batch of one topic
may be applied before an earlier-recorded batch of another): a live consumer and a replay store the same books. Costs
recorded before the project's registration (which the ledger ignores: no currency yet) wait in ``pending`` until a
registration recorded before them arrives.

Known difference: the ledger counts a cost or an invoice in the currency of the registration in force when it was
recorded; the books in the currency of the latest registration. They differ only for a project registered twice in
two currencies, which the projects service refuses.
"""

from __future__ import annotations

import json
from bisect import bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from reporting.domain.ledger import (
    Amount,
    CommitmentBook,
    Fact,
    InvoiceBook,
    KpiBook,
    MilestoneBook,
    ProjectBook,
    TrancheBook,
    apply_allocation,
)
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.events import DomainEvent

EVIDENCE = 20
"""Events kept behind a summed figure (the latest ones); the explain endpoint folds the ledger to list them all."""
EVIDENCE_PER_DAY = 5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Key = tuple[int, int, int]
Row = tuple[Key, str, date | None, Decimal | None, UUID | None, Any]
"""One fact as a component keeps it: order key, kind, effective date, amount, event id, other fields (JSON)."""
ReportRow = tuple[date, Key, str, UUID]
"""A status report: meeting date, order key, overall RAG, event id."""


SERVICE_RANK = {"budget": 0, "invoicing": 1, "projects": 2, "resources": 3}
"""Facts recorded at the same microsecond by different services are taken in this order (the ledger's too:
``ORDER BY recorded_at, service, position``), so the books do not depend on how the topics interleaved."""


def _micros(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


CostDay = list[Any]
"""Approved cost up to and including a day, kept as read from JSON (decoded only where ``at`` needs it):
``[day (ISO), {category: cumulative amount}, cumulative count, [[event id, amount], ...] (the day's latest)]``."""


@dataclass
class Books:
    """One project's books (see the module docstring). ``apply`` facts, read ``at`` any date."""

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
    _latest_report: list[int] | None = field(default=None, compare=False, repr=False)

    @property
    def count(self) -> int:
        """Facts applied (the books' version: it only grows)."""
        return sum(self.per_service.values())

    # ---- building -------------------------------------------------------------------------------------------------

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
        key: Key = (_micros(fact.recorded_at), SERVICE_RANK.get(fact.service, len(SERVICE_RANK)), seq)
        self.per_service[fact.service] = seq + 1
        if event is not None:
            self._apply(event, fact, key, fact.recorded_at.date())

    def _apply(self, e: DomainEvent, fact: Fact, key: Key, recorded: date) -> None:
        eid = fact.event_id
        extra: Any
        row: Row
        match e:
            case p.ProjectRegistered():
                extra = {
                    "code": e.code,
                    "name": e.name,
                    "currency": e.currency,
                    "portfolio_id": e.portfolio_id,
                    "programme_id": e.programme_id,
                    "planned_start": e.planned_start.isoformat(),
                    "planned_end": e.planned_end.isoformat(),
                }
                insort(self.registrations, (key, "registered", recorded, None, eid, extra))
                self._release_pending()
            case p.ProjectApproved():
                insort(self.lifecycle, (key, "approved", e.approved_on, None, eid, None))
            case p.ProjectStarted():
                insort(self.lifecycle, (key, "started", e.started_on, None, eid, None))
            case p.ProjectPutOnHold():
                insort(self.lifecycle, (key, "on_hold", e.on, None, eid, None))
            case p.ProjectResumed():
                insort(self.lifecycle, (key, "resumed", e.on, None, eid, None))
            case p.ProjectCompleted():
                insort(self.lifecycle, (key, "completed", e.completed_on, None, eid, None))
            case p.ProjectTerminated():
                insort(self.lifecycle, (key, "terminated", e.on, None, eid, None))
            case p.MilestonePlanned():
                row = (key, "planned", e.due_date, e.planned_value.amount, eid, e.name)
                self._entity(self.milestones, e.milestone_id, row)
            case p.MilestoneRescheduled():
                self._entity(self.milestones, e.milestone_id, (key, "rescheduled", e.due_date, None, eid, None))
            case p.MilestoneProgressReported():
                row = (key, "progress", e.as_of, e.percent_complete, eid, None)
                self._entity(self.milestones, e.milestone_id, row)
            case p.MilestoneReached():
                self._entity(self.milestones, e.milestone_id, (key, "reached", e.reached_on, None, eid, None))
            case p.MilestoneMissed():
                self._entity(self.milestones, e.milestone_id, (key, "missed", e.due_date, None, eid, None))
            case p.StatusReported():
                insort(self.reports, (e.meeting_date, key, e.overall.value, eid))
                self._latest_report = None
            case p.KpiDefined():
                extra = [e.name, e.unit, e.direction.value, e.review_date.isoformat()]
                self._entity(self.kpis, e.kpi_id, (key, "defined", None, e.target, eid, extra))
            case p.KpiMeasured():
                self._entity(self.kpis, e.kpi_id, (key, "measured", e.measured_on, e.value, eid, e.target_met))
            case p.CommunicationLogged():
                if e.follow_up_due is not None:
                    row = (key, "logged", e.on, None, eid, e.follow_up_due.isoformat())
                    self._entity(self.follow_ups, e.communication_id, row)
            case p.FollowUpClosed():
                self._entity(self.follow_ups, e.communication_id, (key, "closed", e.closed_on, None, eid, None))
            case b.BudgetBaselined():
                categories = [[c.category.value, str(c.amount.amount)] for c in e.categories]
                insort(self.budget, (key, "baseline", recorded, e.total.amount, eid, categories))
            case b.BudgetChangeApproved():
                extra = [e.category.value, str(e.category_budget_after.amount)]
                insort(self.budget, (key, "change", recorded, e.amount.amount, eid, extra))
            case b.BudgetCommitted():
                extra = {
                    "category": e.category.value,
                    "reference": e.reference,
                    "expected": [[x.on.isoformat(), str(x.amount.amount)] for x in e.expected_invoices],
                }
                self._entity(
                    self.commitments, e.commitment_id, (key, "committed", recorded, e.amount.amount, eid, extra)
                )
            case b.CommitmentAdjusted():
                expected = [[x.on.isoformat(), str(x.amount.amount)] for x in e.expected_invoices]
                row = (key, "adjusted", recorded, e.amount.amount, eid, expected)
                self._entity(self.commitments, e.commitment_id, row)
            case b.CommitmentCancelled():
                self._entity(self.commitments, e.commitment_id, (key, "cancelled", recorded, None, eid, None))
            case b.FundingSecured():
                row = (key, "secured", e.available_on, e.amount.amount, eid, None)
                self._entity(self.tranches, e.tranche_id, row)
            case b.FundingWithdrawn():
                self._entity(self.tranches, e.tranche_id, (key, "withdrawn", e.withdrawn_on, None, eid, None))
            case b.FundingRescheduled():
                self._entity(self.tranches, e.tranche_id, (key, "rescheduled", e.available_on, None, eid, None))
            case r.WorkSheetApproved():
                category = "subcontracting" if e.kind is r.ResourceKind.SUBCONTRACTOR else "labour"
                label = f"work sheet {e.sheet_id} v{e.version}"
                extra = [e.cost.currency, label, str(e.resource_id)]
                self._cost((key, category, e.approved_on, e.cost.amount, eid, extra))
            case r.WorkSheetApprovalReversed():
                label = f"work sheet {e.sheet_id} v{e.version} reversed"
                extra = [e.cost.currency, label, str(e.resource_id)]
                self._cost((key, "reversal", e.reversed_on, -e.cost.amount, eid, extra))
            case i.InvoiceReceived():
                extra = {
                    "currency": e.currency,
                    "vendor": e.vendor,
                    "number": e.number,
                    "due_on": e.due_on.isoformat(),
                    "total": str(e.total.amount),
                    "reference": e.commitment_reference,
                }
                self._entity(self.invoices, e.invoice_id, (key, "received", e.received_on, e.net.amount, eid, extra))
            case i.InvoiceMatched() | i.InvoiceMismatched():
                checks = [d.check.value for d in getattr(e, "discrepancies", [])]
                extra = [isinstance(e, i.InvoiceMatched), checks]
                self._entity(self.invoices, e.invoice_id, (key, "matched", recorded, e.backed.amount, eid, extra))
            case i.InvoiceApproved():
                self._entity(self.invoices, e.invoice_id, (key, "approved", recorded, None, eid, None))
            case i.InvoiceDisputed():
                self._entity(self.invoices, e.invoice_id, (key, "disputed", recorded, None, eid, None))
            case i.InvoiceRejected():
                self._entity(self.invoices, e.invoice_id, (key, "rejected", recorded, None, eid, None))
            case i.CreditNoteReceived():
                self._entity(self.invoices, e.invoice_id, (key, "credit", e.issued_on, e.net.amount, eid, None))
            case i.InvoicePaid():
                row = (key, "paid", e.paid_on, e.total_paid.amount, eid, e.fully_paid)
                self._entity(self.invoices, e.invoice_id, row)
            case r.ResourceAllocated() | r.AllocationChanged() | r.AllocationEnded():
                extra = {
                    "resource": str(e.resource_id),
                    "from": None if e.weeks_from is None else e.weeks_from.isoformat(),
                    "to": None if e.weeks_to is None else e.weeks_to.isoformat(),
                    "over": [[w.week, str(w.over_hours)] for w in e.over_allocation],
                }
                insort(self.allocations, (key, "allocation", None, None, eid, extra))

    @staticmethod
    def _entity(entities: dict[str, list[Row]], entity_id: UUID, row: Row) -> None:
        insort(entities.setdefault(str(entity_id), []), row)

    def _first_registration(self) -> Key | None:
        return self.registrations[0][0] if self.registrations else None

    def _cost(self, row: Row) -> None:
        first = self._first_registration()
        if first is None or row[0] < first:
            insort(self.pending, row)  # the ledger has no currency for it (yet)
            return
        _key, category, day, amount, eid, (currency, _, resource) = row
        assert day is not None and amount is not None and eid is not None  # built so in _apply
        if category == "reversal":  # its sheet's category, known from an approval the ledger counted (or labour)
            category = self.resource_categories.get(resource, "labour")
        elif currency == self.registrations[-1][5]["currency"]:
            self.resource_categories[resource] = category
        days = self.costs.setdefault(currency, [])
        iso = day.isoformat()  # ISO dates sort as the dates do
        index = bisect_right(days, iso, key=lambda d: d[0])
        if index == 0 or days[index - 1][0] != iso:
            before = days[index - 1] if index else None
            days.insert(index, [iso, dict(before[1]) if before else {}, before[2] if before else 0, []])
        else:
            index -= 1
        today = days[index]
        today[3] = [*today[3], [str(eid), str(amount)]][-EVIDENCE_PER_DAY:]
        for later in days[index:]:
            later[1][category] = str(Decimal(later[1].get(category, "0")) + amount)
            later[2] += 1

    def _release_pending(self) -> None:
        first = self._first_registration()
        assert first is not None
        waiting, self.pending = self.pending, []
        for row in waiting:
            self._cost(row) if row[0] > first else self.pending.append(row)

    # ---- reading --------------------------------------------------------------------------------------------------

    def at(self, as_of: date) -> ProjectBook:
        """The project's books on ``as_of``: the same as the ledger's fold of the same facts on that date."""
        bk = ProjectBook(project_id=self.project_id)
        self._identity(bk, as_of)
        self._budget(bk, as_of)
        bk.milestones = {
            UUID(k): m for k, m in _ordered(self._milestone(k, rows, as_of) for k, rows in self.milestones.items())
        }
        self._reports(bk, as_of)
        bk.kpis = {UUID(k): x for k, x in _ordered(self._kpi(k, rows, as_of) for k, rows in self.kpis.items())}
        bk.follow_ups = {
            UUID(k): x for k, x in _ordered((*_follow_up(rows, as_of), k) for k, rows in self.follow_ups.items())
        }
        bk.commitments = {
            UUID(k): x for k, x in _ordered(_commitment(k, rows, as_of) for k, rows in self.commitments.items())
        }
        bk.tranches = {UUID(k): x for k, x in _ordered(_tranche(k, rows, as_of) for k, rows in self.tranches.items())}
        first = self._first_registration()
        bk.invoices = {
            UUID(k): x
            for k, x in _ordered(_invoice(k, rows, as_of, bk.currency, first) for k, rows in self.invoices.items())
        }
        for row in self.allocations:
            x = row[5]
            apply_allocation(
                bk,
                UUID(x["resource"]),
                None if x["from"] is None else date.fromisoformat(x["from"]),
                None if x["to"] is None else date.fromisoformat(x["to"]),
                [(w, Decimal(h)) for w, h in x["over"]],
                row[4],  # type: ignore[arg-type]
            )
        self._work(bk, as_of)
        return bk

    def _identity(self, bk: ProjectBook, as_of: date) -> None:
        events = sorted([*self.registrations, *self.lifecycle], key=lambda row: row[0])
        for _, kind, day, _, _, extra in events:
            assert day is not None
            if kind == "registered":
                bk.code, bk.name, bk.currency = extra["code"], extra["name"], extra["currency"]
                bk.portfolio_id, bk.programme_id = extra["portfolio_id"], extra["programme_id"]
                bk.planned_start = date.fromisoformat(extra["planned_start"])
                bk.planned_end = date.fromisoformat(extra["planned_end"])
                bk.status, bk.registered_on = "proposed", day
            elif day <= as_of:
                if kind in ("started", "resumed"):
                    bk.status, bk.active_since = "active", day
                else:
                    bk.status = kind

    def _budget(self, bk: ProjectBook, as_of: date) -> None:
        changes: list[Amount] = []
        for _, kind, day, amount, eid, extra in self.budget:
            assert day is not None and amount is not None and eid is not None
            if kind == "baseline":
                bk.baseline = Amount(amount, eid, day, "baseline")
                bk.category_budgets = {c: Decimal(a) for c, a in extra}
            elif day <= as_of:
                changes.append(Amount(amount, eid, day, extra[0]))
                bk.category_budgets[extra[0]] = Decimal(extra[1])
        bk.changes_total = sum((a.value for a in changes), Decimal(0))
        bk.change_count = len(changes)
        bk.change_evidence = changes[-EVIDENCE:]

    def _milestone(self, key: str, rows: list[Row], as_of: date) -> tuple[Key | None, MilestoneBook | None, str]:
        m: MilestoneBook | None = None
        created: Key | None = None
        for k, kind, day, amount, eid, extra in rows:
            assert day is not None and eid is not None
            if kind == "planned":
                assert amount is not None
                m = MilestoneBook(UUID(key), extra, day, amount, eid)
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
        return created, m, key

    def _reports(self, bk: ProjectBook, as_of: date) -> None:
        index = bisect_right(self.reports, as_of, key=lambda row: row[0])
        if not index:
            return
        if self._latest_report is None:
            latest, best = [], 0
            for n, row in enumerate(self.reports):
                best = n if row[1] > self.reports[best][1] else best
                latest.append(best)
            self._latest_report = latest
        last = self.reports[self._latest_report[index - 1]]
        bk.last_report_on = self.reports[index - 1][0]
        bk.last_report_rag, bk.last_report_event = last[2], last[3]
        bk.report_count = index

    def _kpi(self, key: str, rows: list[Row], as_of: date) -> tuple[Key | None, KpiBook | None, str]:
        kpi: KpiBook | None = None
        created: Key | None = None
        for k, kind, day, amount, eid, extra in rows:
            assert amount is not None and eid is not None
            if kind == "defined":
                name, unit, direction, review = extra
                kpi = KpiBook(UUID(key), name, unit, amount, direction, date.fromisoformat(review))
                created = created or k
            elif kpi is not None and day is not None and day <= as_of:
                if kpi.latest is None or day > kpi.latest[0]:
                    kpi.latest = (day, amount, bool(extra), eid)
                kpi.measured += 1
        return created, kpi, key

    def _work(self, bk: ProjectBook, as_of: date) -> None:
        days = self.costs.get(bk.currency, []) if bk.currency else []
        index = bisect_right(days, as_of.isoformat(), key=lambda d: d[0])
        if not index:
            return
        bk.work_cost = {category: Decimal(v) for category, v in days[index - 1][1].items()}
        bk.cost_count = days[index - 1][2]
        evidence: list[list[str]] = []
        for n in range(index - 1, -1, -1):
            evidence[:0] = [[days[n][0], eid, v] for eid, v in days[n][3]]
            if len(evidence) >= EVIDENCE:
                break
        bk.cost_evidence = [
            Amount(Decimal(v), UUID(eid), date.fromisoformat(on), "reversal" if v.startswith("-") else "work sheet")
            for on, eid, v in evidence[-EVIDENCE:]
        ]

    # ---- storing --------------------------------------------------------------------------------------------------

    def to_json(self) -> str:
        """Compact JSON (Decimals, dates and ids as strings) that :meth:`from_json` reads back equal."""
        return json.dumps(
            {
                "project_id": str(self.project_id),
                "per_service": self.per_service,
                "registrations": _rows_out(self.registrations),
                "lifecycle": _rows_out(self.lifecycle),
                "budget": _rows_out(self.budget),
                "allocations": _rows_out(self.allocations),
                **{name: _entities_out(getattr(self, name)) for name in ENTITIES},
                "reports": [[d.isoformat(), list(k), rag, str(eid)] for d, k, rag, eid in self.reports],
                "costs": self.costs,
                "pending": _rows_out(self.pending),
                "resource_categories": self.resource_categories,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | Mapping[str, Any]) -> Books:
        data = json.loads(raw) if isinstance(raw, str) else raw
        return cls(
            project_id=UUID(data["project_id"]),
            per_service=dict(data.get("per_service", {})),
            registrations=_rows_in(data["registrations"]),
            lifecycle=_rows_in(data["lifecycle"]),
            budget=_rows_in(data["budget"]),
            allocations=_rows_in(data["allocations"]),
            reports=[(date.fromisoformat(d), (k[0], k[1], k[2]), rag, UUID(eid)) for d, k, rag, eid in data["reports"]],
            costs=data["costs"],
            pending=_rows_in(data["pending"]),
            resource_categories=dict(data["resource_categories"]),
            milestones=_entities_in(data["milestones"]),
            kpis=_entities_in(data["kpis"]),
            follow_ups=_entities_in(data["follow_ups"]),
            commitments=_entities_in(data["commitments"]),
            tranches=_entities_in(data["tranches"]),
            invoices=_entities_in(data["invoices"]),
        )


ENTITIES = ("milestones", "kpis", "follow_ups", "commitments", "tranches", "invoices")


def _row_out(row: Row) -> list[Any]:
    key, kind, day, amount, eid, extra = row
    return [
        list(key),
        kind,
        None if day is None else day.isoformat(),
        None if amount is None else str(amount),
        None if eid is None else str(eid),
        extra,
    ]


def _row_in(raw: list[Any]) -> Row:
    key, kind, day, amount, eid, extra = raw
    return (
        (key[0], key[1], key[2]),
        kind,
        None if day is None else date.fromisoformat(day),
        None if amount is None else Decimal(amount),
        None if eid is None else UUID(eid),
        extra,
    )


def _rows_out(rows: list[Row]) -> list[list[Any]]:
    return [_row_out(row) for row in rows]


def _rows_in(rows: list[list[Any]]) -> list[Row]:
    return [_row_in(row) for row in rows]


def _entities_out(entities: dict[str, list[Row]]) -> dict[str, list[list[Any]]]:
    return {k: _rows_out(rows) for k, rows in entities.items()}


def _entities_in(entities: dict[str, list[list[Any]]]) -> dict[str, list[Row]]:
    return {k: _rows_in(rows) for k, rows in entities.items()}


def _ordered(folded: Iterable[tuple[Key | None, Any, str]]) -> list[tuple[str, Any]]:
    """Entities that exist on the date, in the order the ledger's fold first created them."""
    present = [(created, key, x) for created, x, key in folded if created is not None and x is not None]
    return [(key, x) for _, key, x in sorted(present, key=lambda t: t[0])]


def _follow_up(rows: list[Row], as_of: date) -> tuple[Key | None, tuple[date, date | None, UUID] | None]:
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


def _commitment(key: str, rows: list[Row], as_of: date) -> tuple[Key | None, CommitmentBook | None, str]:
    c: CommitmentBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert day is not None and eid is not None
        if day > as_of:
            continue
        if kind == "committed":
            assert amount is not None
            expected = [(date.fromisoformat(on), Decimal(v)) for on, v in extra["expected"]]
            c = CommitmentBook(UUID(key), extra["category"], amount, expected, True, eid, extra["reference"])
            created = created or k
        elif c is not None and kind == "adjusted":
            assert amount is not None
            c.amount, c.expected = amount, [(date.fromisoformat(on), Decimal(v)) for on, v in extra]
        elif c is not None and kind == "cancelled":
            c.active = False
    return created, c, key


def _tranche(key: str, rows: list[Row], as_of: date) -> tuple[Key | None, TrancheBook | None, str]:
    t: TrancheBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, _ in rows:
        assert day is not None and eid is not None
        if kind == "secured":
            assert amount is not None
            t, created = TrancheBook(UUID(key), amount, day, None, eid), created or k
        elif t is not None and kind == "rescheduled":
            t.available_on = day
        elif t is not None and kind == "withdrawn" and day <= as_of:
            t.withdrawn_on = day
    return created, t, key


def _invoice(
    key: str, rows: list[Row], as_of: date, currency: str, registered: Key | None
) -> tuple[Key | None, InvoiceBook | None, str]:
    x: InvoiceBook | None = None
    created: Key | None = None
    for k, kind, day, amount, eid, extra in rows:
        assert day is not None and eid is not None
        if day > as_of:
            continue
        if kind == "received":
            assert amount is not None
            if registered is None or k < registered or extra["currency"] != currency:
                continue
            x = InvoiceBook(
                UUID(key),
                extra["vendor"],
                extra["number"],
                date.fromisoformat(extra["due_on"]),
                amount,
                Decimal(extra["total"]),
                eid,
                extra["reference"],
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
            x.credited_net += amount
        elif kind == "paid":
            assert amount is not None
            x.paid, x.fully_paid, x.paid_event = amount, bool(extra), eid
            x.status = "paid" if extra else "partly_paid"
    return created, x, key
