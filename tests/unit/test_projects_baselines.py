"""Performance measurement baselines in the projects service: given events, when a baseline command, then events or
the error naming the field; and the handlers proposing and approving one."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from projects import domain, handlers
from shared.contracts import projects as ev
from shared.contracts.common import MonthAmount
from shared.errors import InvalidCommandError, SeparationOfDutiesError
from shared.money import Money
from tests.support.fakes import acting_as
from tests.support.money import eur
from tests.support.projects import (
    BUILD,
    DESIGN,
    PID,
    REGISTER,
    STREAM,
    TODAY,
    Scenario,
    active,
    executor_after,
    planned,
    registration,
)

B1 = uuid.UUID(int=31)

B2 = uuid.UUID(int=32)

T = ev.EvTechnique


def design(**overrides: Any) -> domain.PlannedItem:
    """Design: 120,000.00 EUR from 2027-01-04 to 2027-03-31, 50/50."""
    item = domain.PlannedItem(DESIGN, eur("120000.00"), date(2027, 1, 4), date(2027, 3, 31), T.FIFTY_FIFTY)
    return replace(item, **overrides)


def build(**overrides: Any) -> domain.PlannedItem:
    """Build: 80,000.00 EUR from 2027-04-01 to 2027-09-30 in three weighted steps (20 + 30 + 50)."""
    steps = (
        ev.WeightedStep(name="Environments", weight=Decimal(20), on=date(2027, 5, 15)),
        ev.WeightedStep(name="Features", weight=Decimal(30), on=date(2027, 7, 31)),
        ev.WeightedStep(name="Acceptance", weight=Decimal(50), on=date(2027, 9, 30)),
    )
    item = domain.PlannedItem(
        BUILD, eur("80000.00"), date(2027, 4, 1), date(2027, 9, 30), T.WEIGHTED_MILESTONES, steps=steps
    )
    return replace(item, **overrides)


def proposal(*items: domain.PlannedItem, **overrides: Any) -> domain.ProposeBaseline:
    """Version proposed by max (the manager), effective 2027-01-04, with 20,000.00 EUR of reserve."""
    command = domain.ProposeBaseline(
        B1, date(2027, 1, 4), items or (design(), build()), eur("20000.00"), "initial baseline", "max"
    )
    return replace(command, **overrides)


# --- proposing, approving, rejecting ------------------------------------------------------------------------


def test_a_proposed_baseline_names_its_milestones_and_totals_their_budgets() -> None:
    (proposed,) = active().when(proposal())
    assert isinstance(proposed, ev.PerformanceBaselineProposed)
    assert proposed.version == 1 and proposed.proposed_by == "max"
    assert [(i.name, i.budget, i.technique) for i in proposed.items] == [
        ("Design", eur("120000.00"), T.FIFTY_FIFTY),
        ("Build", eur("80000.00"), T.WEIGHTED_MILESTONES),
    ]
    assert proposed.total == eur("200000.00")  # 120,000.00 + 80,000.00; the reserve stays beside it
    assert proposed.management_reserve == eur("20000.00")
    assert [s.weight for s in proposed.items[1].steps] == [20, 30, 50]


def test_a_director_other_than_the_proposer_approves_it_with_every_item() -> None:
    s = active().given(proposal())
    (approved,) = s.when(domain.ApproveBaseline(1, "dora"))
    assert isinstance(approved, ev.PerformanceBaselineApproved)
    assert (approved.version, approved.baseline_id, approved.approved_by) == (1, B1, "dora")
    assert approved.items == s.history[-2].items  # type: ignore[attr-defined]
    assert approved.total == eur("200000.00") and approved.effective_on == date(2027, 1, 4)
    assert s.state.baselines[0].status is domain.BaselineStatus.APPROVED


@pytest.mark.parametrize("approver", ["max", "MAX", "\uff4dax"])
def test_the_proposer_does_not_approve_a_baseline_however_spelt(approver: str) -> None:
    s = active().given(proposal())
    before = list(s.history)
    with pytest.raises(SeparationOfDutiesError, match="proposed baseline version 1; someone else approves it"):
        s.when(domain.ApproveBaseline(1, approver))
    assert s.history == before and s.state.baselines[0].status is domain.BaselineStatus.PROPOSED


def test_one_proposal_is_open_at_a_time() -> None:
    s = active().given(proposal())
    with pytest.raises(domain.BaselineDecidedError, match="version 1 is still proposed"):
        s.when(proposal(baseline_id=B2))


def test_a_rejected_version_is_kept_and_the_next_proposal_is_version_two() -> None:
    s = active().given(proposal())
    (rejected,) = s.when(domain.RejectBaseline(1, "dora", "reserve too small"))
    assert isinstance(rejected, ev.PerformanceBaselineRejected) and rejected.reason == "reserve too small"
    (again,) = s.when(proposal(baseline_id=B2, management_reserve=eur("30000.00")))
    assert isinstance(again, ev.PerformanceBaselineProposed) and again.version == 2
    assert [b.status for b in s.state.baselines] == [domain.BaselineStatus.REJECTED, domain.BaselineStatus.PROPOSED]
    with pytest.raises(domain.BaselineDecidedError, match="already rejected"):
        s.when(domain.ApproveBaseline(1, "dora"))


def test_an_unknown_version_is_not_found_and_an_approved_one_is_not_approved_again() -> None:
    s = active().given(proposal(), domain.ApproveBaseline(1, "dora"))
    with pytest.raises(domain.UnknownBaselineError):
        s.when(domain.ApproveBaseline(2, "dora"))
    with pytest.raises(domain.BaselineDecidedError, match="already approved"):
        s.when(domain.RejectBaseline(1, "dora", "late"))


def test_a_re_baseline_takes_effect_no_earlier_than_the_version_in_force() -> None:
    s = active().given(proposal(), domain.ApproveBaseline(1, "dora"))
    with pytest.raises(InvalidCommandError, match="not be before 2027-01-04") as error:
        s.when(proposal(baseline_id=B2, effective_on=date(2027, 1, 3)))
    assert error.value.field == "effective_on"
    later = build(
        due=date(2027, 10, 29), steps=(ev.WeightedStep(name="All", weight=Decimal(100), on=date(2027, 10, 29)),)
    )
    (rebaselined,) = s.when(proposal(design(), later, baseline_id=B2, effective_on=date(2027, 6, 1), reason="scope"))
    assert isinstance(rebaselined, ev.PerformanceBaselineProposed) and rebaselined.version == 2
    s.when(domain.ApproveBaseline(2, "dirk"))
    assert [b.effective_on for b in s.state.baselines] == [date(2027, 1, 4), date(2027, 6, 1)]
    assert s.state.baselines[0].items[1].due == date(2027, 9, 30)  # version 1 kept as it was


def test_a_reschedule_moves_the_forecast_never_the_baseline() -> None:
    s = active().given(proposal(), domain.ApproveBaseline(1, "dora"))
    s.when(domain.RescheduleMilestone(BUILD, date(2027, 11, 30), "vendor late"))
    assert s.state.milestones[BUILD].due_date == date(2027, 11, 30)
    assert s.state.baselines[0].items[1].due == date(2027, 9, 30)


def test_a_completed_or_terminated_project_takes_no_baseline() -> None:
    s = active().given(domain.TerminateProject("funding withdrawn", TODAY))
    with pytest.raises(domain.ProjectClosedError):
        s.when(proposal())


def test_the_first_baseline_may_come_before_the_project_is_approved() -> None:
    s = planned(Scenario().given(REGISTER))
    (proposed,) = s.when(proposal())
    assert isinstance(proposed, ev.PerformanceBaselineProposed)


def test_a_jpy_project_totals_in_whole_yen() -> None:
    s = Scenario().given(registration(currency="JPY"))
    s.given(domain.PlanMilestone(DESIGN, "Design", date(2027, 3, 31), Money.of("1200000", "JPY"), ""))
    item = design(budget=Money.of("1200000", "JPY"))
    (proposed,) = s.when(proposal(item, management_reserve=Money.of("0", "JPY")))
    assert isinstance(proposed, ev.PerformanceBaselineProposed)
    assert proposed.total.model_dump(mode="json") == {"amount": "1200000", "currency": "JPY"}


# --- what a proposal must be ---------------------------------------------------------------------------------


_MONTHS = (
    MonthAmount(month="2027-01", amount=eur("40000.00")),
    MonthAmount(month="2027-02", amount=eur("50000.00")),
    MonthAmount(month="2027-03", amount=eur("30000.00")),
)

"""Design's 120,000.00 phased 40,000 + 50,000 + 30,000 over January to March."""


