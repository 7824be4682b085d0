"""The approved costs of a project kept as cumulative sums per day (per currency, kind of cost and category), with
the latest event ids of each day as evidence; read back for any date by bisecting."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from reporting.domain.books.keys import Key, entity_id
from reporting.domain.ledger import Amount, ProjectBook

EVIDENCE = 20
"""Events kept behind a summed figure (the latest ones); the explain endpoint folds the ledger to list them all."""
EVIDENCE_PER_DAY = 5

CostDay = list[Any]
"""Approved cost up to and including a day, kept as read from JSON (decoded only where ``at`` needs it):
``[day (ISO), {kind and category: cumulative amount}, cumulative count, [[event id, amount, kind, *order key], ...] (the
day's latest by order key)]``. The day's latest are chosen and ordered by the facts' order keys, not by when they
arrived: a replay, or a consumer that received one service's topic ahead of another's, keeps the same ones."""
EXPENSE, GOODS, CASH = "expense:", "goods:", "cash:"
"""Prefixes of the cumulative sums of approved expenses, goods received and cash paid (work sheets: none)."""
REIMBURSED = CASH + "expense"


def accumulate(days: list[CostDay], category: str, day: date, amount: Decimal, event_id: UUID, key: Key) -> None:
    """Add ``amount`` of ``category`` (work sheets: the cost category; else prefixed by its kind) on ``day`` to one
    currency's cumulative sums: that day's and every later day's. Cash paid is summed but neither counted nor kept
    as evidence; the day's evidence keeps the :data:`EVIDENCE_PER_DAY` latest by order key (``key``: the fact's)."""
    cash = category.startswith(CASH)
    iso = day.isoformat()  # ISO dates sort as the dates do
    index = bisect_right(days, iso, key=lambda d: d[0])
    if index == 0 or days[index - 1][0] != iso:
        before = days[index - 1] if index else None
        days.insert(index, [iso, dict(before[1]) if before else {}, before[2] if before else 0, []])
    else:
        index -= 1
    today = days[index]
    if not cash:
        kind = "expense" if category.startswith(EXPENSE) else "goods" if category.startswith(GOODS) else "work"
        kept = [*today[3], [str(event_id), str(amount), kind, *key]]
        kept.sort(key=lambda entry: entry[3:])  # books stored before the keys were kept: theirs sort first
        today[3] = kept[-EVIDENCE_PER_DAY:]
    for later in days[index:]:
        later[1][category] = str(Decimal(later[1].get(category, "0")) + amount)
        later[2] += 0 if cash else 1


def read_costs(
    bk: ProjectBook,
    costs: dict[str, list[CostDay]],
    as_of: date,
    evidence_read: dict[tuple[str, int], list[Amount]] | None = None,
) -> None:
    """Set ``bk``'s costs (work sheets, expenses, goods, reimbursed), their count and their latest evidence to the
    sums on ``as_of`` in the project's currency. ``evidence_read``: the evidence already read up to a day of the
    costs, by currency and day (kept by the books until a fact is applied); shared: read-only."""
    days = costs.get(bk.currency, []) if bk.currency else []
    index = bisect_right(days, as_of.isoformat(), key=lambda d: d[0])
    if not index:
        return
    for category, v in days[index - 1][1].items():
        if category.startswith(EXPENSE):
            bk.expense_cost[category.removeprefix(EXPENSE)] = Decimal(v)
        elif category.startswith(GOODS):
            bk.goods_cost[category.removeprefix(GOODS)] = Decimal(v)
        elif category == REIMBURSED:
            bk.expenses_reimbursed = Decimal(v)
        else:
            bk.work_cost[category] = Decimal(v)
    bk.cost_count = days[index - 1][2]
    kept_read = None if evidence_read is None else evidence_read.get((bk.currency, index))
    if kept_read is not None:
        bk.cost_evidence = kept_read
        return
    evidence: list[list[str]] = []
    for n in range(index - 1, -1, -1):
        evidence[:0] = [[days[n][0], *kept] for kept in days[n][3]]
        if len(evidence) >= EVIDENCE:
            break
    bk.cost_evidence = [_evidence(kept) for kept in evidence[-EVIDENCE:]]
    if evidence_read is not None:
        evidence_read[(bk.currency, index)] = bk.cost_evidence


def _evidence(kept: list[Any]) -> Amount:
    """A cost's evidence as a day keeps it: ``[day, event id, amount]``, then its kind (since expenses and goods) and
    its order key (since the evidence is kept by key)."""
    on, eid, value, *kind = kept
    what = kind[0] if kind else "work"
    label = {"work": "work sheet", "expense": "expense", "goods": "goods receipt"}[what]
    if value.startswith("-"):
        label += " reversed"
    return Amount(Decimal(value), entity_id(eid), date.fromisoformat(on), label)
