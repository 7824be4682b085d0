"""The reporting service's use cases against in-memory fakes: reports on both time axes, the portfolio report's
memory of lines, alert thresholds and the evaluator's raise and clear."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest

from reporting import handlers
from reporting.domain.books import Books
from reporting.domain.ledger import Fact
from reporting.domain.rules import Thresholds
from shared.contracts.alerts import AlertCleared, AlertRaised, AlertThresholdsChangeRequested, AlertThresholdsSet
from shared.errors import InvalidCommandError, NotFoundError
from tests.fakes import InMemoryExecutor, acting_as
from tests.reporting_support import PID, baseline, milestone, registered, started, work

DAY = date(2027, 3, 1)


class FakeFacts:
    """:class:`reporting.handlers.ReportingFacts` over facts held in memory; counts the books it loads."""

    def __init__(self, facts: Sequence[Fact] = (), open_alerts: set[tuple[str, str]] | None = None) -> None:
        self.ledger = {PID: list(facts)} if facts else {}
        self.open = {PID: open_alerts} if open_alerts else {}
        self.books_loaded: list[uuid.UUID] = []

    async def facts(self, project_id: uuid.UUID, known_at: datetime | None = None) -> list[Fact]:
        return (await self.facts_of([project_id], known_at)).get(project_id, [])

    async def facts_of(
        self, project_ids: Sequence[uuid.UUID] | None, known_at: datetime | None = None
    ) -> dict[uuid.UUID, list[Fact]]:
        return {
            pid: [f for f in facts if known_at is None or f.recorded_at <= known_at]
            for pid, facts in self.ledger.items()
            if project_ids is None or pid in project_ids
        }

    async def books_of(self, project_ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, Books]:
        out = {}
        for pid, facts in (await self.facts_of(project_ids)).items():
            self.books_loaded.append(pid)
            books = out[pid] = Books(pid)
            for f in facts:
                books.apply(f)
        return out

    async def book_versions(self) -> dict[uuid.UUID, int]:
        return {pid: len(facts) for pid, facts in self.ledger.items()}

    async def thresholds(self, portfolio_id: str | None) -> Thresholds:
        return Thresholds()

    async def open_alerts_of(self, project_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[tuple[str, str]]]:
        return {pid: set(v) for pid, v in self.open.items() if pid in project_ids}

    async def resource_facts(self, known_at: datetime | None, *, sheets: bool = True) -> list[Fact]:
        return []

    async def approved_hours(self, weeks: Sequence[str], known_at: datetime | None) -> dict[tuple[uuid.UUID, str], Any]:
        return {}

    async def resource_events(self, resource_id: uuid.UUID, known_at: datetime | None) -> list[Any]:
        return []


def now() -> datetime:
    return datetime(2027, 3, 1, 12, tzinfo=UTC)


def a_project_over_budget() -> list[Fact]:
    return [
        registered(),
        started(),
        baseline("1000.00"),
        milestone(1, "1000.00", date(2027, 6, 30)),
        work("900.00", date(2027, 2, 1)),
    ]


async def test_a_report_on_an_unknown_project_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        await handlers.project_report(FakeFacts(), now, PID, DAY, None)


async def test_a_report_as_known_before_the_registration_says_so() -> None:
    with pytest.raises(NotFoundError, match="registered after"):
        await handlers.project_report(FakeFacts([registered()]), now, PID, DAY, datetime(2027, 1, 1, tzinfo=UTC))


async def test_a_moment_in_the_future_cannot_have_been_known() -> None:
    with pytest.raises(InvalidCommandError):
        await handlers.project_report(FakeFacts([registered()]), now, PID, DAY, datetime(2027, 3, 2, tzinfo=UTC))


async def test_a_project_report_names_the_project_and_its_figures() -> None:
    day, report = await handlers.project_report(FakeFacts(a_project_over_budget()), now, PID, None, None)
    assert day == DAY
    assert (report["code"], report["currency"], report["as_of"]) == ("CRM", "EUR", "2027-03-01")
    assert report["figures"]["ac"]["value"] == "900.00"


async def test_the_portfolio_report_reads_again_only_books_that_changed() -> None:
    facts = FakeFacts(a_project_over_budget())
    memo: dict[Any, Any] = {}
    first = await handlers.portfolio_report(
        facts, now, memo, as_of=DAY, portfolio_id=None, programme_id=None, known_at=None
    )
    again = await handlers.portfolio_report(
        facts, now, memo, as_of=DAY, portfolio_id=None, programme_id=None, known_at=None
    )
    assert first == again
    assert facts.books_loaded == [PID]
    assert [row["code"] for row in first[1]] == ["CRM"]


async def test_looser_thresholds_wait_for_a_second_person() -> None:
    executor = InMemoryExecutor()
    values = {**Thresholds().as_dict(), "cpi_below": "0.5"}
    outcome = await handlers.set_thresholds(executor, acting_as("pia"), "digital", values)
    assert [type(e) for e in executor.appended("thresholds-digital")] == [AlertThresholdsChangeRequested]
    assert outcome.body["change_requested"]["requested_by"] == "pia"
    await handlers.approve_thresholds(executor, acting_as("olaf"), "digital")
    assert type(executor.appended("thresholds-digital")[-1]) is AlertThresholdsSet


async def test_evaluating_raises_the_conditions_that_hold_and_clears_those_that_ended() -> None:
    executor = InMemoryExecutor()
    appended = await handlers.evaluate(executor, FakeFacts(a_project_over_budget()), PID, DAY)
    raised = {(e.rule, e.subject) for events in executor.streams.values() for e in events if isinstance(e, AlertRaised)}
    assert raised and appended >= len(raised)
    ended = FakeFacts(a_project_over_budget()[:2], open_alerts=raised)  # its budget and cost no longer known
    await handlers.evaluate(executor, ended, PID, DAY)
    assert any(isinstance(e, AlertCleared) for events in executor.streams.values() for e in events)


async def test_evaluating_a_project_without_facts_appends_nothing() -> None:
    assert await handlers.evaluate(InMemoryExecutor(), FakeFacts(), PID, DAY) == 0