def _step(name: str, weight: str, on: date) -> ev.WeightedStep:
    return ev.WeightedStep(name=name, weight=Decimal(weight), on=on)


BAD: list[tuple[str, Callable[[], domain.ProposeBaseline], str]] = [
    ("no item", lambda: proposal(items=()), "items"),
    ("unknown milestone", lambda: proposal(design(milestone_id=uuid.UUID(int=99))), "items.0.milestone_id"),
    ("a milestone twice", lambda: proposal(design(), design()), "items.1.milestone_id"),
    ("budget in USD", lambda: proposal(design(budget=Money.of("100", "USD"))), "items.0.budget.currency"),
    ("budget of zero", lambda: proposal(design(budget=eur("0.00"))), "items.0.budget.amount"),
    ("negative budget", lambda: proposal(design(budget=eur("-1.00"))), "items.0.budget.amount"),
    ("due before start", lambda: proposal(design(due=date(2027, 1, 3))), "items.0.due"),
    ("weighted without steps", lambda: proposal(build(steps=())), "items.0.steps"),
    (
        "weights add up to 90",
        lambda: proposal(build(steps=(_step("a", "40", date(2027, 5, 1)), _step("b", "50", date(2027, 9, 30))))),
        "items.0.steps",
    ),
    (
        "a weight of zero",
        lambda: proposal(build(steps=(_step("a", "0", date(2027, 5, 1)), _step("b", "100", date(2027, 9, 30))))),
        "items.0.steps.0.weight",
    ),
    (
        "a step after due",
        lambda: proposal(build(steps=(_step("a", "50", date(2027, 5, 1)), _step("b", "50", date(2027, 10, 1))))),
        "items.0.steps.1.on",
    ),
    (
        "steps out of order",
        lambda: proposal(build(steps=(_step("a", "50", date(2027, 8, 1)), _step("b", "50", date(2027, 5, 1))))),
        "items.0.steps.1.on",
    ),
    (
        "steps on a 0/100 item",
        lambda: proposal(design(technique=T.ZERO_HUNDRED, steps=(_step("a", "100", date(2027, 3, 1)),))),
        "items.0.steps",
    ),
    ("months on a 50/50 item", lambda: proposal(design(months=_MONTHS)), "items.0.months"),
    (
        "a month outside start..due",
        lambda: proposal(
            design(
                technique=T.PERCENT_COMPLETE,
                months=(MonthAmount(month="2026-12", amount=eur("120000.00")),),
            )
        ),
        "items.0.months.0.month",
    ),
    (
        "a month twice",
        lambda: proposal(
            design(
                technique=T.LEVEL_OF_EFFORT,
                months=(
                    MonthAmount(month="2027-01", amount=eur("60000.00")),
                    MonthAmount(month="2027-01", amount=eur("60000.00")),
                ),
            )
        ),
        "items.0.months.1.month",
    ),
    (
        "months one cent short",
        lambda: proposal(
            design(
                technique=T.PERCENT_COMPLETE,
                months=(*_MONTHS[:2], MonthAmount(month="2027-03", amount=eur("29999.99"))),
            )
        ),
        "items.0.months",
    ),
    (
        "a month in USD",
        lambda: proposal(
            design(technique=T.PERCENT_COMPLETE, months=(MonthAmount(month="2027-01", amount=Money.of("1", "USD")),))
        ),
        "items.0.months.0.amount.currency",
    ),
    ("a negative reserve", lambda: proposal(management_reserve=eur("-0.01")), "management_reserve.amount"),
    ("a reserve in USD", lambda: proposal(management_reserve=Money.of("1", "USD")), "management_reserve.currency"),
]


