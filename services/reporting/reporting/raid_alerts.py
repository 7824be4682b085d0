"""The RAID alert conditions of one project (the use case the evaluator runs beside the other rules): its RAID book,
the remaining budget from its figures and, for its dependencies, the providers' milestones from their books; the
rules themselves are :func:`reporting.domain.raid.conditions`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Protocol

from reporting.domain import raid
from reporting.domain.books import Books
from reporting.domain.evm import Evm
from reporting.domain.ledger import ProjectBook
from reporting.domain.rules import Condition

CLOSED = ("completed", "terminated")


class RaidReads(Protocol):
    """What the RAID conditions read (:class:`reporting.queries.Ledger`)."""

    async def books_of(self, project_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, Books]: ...


def remaining_budget(figures: Evm) -> Decimal | None:
    """BAC - AC, or None without a budget."""
    bac = figures.value("bac")
    if bac is None:
        return None
    return bac - (figures.value("ac") or Decimal(0))


async def raid_conditions(
    facts: RaidReads,
    project_id: uuid.UUID,
    books: ProjectBook,
    figures: Evm,
    as_of: date,
    share: Decimal,
    book: raid.RaidBook | None,
) -> list[Condition]:
    """The RAID alert conditions that hold for the project as of ``as_of`` (none once it is completed or
    terminated: its alerts then clear); ``book``: its RAID book, read with the pass's other projects' (None: it has
    none)."""
    if books.status in CLOSED:
        return []
    if book is None:
        return []
    wanted = {
        uuid.UUID(d.provider_project_id)
        for d in book.dependencies.values()
        if d.status == "open" and d.provider_milestone_id is not None
    }
    providers = {str(p): b.at(as_of) for p, b in (await facts.books_of(sorted(wanted))).items()} if wanted else {}

    def milestone_of(provider_id: str, milestone_id: str) -> raid.ProviderMilestone | None:
        provider = providers.get(provider_id)
        milestone = provider.milestones.get(uuid.UUID(milestone_id)) if provider is not None else None
        if milestone is None:
            return None
        return raid.ProviderMilestone(
            milestone.name, milestone.due_date, milestone.reached_on is not None, milestone.missed
        )

    return raid.conditions(
        book,
        as_of,
        remaining_budget=remaining_budget(figures),
        currency=books.currency,
        share=share,
        milestone_of=milestone_of,
    )
