"""The books as compact JSON (Decimals, dates and ids as strings), read back equal: how the read model stores them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from reporting.domain.books.keys import Row

if TYPE_CHECKING:
    from reporting.domain.books.book import Books

ENTITIES = ("milestones", "kpis", "follow_ups", "commitments", "tranches", "invoices")


def to_json(books: Books) -> str:
    """``books`` as compact JSON that :func:`from_json` reads back equal."""
    return json.dumps(
        {
            "project_id": str(books.project_id),
            "per_service": books.per_service,
            "registrations": _rows_out(books.registrations),
            "lifecycle": _rows_out(books.lifecycle),
            "budget": _rows_out(books.budget),
            "allocations": _rows_out(books.allocations),
            **{name: _entities_out(getattr(books, name)) for name in ENTITIES},
            "reports": [[d.isoformat(), list(k), rag, str(eid)] for d, k, rag, eid in books.reports],
            "costs": books.costs,
            "pending": _rows_out(books.pending),
            "resource_categories": books.resource_categories,
            "pmb": _rows_out(books.pmb),
            "estimates": _rows_out(books.estimates),
            "foreign": _rows_out(books.foreign),
            "claims": books.claims,
            "receipts": books.receipts,
        },
        separators=(",", ":"),
    )


def from_json(cls: type[Books], raw: str | Mapping[str, Any]) -> Books:
    """The books (of class ``cls``) that :func:`to_json` wrote, or its parsed JSON."""
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
        pmb=_rows_in(data.get("pmb", [])),  # books stored before these parts existed have none
        estimates=_rows_in(data.get("estimates", [])),
        foreign=_rows_in(data.get("foreign", [])),
        claims=dict(data.get("claims", {})),
        receipts=dict(data.get("receipts", {})),
        milestones=_entities_in(data["milestones"]),
        kpis=_entities_in(data["kpis"]),
        follow_ups=_entities_in(data["follow_ups"]),
        commitments=_entities_in(data["commitments"]),
        tranches=_entities_in(data["tranches"]),
        invoices=_entities_in(data["invoices"]),
    )


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
