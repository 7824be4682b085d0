"""The reporting service's use cases against in-memory fakes: reports on both time axes, the portfolio report's
memory of lines, alert thresholds and the evaluator's raise and clear."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from reporting import handlers, views
from reporting.domain.books import Books
from reporting.domain.ledger import Fact
from reporting.domain.raid import RaidBook
from reporting.domain.rules import Thresholds
from shared.contracts.alerts import AlertCleared, AlertRaised, AlertThresholdsChangeRequested, AlertThresholdsSet
from shared.errors import InvalidCommandError, NotFoundError
from tests.support.fakes import InMemoryExecutor, acting_as
from tests.support.reporting import PID, baseline, for_project, milestone, progress, registered, started, work

DAY = date(2027, 3, 1)


class FakeFacts:
    """:class:`reporting.handlers.ReportingFacts` over facts held in memory; counts the books it loads."""

    def __init__(
        self,
        facts: Sequence[Fact] = (),
        open_alerts: set[tuple[str, str]] | None = None,
        *,
        others: Mapping[uuid.UUID, Sequence[Fact]] | None = None,
        rates: Mapping[tuple[str, str], Decimal] | None = None,
    ) -> None:
        self.ledger = {PID: list(facts)} if facts else {}
        self.ledger.update({pid: list(f) for pid, f in (others or {}).items()})
        self.open = {PID: open_alerts} if open_alerts else {}
        self.books_loaded: list[uuid.UUID] = []
        self.raid_reads: list[list[uuid.UUID]] = []
        self.rates = dict(rates or {})

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

    async def books_known_at(self, project_id: uuid.UUID, known_at: datetime) -> Books | None:
        known = await self.facts(project_id, known_at)
        return Books.of(project_id, known) if known else None

    async def book_versions(self) -> dict[uuid.UUID, int]:
        return {pid: len(facts) for pid, facts in self.ledger.items()}

    async def raid_books_of(self, project_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RaidBook]:
        self.raid_reads.append(list(project_ids))
        return {}  # no RAID log in these projects: the RAID rules have their own tests (test_raid_reporting)

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

    async def rate(self, base: str, quote: str, on: date) -> Decimal | None:
        return self.rates.get((base, quote))


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


async def test_an_evaluation_pass_reads_the_raid_books_of_all_its_projects_at_once() -> None:
    facts = FakeFacts(
        a_project_over_budget(), others={USD_PROJECT: elsewhere(USD_PROJECT, "USD", a_project_over_budget())}
    )
    executor, chunk = InMemoryExecutor(), [PID, USD_PROJECT]
    loaded = await handlers.load_pass(facts, chunk)
    for project_id in chunk:
        await handlers.evaluate(executor, facts, project_id, DAY, loaded)
    assert facts.raid_reads == [chunk]  # one read for the pass, none per project


async def test_evaluating_a_project_without_facts_appends_nothing() -> None:
    assert await handlers.evaluate(InMemoryExecutor(), FakeFacts(), PID, DAY) == 0


def elsewhere(project_id: uuid.UUID, currency: str, facts: Sequence[Fact]) -> list[Fact]:
    """``facts`` (of the builders, in EUR) for another project, in ``currency``."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (currency if k == "currency" else walk(v)) for k, v in value.items()}
        return [walk(v) for v in value] if isinstance(value, list) else value

    return [replace(f, data=walk(for_project(f, project_id, f.recorded_at).data)) for f in facts]


USD_PROJECT, JPY_PROJECT = uuid.UUID(int=2), uuid.UUID(int=3)


def three_currencies(rates: Mapping[tuple[str, str], Decimal]) -> FakeFacts:
    """EUR: BAC 1,000, AC 900, EV 0. USD: BAC 2,000, AC 500, EV 500 (M1 of 2,000 at 25 %). JPY: BAC 100,000."""
    usd = [
        registered(),
        started(),
        baseline("2000"),
        milestone(1, "2000", date(2027, 6, 30)),
        progress(1, "25", date(2027, 2, 1)),
        work("500", date(2027, 2, 1)),
    ]
    jpy = [registered(), started(), baseline("100000")]
    return FakeFacts(
        a_project_over_budget(),
        others={USD_PROJECT: elsewhere(USD_PROJECT, "USD", usd), JPY_PROJECT: elsewhere(JPY_PROJECT, "JPY", jpy)},
        rates=rates,
    )


