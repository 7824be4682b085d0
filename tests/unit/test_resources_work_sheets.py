"""Work sheets: bad input (negative hours, more than 24 hours a day, week in the future, rate missing), the rate in
force each day and exact costs, approval by someone other than the submitter, rejection, corrections by new
versions and the reversal of a corrected approved cost: given commands, when command, then events or error."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from resources import domain
from shared.contracts import resources as ev
from shared.errors import ConcurrencyError, InvalidCommandError, NotFoundError, RuleViolationError
from shared.money import Money
from tests.support.money import eur
from tests.support.resources import (
    M1,
    M2,
    OTHER_PROJECT,
    PROJECT,
    ROLE_DEFAULT,
    TODAY,
    W23,
    W24,
    Scenario,
    approve,
    correct,
    day,
    entry,
    field_of,
    person,
    rate,
    rated,
    register,
    reject,
    sheet_id,
    submit,
    week_of_8h,
)

# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ((entry(W23, "-1"),), "entries.0.hours"),
        ((entry(W23, "8"), entry(day(W23, 1), "24.5")), "entries.1.hours"),
        ((entry(W23, "8.125"),), "entries.0.hours"),
        ((entry(W23, "16", M1), entry(W23, "9", M2)), "entries.1.hours"),  # 25 hours on one day
        ((entry(day(W23, 7), "8"),), "entries.0.day"),  # the next week's Monday
        ((entry(W23, "8"), entry(W23, "2")), "entries.1"),  # the same day and milestone twice
        ((entry(W23, "0"),), "entries"),  # nothing to report
    ],
)
def test_bad_entries_are_refused_naming_the_field(entries: tuple[ev.TimeEntry, ...], field: str) -> None:
    s = rated()
    with pytest.raises(InvalidCommandError) as error:
        s.when(submit(entries))
    assert field_of(error) == field
    assert s.state.sheets == {}


def test_a_person_works_at_most_24_hours_a_day_all_their_sheets_together() -> None:
    s = rated(submit((entry(W23, "16"),), project=PROJECT, n=1))
    with pytest.raises(InvalidCommandError, match=r"more than 24 hours on 2027-06-07: 25 hours \(16 of them on other"):
        s.when(submit((entry(day(W23, 1), "8"), entry(W23, "9")), project=OTHER_PROJECT, n=2))
    (event,) = s.when(submit((entry(W23, "8"),), project=OTHER_PROJECT, n=2))
    assert isinstance(event, ev.WorkSheetSubmitted)


def test_the_hours_of_a_rejected_sheet_do_not_count_against_the_day() -> None:
    s = rated(submit((entry(W23, "16"),), n=1), reject(n=1))
    (event,) = s.when(submit((entry(W23, "16"),), project=OTHER_PROJECT, n=2))
    assert isinstance(event, ev.WorkSheetSubmitted)


def test_a_subcontractors_team_may_report_more_than_24_hours_a_day() -> None:
    s = Scenario().given(register(ev.ResourceKind.SUBCONTRACTOR, vendor_id="acme"), rate("50.00"))
    (event,) = s.when(submit((entry(W23, "40"),)))
    assert isinstance(event, ev.WorkSheetSubmitted) and event.hours == Decimal(40)


def test_a_week_in_the_future_is_refused() -> None:
    with pytest.raises(InvalidCommandError) as error:
        rated().when(submit(week_of_8h(date(2027, 6, 21)), week=date(2027, 6, 21)))
    assert field_of(error) == "week"


def test_a_day_after_today_is_refused_even_in_the_current_week() -> None:
    s = rated()
    with pytest.raises(InvalidCommandError) as error:
        s.when(submit((entry(W24, "8"), entry(day(W24, 3), "8")), week=W24))  # Thursday; today is Wednesday
    assert field_of(error) == "entries.1.day"
    (event,) = s.when(submit((entry(W24, "8"), entry(day(W24, 2), "8")), week=W24))
    assert isinstance(event, ev.WorkSheetSubmitted) and event.week == "2027-W24"


def test_a_day_without_a_rate_is_refused_naming_the_entry() -> None:
    s = person(rate("80.00", day(W23, 1)))  # from Tuesday on
    with pytest.raises(InvalidCommandError, match="no cost rate in force on 2027-06-07") as error:
        s.when(submit((entry(day(W23, 1), "8"), entry(W23, "8"))))
    assert field_of(error) == "entries.1.day"
    assert s.state.sheets == {}


def test_a_role_default_in_another_currency_is_no_rate_for_the_resource() -> None:
    usd_default = domain.RoleRateCard("developer", (domain.Rate(date(2027, 1, 1), Money.of("70.00", "USD")),))
    with pytest.raises(InvalidCommandError, match="is in USD, not EUR") as error:
        person().when(submit(role_rates=usd_default))
    assert field_of(error) == "entries.0.day"


def test_a_person_reports_hours_not_deliverables() -> None:
    deliverable = ev.AcceptedDeliverable(
        milestone_id=M1, description="design", amount=eur("1000.00"), accepted_by="max", accepted_on=W23
    )
    with pytest.raises(InvalidCommandError) as error:
        rated().when(submit(deliverables=(deliverable,)))
    assert field_of(error) == "deliverables"


def test_one_sheet_per_resource_week_and_project() -> None:
    s = rated(submit(n=1))
    with pytest.raises(RuleViolationError, match="correct it with a new version"):
        s.when(submit((entry(day(W23, 5), "2"),), n=2))


# --- rates and costs ----------------------------------------------------------------------------------------


def test_the_approved_event_carries_each_days_hours_rate_and_cost_and_the_totals() -> None:
    s = rated(submit((entry(W23, "8", M1), entry(day(W23, 1), "7.5", M1), entry(day(W23, 1), "0.5", M2))))
    (event,) = s.when(approve(by="max"))
    assert isinstance(event, ev.WorkSheetApproved)
    assert [(e.day, e.hours, e.hourly_rate, e.rate_source, e.cost) for e in event.entries] == [
        (W23, Decimal(8), eur("80.00"), ev.RateSource.RESOURCE, eur("640.00")),
        (day(W23, 1), Decimal("7.5"), eur("80.00"), ev.RateSource.RESOURCE, eur("600.00")),
        (day(W23, 1), Decimal("0.5"), eur("80.00"), ev.RateSource.RESOURCE, eur("40.00")),
    ]
    assert event.hours == Decimal(16) and event.cost == eur("1280.00")
    assert [(m.milestone_id, m.hours, m.cost) for m in event.cost_by_milestone] == [
        (M1, Decimal("15.5"), eur("1240.00")),
        (M2, Decimal("0.5"), eur("40.00")),
    ]
    assert (event.submitted_by, event.approved_by, event.role, event.replaces_version) == (
        "ada",
        "max",
        "developer",
        None,
    )
    assert event.partition_key == str(PROJECT)
    assert event.model_dump(mode="json")["cost"] == {"amount": "1280.00", "currency": "EUR"}


def test_a_rate_change_within_the_week_prices_each_day_at_the_rate_in_force_that_day() -> None:
    s = rated(rate("90.00", day(W23, 3)), submit())  # 90.00 from Thursday
    (event,) = s.when(approve())
    assert isinstance(event, ev.WorkSheetApproved)
    assert [e.hourly_rate.amount for e in event.entries] == [80, 80, 80, 90, 90]
    assert [e.rate_effective_from for e in event.entries][-1] == day(W23, 3)
    assert event.cost == eur("3360.00")  # 24 h x 80 + 16 h x 90


def test_the_roles_default_rate_applies_on_days_the_resource_has_no_rate_of_its_own() -> None:
    s = person(rate("80.00", day(W23, 2)), submit(role_rates=ROLE_DEFAULT))
    (event,) = s.when(approve(role_rates=ROLE_DEFAULT))
    assert isinstance(event, ev.WorkSheetApproved)
    assert [e.rate_source for e in event.entries] == [ev.RateSource.ROLE] * 2 + [ev.RateSource.RESOURCE] * 3
    assert event.cost == eur("2880.00")  # 16 h x 60 + 24 h x 80


def test_costs_are_rounded_half_even_to_the_cent_per_entry_and_totals_are_exact_sums() -> None:
    s = person(rate("10.10"), submit((entry(W23, "0.25"), entry(day(W23, 1), "0.75"))))
    (event,) = s.when(approve())
    assert isinstance(event, ev.WorkSheetApproved)
    assert [e.cost.amount for e in event.entries] == [Decimal("2.52"), Decimal("7.58")]  # 2.525 -> 2.52, 7.575 -> 7.58
    assert event.cost == eur("10.10")


def test_changing_a_rate_never_rewrites_the_cost_of_approved_work() -> None:
    s = rated(submit())
    (approved,) = s.when(approve())
    assert isinstance(approved, ev.WorkSheetApproved)
    s.when(rate("100.00", date(2027, 1, 1)))  # retroactive: replaces the rate approved with
    in_force = s.state.sheets[sheet_id()].in_force
    assert in_force is not None and in_force.cost == eur("3200.00")
    assert all(c.hourly_rate == eur("80.00") for c in in_force.costed_entries)
    s.when(submit(week_of_8h(W24, days=3), week=W24, n=2))
    (later,) = s.when(approve(n=2))
    assert isinstance(later, ev.WorkSheetApproved) and later.cost == eur("2400.00")  # 24 h at the new rate


def test_a_subcontractors_accepted_deliverables_cost_their_agreed_amount() -> None:
    s = Scenario().given(register(ev.ResourceKind.SUBCONTRACTOR, vendor_id="acme"), rate("50.00"))
    deliverable = ev.AcceptedDeliverable(
        milestone_id=M1, description="data migration", amount=eur("4000.00"), accepted_by="max", accepted_on=W23
    )
    s.when(submit((entry(W23, "10", M2),), deliverables=(deliverable,), by="acme.pm"))
    (event,) = s.when(approve(by="max"))
    assert isinstance(event, ev.WorkSheetApproved)
    assert event.vendor_id == "acme" and event.kind is ev.ResourceKind.SUBCONTRACTOR
    assert event.cost == eur("4500.00")
    assert [(m.milestone_id, m.hours, m.cost) for m in event.cost_by_milestone] == [
        (M1, Decimal(0), eur("4000.00")),
        (M2, Decimal(10), eur("500.00")),
    ]


@pytest.mark.parametrize(
    ("amount", "accepted_on", "field"),
    [
        (Money.of("100.00", "USD"), W23, "deliverables.0.amount.currency"),
        (eur("0.00"), W23, "deliverables.0.amount.amount"),
        (eur("100.00"), date(2027, 6, 1), "deliverables.0.accepted_on"),
    ],
)
def test_bad_deliverables_are_refused_naming_the_field(amount: Money, accepted_on: date, field: str) -> None:
    s = Scenario().given(register(ev.ResourceKind.SUBCONTRACTOR, vendor_id="acme"), rate("50.00"))
    deliverable = ev.AcceptedDeliverable(
        milestone_id=None, description="d", amount=amount, accepted_by="max", accepted_on=accepted_on
    )
    with pytest.raises(InvalidCommandError) as error:
        s.when(submit((entry(W23, "0"),), deliverables=(deliverable,)))
    assert field_of(error) == field


# --- approval and rejection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("approver", ["ada", " ADA "])
def test_the_submitter_cannot_approve_their_own_sheet(approver: str) -> None:
    s = rated(submit(by="ada"))
    with pytest.raises(RuleViolationError, match="someone else must approve it"):
        s.when(approve(by=approver))
    assert s.state.sheets[sheet_id()].latest.status is ev.SheetStatus.SUBMITTED


def test_the_submitter_cannot_reject_their_own_sheet_either() -> None:
    with pytest.raises(RuleViolationError, match="someone else must reject it"):
        rated(submit(by="ada")).when(reject(by="ada"))


def test_only_a_submitted_version_is_approved_or_rejected() -> None:
    s = rated(submit(), approve())
    with pytest.raises(RuleViolationError, match="is approved"):
        s.when(approve())
    with pytest.raises(RuleViolationError, match="is approved"):
        s.when(reject())
    with pytest.raises(NotFoundError):
        s.when(approve(n=9))


def test_a_rejection_keeps_its_reason_and_costs_nothing() -> None:
    s = rated(submit())
    (event,) = s.when(reject(reason="hours on the wrong project"))
    assert isinstance(event, ev.WorkSheetRejected) and event.reason == "hours on the wrong project"
    sheet = s.state.sheets[sheet_id()]
    assert sheet.latest.status is ev.SheetStatus.REJECTED and sheet.in_force is None


def test_approving_a_version_other_than_the_one_reviewed_is_refused() -> None:
    s = rated(submit(), correct(week_of_8h(days=4)))
    with pytest.raises(ConcurrencyError, match="at version 2, not 1"):
        s.when(approve(version=1))
    assert isinstance(s.when(approve(version=2))[0], ev.WorkSheetApproved)


def test_a_role_changed_since_the_default_rates_were_read_is_refused_as_a_concurrent_change() -> None:
    s = rated(submit(), domain.ChangeProfile("architect", "engineering", TODAY))
    with pytest.raises(ConcurrencyError, match="role changed"):
        s.when(approve())


# --- corrections --------------------------------------------------------------------------------------------


def test_correcting_a_submitted_sheet_supersedes_it_and_says_which_version_it_replaces() -> None:
    s = rated(submit())
    (event,) = s.when(correct(week_of_8h(days=4), reason="Friday was a holiday"))
    assert isinstance(event, ev.WorkSheetCorrected)
    assert (event.version, event.replaces_version, event.replaced_status) == (2, 1, ev.SheetStatus.SUBMITTED)
    assert event.hours == Decimal(32) and event.reason == "Friday was a holiday"
    sheet = s.state.sheets[sheet_id()]
    assert [v.status for v in sheet.versions] == [ev.SheetStatus.SUPERSEDED, ev.SheetStatus.SUBMITTED]


def test_correcting_a_rejected_sheet_resubmits_it() -> None:
    s = rated(submit(), reject())
    (event,) = s.when(correct(week_of_8h(days=4)))
    assert isinstance(event, ev.WorkSheetCorrected) and event.replaced_status is ev.SheetStatus.REJECTED
    (approved,) = s.when(approve())
    assert isinstance(approved, ev.WorkSheetApproved) and approved.version == 2 and approved.replaces_version is None


def test_an_approved_sheets_cost_stays_in_force_until_its_correction_is_approved_then_it_is_reversed() -> None:
    s = rated(submit(), approve())
    s.when(correct((*week_of_8h(days=4), entry(day(W23, 4), "4")), reason="left early on Friday"))
    sheet = s.state.sheets[sheet_id()]
    assert sheet.approved_version == 1 and sheet.latest.status is ev.SheetStatus.SUBMITTED
    reversed_, approved = s.when(approve(by="max"))
    assert isinstance(reversed_, ev.WorkSheetApprovalReversed) and isinstance(approved, ev.WorkSheetApproved)
    assert (reversed_.version, reversed_.superseded_by_version, reversed_.cost) == (1, 2, eur("3200.00"))
    assert reversed_.cost_by_milestone[0].cost == eur("3200.00") and reversed_.hours == Decimal(40)
    assert (approved.version, approved.replaces_version, approved.cost) == (2, 1, eur("2880.00"))
    assert reversed_.partition_key == approved.partition_key == str(PROJECT)
    sheet = s.state.sheets[sheet_id()]
    assert sheet.approved_version == 2
    assert [v.status for v in sheet.versions] == [ev.SheetStatus.SUPERSEDED, ev.SheetStatus.APPROVED]


def test_a_rejected_correction_leaves_the_approved_version_in_force() -> None:
    s = rated(submit(), approve(), correct(week_of_8h(days=3)))
    s.when(reject(reason="Thursday was worked"))
    sheet = s.state.sheets[sheet_id()]
    assert sheet.approved_version == 1 and sheet.in_force is not None and sheet.in_force.cost == eur("3200.00")
    assert sheet.counted_entries == sheet.version(1).entries
    s.when(correct(week_of_8h(days=4), by="ada"))
    reversed_, approved = s.when(approve())
    assert isinstance(reversed_, ev.WorkSheetApprovalReversed) and reversed_.version == 1
    assert isinstance(approved, ev.WorkSheetApproved) and (approved.version, approved.replaces_version) == (3, 1)


def test_the_approver_of_a_correction_must_differ_from_the_corrections_submitter() -> None:
    s = rated(submit(by="ada"), approve(by="max"), correct(week_of_8h(days=4), by="max"))
    with pytest.raises(RuleViolationError, match="max submitted version 2"):
        s.when(approve(by="max"))
    assert isinstance(s.when(approve(by="ada"))[-1], ev.WorkSheetApproved)


def test_a_correction_is_checked_like_a_submission_without_counting_the_sheet_it_replaces() -> None:
    s = rated(submit((entry(W23, "16"),)))
    (event,) = s.when(correct((entry(W23, "20"),)))  # 20 replaces 16: not 36
    assert isinstance(event, ev.WorkSheetCorrected)
    with pytest.raises(InvalidCommandError) as error:
        s.when(correct((entry(W23, "-2"),)))
    assert field_of(error) == "entries.0.hours"
    with pytest.raises(NotFoundError):
        s.when(correct(week_of_8h(), n=7))
