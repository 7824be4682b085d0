"""Planned and earned value from the performance measurement baseline (PMB), technique by technique, with
hand-computed figures before, during and after each item's span; re-baselining; the plan check.

The techniques are the ones ANSI/EIA-748 (guideline 7, "objective indicators of accomplishment") and Primavera P6
("earned value techniques") name, as ``shared.contracts.projects.EvTechnique`` defines them:
0/100 (nothing until complete, all on completion), 50/50 (half at the start, half at completion), percent complete
(as the work reports it), weighted milestones (each step's weight when its step is reached), level of effort (earned
as planned, for support work without a product of its own). The planned value is phased the same way: on the due
date, half on the start and half on the due date, linearly by calendar day over the span (or by month), at each
step's date, linearly.

The plan used throughout (PMB v1, in force from 1 January 2027; total 47,000.00, reserve 9,000.00):

====  =====================  ========  ==========  ==========  ==============================================
item  technique              budget    start       due         phasing
====  =====================  ========  ==========  ==========  ==============================================
M1    0/100                  10000.00  2027-01-04  2027-01-31  all on 31 January
M2    50/50                   8000.00  2027-02-01  2027-02-28  4000 on 1 February, 4000 on 28 February
M3    percent complete        3100.00  2027-03-01  2027-03-31  100.00 a day (31 days)
M4    weighted milestones    20000.00  2027-03-01  2027-04-30  25 % (5000) on 10 March, 75 % on 30 April
M5    level of effort         5900.00  2027-01-01  2027-02-28  by month: January 3100 (100 a day), Feb. 2800
                                                               (100 a day)
====  =====================  ========  ==========  ==========  ==============================================
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import cast

import pytest

from reporting.domain.books import Books
from reporting.domain.evm import earned_value, evm, item_planned, plan_check, planned_value
from reporting.domain.ledger import Fact, ProjectBook, book
from reporting.domain.rules import Thresholds, conditions
from reporting.explanations import explain_planned_value
from reporting.handlers import ReportingFacts
from shared.contracts.projects import EvTechnique as T
from tests.support.reporting import (
    PID,
    baseline,
    budget_with_contingency,
    change,
    item,
    milestone,
    pmb,
    progress,
    reached,
    registered,
    rescheduled,
)

V1_ITEMS = [
    item(1, "10000.00", date(2027, 1, 4), date(2027, 1, 31), T.ZERO_HUNDRED),
    item(2, "8000.00", date(2027, 2, 1), date(2027, 2, 28), T.FIFTY_FIFTY),
    item(3, "3100.00", date(2027, 3, 1), date(2027, 3, 31), T.PERCENT_COMPLETE),
    item(
        4,
        "20000.00",
        date(2027, 3, 1),
        date(2027, 4, 30),
        T.WEIGHTED_MILESTONES,
        steps=[("25", date(2027, 3, 10)), ("75", date(2027, 4, 30))],
    ),
    item(
        5,
        "5900.00",
        date(2027, 1, 1),
        date(2027, 2, 28),
        T.LEVEL_OF_EFFORT,
        months=[("2027-01", "3100.00"), ("2027-02", "2800.00")],
    ),
]


def plan() -> list[Fact]:
    return [
        registered(),
        budget_with_contingency("50000.00", "3000.00"),
        *(milestone(n, "1000.00", date(2027, 6, 30)) for n in range(1, 6)),  # planned value in the list only
        pmb(1, date(2027, 1, 1), V1_ITEMS, reserve="9000.00", recorded=date(2027, 1, 2)),
    ]


def progressed() -> list[Fact]:
    """Progress to 10 March: M1 reached 30 January; M2 10 %; M3 20 %; M4 30 %; M5 none (it needs none)."""
    return [
        *plan(),
        reached(1, "1000.00", date(2027, 1, 30)),
        progress(2, "10", date(2027, 2, 5)),
        progress(3, "20", date(2027, 3, 9)),
        progress(4, "30", date(2027, 3, 10)),
    ]


def at(facts: list[Fact], on: date) -> ProjectBook:
    return book(PID, facts, on)


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2026, 12, 31), "0"),  # before every span
        (date(2027, 1, 15), "1500"),  # M5: 15 January days x 100
        (date(2027, 1, 31), "13100"),  # M1 10000 on its due date + M5 3100 (all January)
        (date(2027, 2, 1), "17200"),  # + M2's first half 4000 + M5 100
        (date(2027, 2, 28), "23900"),  # M1 10000 + M2 8000 + M5 5900
        (date(2027, 3, 10), "29900"),  # + M3 10 days x 100 + M4's first step 5000
        (date(2027, 3, 31), "32000"),  # M3 3100 whole + M4 5000
        (date(2027, 4, 29), "32000"),  # M4's second step is on 30 April
        (date(2027, 5, 1), "47000"),  # every item whole: BAC
    ],
)
def test_planned_value_is_phased_by_each_items_technique(on: date, expected: str) -> None:
    assert planned_value(at(plan(), on), on) == Decimal(expected)


def test_each_technique_plans_before_during_and_after_its_span() -> None:
    zero_hundred, fifty_fifty, percent, weighted, effort = at(plan(), date(2027, 1, 1)).pmb[0].items
    assert [item_planned(zero_hundred, d) for d in (date(2027, 1, 4), date(2027, 1, 30), date(2027, 1, 31))] == [
        0,
        0,
        Decimal("10000.00"),
    ]
    assert [item_planned(fifty_fifty, d) for d in (date(2027, 1, 31), date(2027, 2, 1), date(2027, 2, 28))] == [
        0,
        Decimal("4000.00"),
        Decimal("8000.00"),
    ]
    # Linear by calendar day, both ends included: 1 March is the first of 31 days.
    assert [item_planned(percent, d) for d in (date(2027, 2, 28), date(2027, 3, 1), date(2027, 3, 16))] == [
        0,
        Decimal("100.00"),
        Decimal("1600.00"),
    ]
    assert item_planned(percent, date(2027, 4, 1)) == Decimal("3100.00")
    assert [item_planned(weighted, d) for d in (date(2027, 3, 9), date(2027, 3, 10), date(2027, 4, 30))] == [
        0,
        Decimal("5000.00"),
        Decimal("20000.00"),
    ]
    # By month: 31 January = all of January's 3100; 14 February = 3100 + 14 x 100.
    assert item_planned(effort, date(2027, 1, 31)) == Decimal("3100.00")
    assert item_planned(effort, date(2027, 2, 14)) == Decimal("4500.00")


def test_a_months_amount_counts_over_its_days_within_the_items_span() -> None:
    """An item from 16 to 30 April phased 1500 in April: its April days are 15 (16-30), 100 a day; 1 May: whole."""
    only = item(6, "1500.00", date(2027, 4, 16), date(2027, 4, 30), months=[("2027-04", "1500.00")])
    (half_month,) = at([registered(), pmb(1, date(2027, 4, 1), [only])], date(2027, 4, 1)).pmb[0].items
    assert item_planned(half_month, date(2027, 4, 15)) == 0
    assert item_planned(half_month, date(2027, 4, 20)) == Decimal("500.00")  # 5 days x 100
    assert item_planned(half_month, date(2027, 5, 1)) == Decimal("1500.00")


def test_earned_value_by_technique() -> None:
    """EV on 10 March: M1 reached -> 10000 (0/100); M2 at 10 % -> 4000 (50/50: half once started); M3 at 20 % ->
    620; M4 at 30 % -> 5000 (25 % step reached, the 100 % one not); M5 -> its PV to date, 5900. Total 25520."""
    on = date(2027, 3, 10)
    books = at(progressed(), on)
    assert earned_value(books, on) == Decimal("25520")
    figures = evm(books, on)
    assert figures.value("pv") == Decimal("29900") and figures.value("ev") == Decimal("25520")
    assert figures["spi"].shown("EUR") == "0.8535"  # 25520 / 29900
    assert figures.value("bac") == Decimal("47000.00")
    assert figures.value("management_reserve") == Decimal("9000.00")
    assert [e.what for e in figures["ev"].evidence] == [
        "PMB v1: M1, 0/100, reached",
        "PMB v1: M2, 50/50, at 10 %",
        "PMB v1: M3, percent_complete, at 20 %",
        "PMB v1: M4, weighted_milestones, at 30 %",
        "PMB v1: M5, level_of_effort, earned as planned",
    ]


def test_zero_hundred_and_fifty_fifty_earn_nothing_before_they_start_and_everything_once_reached() -> None:
    on = date(2027, 2, 10)
    before = at([*plan(), progress(1, "90", date(2027, 1, 20))], on)  # 0/100: 90 % is still nothing
    assert earned_value(before, on) == Decimal("4100")  # only level of effort: January 3100 + 10 x 100
    done = at([*plan(), reached(1, "1", date(2027, 1, 30)), reached(2, "1", date(2027, 2, 9))], on)
    assert earned_value(done, on) == Decimal("22100")  # 10000 + 8000 + 4100


def test_weighted_milestones_earn_the_steps_within_the_reported_progress() -> None:
    on = date(2027, 3, 20)
    earned = {
        percent: earned_value(at([*plan(), progress(4, percent, on)], on), on) - Decimal("5900")  # minus M5
        for percent in ("24", "25", "99", "100")
    }
    assert earned == {"24": 0, "25": Decimal("5000"), "99": Decimal("5000"), "100": Decimal("20000")}


def test_level_of_effort_earns_as_planned_whatever_the_progress() -> None:
    on = date(2027, 1, 20)
    assert earned_value(at([*plan(), progress(5, "0", on)], on), on) == Decimal("2000")  # 20 days x 100
    assert earned_value(at([*plan(), progress(5, "90", on)], on), on) == Decimal("2000")


def test_a_reschedule_moves_the_forecast_never_the_planned_value() -> None:
    on = date(2027, 2, 15)
    moved = [*plan(), rescheduled(1, date(2027, 3, 31), date(2027, 1, 20))]
    assert at(moved, on).milestones[uuid.UUID(int=1)].due_date == date(2027, 3, 31)
    # M1 10000 + M2's first half 4000 + M5 January 3100 and 15 February days x 100
    assert planned_value(at(moved, on), on) == planned_value(at(plan(), on), on) == Decimal("18600")


def test_a_milestone_in_no_version_plans_and_earns_nothing_until_re_baselined() -> None:
    """M9 (7000, due 1 February) was planned after the PMB: no PV, no EV even once reached; the milestone list
    still shows its planned value."""
    on = date(2027, 2, 15)
    later = [*plan(), milestone(9, "7000.00", date(2027, 2, 1)), reached(9, "7000.00", date(2027, 2, 1))]
    books = at(later, on)
    assert planned_value(books, on) == planned_value(at(plan(), on), on)
    assert earned_value(books, on) == earned_value(at(plan(), on), on)
    assert books.milestones[uuid.UUID(int=9)].planned_value == Decimal("7000.00")


# --- re-baselining ------------------------------------------------------------------------------------------------

V2_ITEMS = [
    *V1_ITEMS[:2],
    item(3, "12000.00", date(2027, 3, 1), date(2027, 4, 29), T.PERCENT_COMPLETE),  # 60 days, 200 a day
    *V1_ITEMS[3:],
]


def rebaselined() -> list[Fact]:
    """v2, approved 16 March, in force from 15 March: M3 grows to 12000 over 60 days; 8800 of the reserve moves
    into the PMB (total 55900, reserve 200)."""
    return [*progressed(), pmb(2, date(2027, 3, 15), V2_ITEMS, reserve="200.00", recorded=date(2027, 3, 16))]


def test_planned_value_before_the_new_effective_date_is_unchanged() -> None:
    """On 14 March v1 is in force: 23900 + M3 14 x 100 + M4 5000 = 30300, with or without v2."""
    on = date(2027, 3, 14)
    before, after = evm(at(progressed(), on), on), evm(at(rebaselined(), on), on)
    assert {n: f.value for n, f in before.figures.items()} == {n: f.value for n, f in after.figures.items()}
    assert after.value("pv") == Decimal("30300") and after.value("bac") == Decimal("47000.00")


def test_after_the_new_effective_date_planned_value_comes_from_the_new_version() -> None:
    """On 15 March v2: PV = 23900 + M3 15 x 200 + M4 5000 = 31900; the original (v1): 23900 + 1500 + 5000 = 30400.
    EV = 10000 + 4000 + M3 20 % of 12000 = 2400 + 5000 + 5900 = 27300; SV = -4600, against v1 -3100."""
    on = date(2027, 3, 15)
    f = evm(at(rebaselined(), on), on)
    shown = {name: f[name].shown("EUR") for name in f.figures}
    assert (shown["bac"], shown["pv"], shown["ev"]) == ("55900.00", "31900.00", "27300.00")
    assert (shown["bac_original"], shown["pv_original"]) == ("47000.00", "30400.00")
    assert (shown["sv"], shown["sv_original"]) == ("-4600.00", "-3100.00")
    assert shown["management_reserve"] == "200.00"
    assert planned_value(at(rebaselined(), on), on, at(rebaselined(), on).pmb[0]) == Decimal("30400")


def test_without_a_pmb_the_original_figures_say_why() -> None:
    on = date(2027, 3, 15)
    f = evm(at([registered(), baseline("100.00")], on), on)
    assert f.value("bac_original") is None
    assert f["management_reserve"].reason == "no performance measurement baseline approved yet"


def test_the_books_read_every_version_as_the_ledger_does() -> None:
    facts = rebaselined()
    books = Books.of(PID, facts)
    for on in (date(2026, 12, 1), date(2027, 3, 14), date(2027, 3, 15), date(2027, 6, 1)):
        assert books.at(on).pmb == at(facts, on).pmb
        assert planned_value(books.at(on), on) == planned_value(at(facts, on), on)


# --- the plan check -----------------------------------------------------------------------------------------------


def test_the_pmb_agrees_with_the_budget_less_its_contingency() -> None:
    """BAC 50000 - contingency 3000 = 47000 = PMB v1: nothing to say."""
    assert plan_check(at(plan(), date(2027, 2, 1))) is None


def test_a_pmb_that_disagrees_with_the_budget_says_so_with_both_figures() -> None:
    """An approved change of 2000 makes the budget 52000 - 3000 = 49000 against the PMB's 47000."""
    on = date(2027, 2, 1)
    books = at([*plan(), change("2000.00", "49000.00", date(2027, 1, 20))], on)
    assert plan_check(books) == (
        "the performance baseline v1 (47000.00 EUR) does not match the budget's BAC less its contingency "
        "(49000.00 EUR): 2000.00 apart"
    )
    found = [c for c in conditions(books, evm(books, on), [], on, Thresholds()) if c.rule == "plan-disagrees"]
    assert [(c.subject, c.figures["plan"], c.figures["budget"]) for c in found] == [
        (f"project:{PID}", "47000.00", "49000.00")
    ]