@pytest.mark.parametrize(("case", "command", "field"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_proposal_is_refused_naming_the_field_and_records_nothing(
    case: str, command: Callable[[], domain.ProposeBaseline], field: str
) -> None:
    s = active()
    before = list(s.history)
    with pytest.raises(InvalidCommandError) as error:
        s.when(command())
    assert error.value.field == field, error.value.detail
    assert s.history == before and s.state.baselines == ()


def test_months_that_add_up_to_the_budget_phase_a_percent_complete_item() -> None:
    (proposed,) = active().when(proposal(design(technique=T.PERCENT_COMPLETE, months=_MONTHS)))
    assert isinstance(proposed, ev.PerformanceBaselineProposed)
    assert [m.month for m in proposed.items[0].months] == ["2027-01", "2027-02", "2027-03"]


# --- handlers: baselines ----------------------------------------------------------------------------------------


async def test_the_handlers_propose_by_the_acting_user_and_answer_with_the_version() -> None:
    executor = executor_after(active())
    proposed = await handlers.propose_baseline(
        executor,
        acting_as("max"),
        PID,
        effective_on=date(2027, 1, 4),
        items=[design(), build()],
        management_reserve=eur("20000.00"),
        reason="initial",
    )
    assert proposed.status_code == 201
    assert proposed.body["version"] == 1 and proposed.body["status"] == "proposed"
    assert proposed.body["total"] == {"amount": "200000.00", "currency": "EUR"}
    assert proposed.body["proposed_by"] == "max" and proposed.body["items"][0]["name"] == "Design"
    with pytest.raises(SeparationOfDutiesError):
        await handlers.approve_baseline(executor, acting_as("max"), PID, 1)
    approved = await handlers.approve_baseline(executor, acting_as("dora"), PID, 1)
    assert approved.body["status"] == "approved" and approved.body["approved_by"] == "dora"
    assert [type(e) for e in executor.appended(STREAM)[-2:]] == [
        ev.PerformanceBaselineProposed,
        ev.PerformanceBaselineApproved,
    ]