async def test_the_portfolio_rolls_up_in_its_reporting_currency_at_the_rates_in_force() -> None:
    facts = three_currencies({("USD", "EUR"): Decimal("0.9")})
    _, rows, answer = await handlers.portfolio_report(
        facts, now, None, as_of=DAY, portfolio_id=None, programme_id=None, known_at=None, currency="EUR"
    )
    rollup = answer["rollup"]
    # BAC 1,000 + 2,000 x 0.9; AC 900 + 500 x 0.9; EV 0 + 500 x 0.9; CPI 450 / 1,350
    assert (rollup["currency"], rollup["projects"]) == ("EUR", 2)
    assert (rollup["bac"], rollup["ac"], rollup["ev"], rollup["pv"]) == ("2800.00", "1350.00", "450.00", "0.00")
    assert (rollup["cpi"], rollup["spi"]) == ("0.3333", None)
    assert rollup["rates"] == [{"from": "USD", "to": "EUR", "rate": "0.9"}]
    assert [(x["project_id"], x["currency"]) for x in rollup["unconverted"]] == [(str(JPY_PROJECT), "JPY")]
    assert "no JPY-EUR exchange rate in force on 2027-03-01" in rollup["unconverted"][0]["reason"]
    by_currency = {r["currency"]: r for r in rows}
    assert (by_currency["USD"]["exchange_rate"], by_currency["USD"]["bac_reporting"]) == ("0.9", "1800.00")
    assert (by_currency["EUR"]["exchange_rate"], by_currency["EUR"]["bac_reporting"]) == ("1", "1000.00")
    assert (by_currency["JPY"]["exchange_rate"], by_currency["JPY"]["bac_reporting"]) == (None, None)
    assert {t["currency"] for t in answer["totals"]} == {"EUR", "USD", "JPY"}  # per currency, as before


async def test_another_reporting_currency_converts_what_it_has_rates_for_and_lists_the_rest() -> None:
    facts = three_currencies({("USD", "EUR"): Decimal("0.9"), ("JPY", "USD"): Decimal("0.0067")})
    _, _, answer = await handlers.portfolio_report(
        facts, now, None, as_of=DAY, portfolio_id=None, programme_id=None, known_at=None, currency="USD"
    )
    rollup = answer["rollup"]
    # USD 2,000 + JPY 100,000 x 0.0067 = 670 ; the EUR project has no EUR-USD rate
    assert (rollup["bac"], rollup["projects"]) == ("2670.00", 2)
    assert [x["currency"] for x in rollup["unconverted"]] == ["EUR"]


async def test_a_reporting_currency_that_is_not_iso_4217_is_refused_naming_currency() -> None:
    with pytest.raises(InvalidCommandError) as refused:
        await handlers.portfolio_report(
            FakeFacts(), now, None, as_of=DAY, portfolio_id=None, programme_id=None, known_at=None, currency="XXX"
        )
    assert refused.value.field == "currency"


async def test_every_evm_figure_is_in_the_report_and_can_be_explained() -> None:
    _, report = await handlers.project_report(FakeFacts(a_project_over_budget()), now, PID, None, None)
    assert set(report["figures"]) == set(views.FIGURES)
    assert report["figures"]["eac_bottom_up"] == {
        "value": None,
        "kind": "money",
        "reason": "no estimate to complete submitted yet",
    }
    explained = await handlers.explain_figure(FakeFacts(a_project_over_budget()), now, PID, "tcpi_bottom_up", DAY, None)
    assert explained["value"] is None and explained["reason"] == "no estimate to complete submitted yet"


async def test_the_report_says_when_the_plan_and_the_budget_disagree() -> None:
    _, agreeing = await handlers.project_report(FakeFacts(a_project_over_budget()), now, PID, None, None)
    assert agreeing["plan_check"] is None  # milestones 1,000 = BAC 1,000
    short = [*a_project_over_budget()[:3], milestone(1, "800.00", date(2027, 6, 30))]
    _, disagreeing = await handlers.project_report(FakeFacts(short), now, PID, None, None)
    assert "does not match" in disagreeing["plan_check"] and "800" in disagreeing["plan_check"]