def test_without_a_pmb_the_milestones_must_add_up_to_bac() -> None:
    """Milestones 40000 + 60000 against a baseline of 95000 without contingency: 5000 apart (the reserve, when the
    budget holds one, stays beside the plan: compared with BAC less contingency, as a PMB is)."""
    facts = [
        registered(),
        baseline("95000.00"),
        milestone(1, "40000.00", date(2027, 2, 28)),
        milestone(2, "60000.00", date(2027, 5, 31)),
    ]
    assert plan_check(at(facts, date(2027, 2, 1))) == (
        "the milestones' planned value (100000.00 EUR) does not match the budget's BAC less its contingency "
        "(95000.00 EUR): 5000.00 apart"
    )
    agreed = [*facts, change("5000.00", "100000.00", date(2027, 1, 10))]
    assert plan_check(at(agreed, date(2027, 2, 1))) is None


# --- the explanation of planned value ---------------------------------------------------------------------------


class LedgerOf:
    """The facts an explanation reads (the rest of :class:`reporting.handlers.ReportingFacts` is not needed)."""

    def __init__(self, facts: list[Fact]) -> None:
        self.known = facts

    async def facts(self, project_id: uuid.UUID, known_at: datetime | None = None) -> list[Fact]:
        return [f for f in self.known if known_at is None or f.recorded_at <= known_at]


async def test_planned_value_is_explained_item_by_item_from_the_version_in_force() -> None:
    facts = [*rebaselined(), milestone(9, "7000.00", date(2027, 2, 1))]
    ledger = cast(ReportingFacts, LedgerOf(facts))
    now = lambda: datetime(2027, 4, 1, tzinfo=UTC)  # noqa: E731
    explained = await explain_planned_value(ledger, now, PID, date(2027, 3, 15), None)
    assert explained["computed_from"]["pv"] == "31900.00" and explained["computed_from"]["version"] == 2
    assert [v["version"] for v in explained["computed_from"]["versions"]] == [1, 2]
    m3 = next(x for x in explained["items"] if x["name"] == "M3")
    assert (m3["technique"], m3["budget"], m3["planned"], m3["earned"]) == (
        "percent_complete",
        "12000.00",
        "3000.00",
        "2400.00",
    )
    assert [m["name"] for m in explained["not_in_baseline"]] == ["M9"]
    assert explained["events"][0]["type"] == "performance-baseline-approved"
    earlier = await explain_planned_value(ledger, now, PID, date(2027, 3, 14), None)
    assert (earlier["computed_from"]["version"], earlier["computed_from"]["pv"]) == (1, "30300.00")
