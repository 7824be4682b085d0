"""A work sheet and its project: known, open, with the milestones it cites; and a cost in another currency than the
project's, booked at the approval date's rate (direct, else the inverse). Given commands, when command, then events
or error."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from resources import domain
from shared.contracts import resources as ev
from shared.money import Money
from tests.support.money import eur, usd
from tests.support.resources import (
    KNOWN,
    M1,
    M2,
    M3,
    PROJECT,
    W23,
    W24,
    Scenario,
    approve,
    correct,
    day,
    entry,
    field_of,
    rate,
    rated,
    register,
    sheet_id,
    submit,
    week_of_8h,
)

# --- the project: known, open, its milestones ---------------------------------------------------------------


def test_a_sheet_for_a_project_the_service_has_not_seen_is_refused_naming_project_id() -> None:
    s = rated()
    with pytest.raises(domain.UnknownProjectError, match="has not arrived yet") as error:
        s.when(submit(known=None))
    assert field_of(error) == "project_id" and s.state.sheets == {}


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ((entry(W23, "8", M1), entry(day(W23, 1), "8", M3)), "entries.1.milestone_id"),  # M3 is OTHER_PROJECT's
        ((entry(W23, "0", uuid.UUID(int=77)), entry(day(W23, 1), "8")), "entries.0.milestone_id"),  # never planned
    ],
)
def test_a_sheet_citing_a_milestone_not_on_its_project_is_refused_naming_the_entry(
    entries: tuple[ev.TimeEntry, ...], field: str
) -> None:
    s = rated()
    with pytest.raises(domain.UnknownMilestoneError, match="not a milestone of project") as error:
        s.when(submit(entries))
    assert field_of(error) == field and s.state.sheets == {}


def test_a_subcontractors_deliverable_citing_a_milestone_not_on_the_project_is_refused_naming_it() -> None:
    s = Scenario().given(register(ev.ResourceKind.SUBCONTRACTOR, vendor_id="acme"), rate("50.00"))
    deliverable = ev.AcceptedDeliverable(
        milestone_id=M3, description="d", amount=eur("100.00"), accepted_by="max", accepted_on=W23
    )
    with pytest.raises(domain.UnknownMilestoneError) as error:
        s.when(submit((entry(W23, "0"),), deliverables=(deliverable,)))
    assert field_of(error) == "deliverables.0.milestone_id"


def test_a_correction_is_checked_against_the_sheets_project_and_its_milestones() -> None:
    s = rated(submit())
    with pytest.raises(domain.UnknownMilestoneError) as error:
        s.when(correct((entry(W23, "8", M3),)))
    assert field_of(error) == "entries.0.milestone_id"
    with pytest.raises(domain.UnknownProjectError):
        s.when(correct((entry(W23, "8"),), known=None))
    assert len(s.state.sheets[sheet_id()].versions) == 1


@pytest.mark.parametrize("status", ["completed", "terminated"])
def test_a_closed_project_takes_no_new_sheet_nor_correction_but_a_sheet_submitted_before_is_still_approved(
    status: str,
) -> None:
    closed = replace(KNOWN, status=status)
    s = rated(submit())
    with pytest.raises(domain.ProjectClosedError, match=f"is {status}"):
        s.when(submit(week=W24, n=2, entries=(entry(W24, "8"),), known=closed))
    with pytest.raises(domain.ProjectClosedError):
        s.when(correct(week_of_8h(days=4), known=closed))
    (approved,) = s.when(approve(known=closed))
    assert isinstance(approved, ev.WorkSheetApproved) and approved.cost == eur("3200.00")


def test_the_approval_of_a_sheet_whose_project_the_service_does_not_know_is_refused() -> None:
    s = rated(submit())
    with pytest.raises(domain.UnknownProjectError) as error:
        s.when(approve(known=None))
    assert field_of(error) == "project_id"
    assert s.state.sheets[sheet_id()].latest.status is ev.SheetStatus.SUBMITTED


# --- a cost in another currency than the project's: booked at the approval date's rate --------------------------


JUN1 = date(2027, 6, 1)


def fx(base: str, quote: str, rate_: str, on: date, source: str = "ECB reference rate") -> domain.ExchangeRate:
    return domain.ExchangeRate(base, quote, Decimal(rate_), on, source)


def in_dollars(*commands: domain.Command) -> Scenario:
    """A person costing 75.00 USD an hour (the rate's currency) working on PROJECT, a EUR project."""
    return Scenario().given(
        replace(register(), currency="USD"),
        domain.SetRate(date(2027, 1, 1), usd("75.00"), "rm.office"),
        *commands,
    )


def test_a_cost_in_the_projects_currency_books_nothing() -> None:
    (event,) = rated(submit()).when(approve(rates=[fx("USD", "EUR", "0.9187", JUN1)]))
    assert isinstance(event, ev.WorkSheetApproved) and event.booked is None
    assert "booked" not in event.model_dump(mode="json", exclude_none=True)


def test_a_usd_cost_on_a_eur_project_is_booked_at_the_usd_eur_rate_in_force_on_the_approval_date() -> None:
    rates = [
        fx("USD", "EUR", "0.9000", date(2027, 1, 1)),
        fx("USD", "EUR", "0.9187", JUN1),  # in force on 2027-06-16
        fx("USD", "EUR", "0.9500", date(2027, 6, 17)),  # not yet
        fx("GBP", "EUR", "1.1700", JUN1),  # another pair
    ]
    (event,) = in_dollars(submit()).when(approve(rates=rates))
    assert isinstance(event, ev.WorkSheetApproved)
    assert event.cost == usd("3000.00")  # 40 h x 75.00 USD: the sheet keeps its rate's currency
    assert event.booked is not None
    # 3000.00 x 0.9187 = 2756.1000 -> 2756.10 EUR
    assert (event.booked.amount, event.booked.original) == (eur("2756.10"), usd("3000.00"))
    assert (event.booked.rate, event.booked.rate_on, event.booked.source) == (
        Decimal("0.9187"),
        JUN1,
        "ECB reference rate",
    )
    assert event.model_dump(mode="json")["booked"]["amount"] == {"amount": "2756.10", "currency": "EUR"}


def test_with_only_the_eur_usd_rate_recorded_the_cost_is_booked_at_its_inverse() -> None:
    (event,) = in_dollars(submit()).when(approve(rates=[fx("EUR", "USD", "1.0850", JUN1)]))
    assert isinstance(event, ev.WorkSheetApproved) and event.booked is not None
    # 3000.00 / 1.0850 = 2764.97695852... -> 2764.98 EUR
    assert event.booked.amount == eur("2764.98")
    assert event.booked.rate * Decimal("1.0850") == pytest.approx(Decimal(1), abs=Decimal("1e-70"))
    assert event.booked.rate_on == JUN1 and event.booked.source == "ECB reference rate"


def test_the_direct_rate_is_preferred_to_the_inverse_of_the_other_direction() -> None:
    rates = [fx("EUR", "USD", "1.0850", JUN1), fx("USD", "EUR", "0.9187", date(2027, 5, 3))]
    (event,) = in_dollars(submit()).when(approve(rates=rates))
    assert isinstance(event, ev.WorkSheetApproved) and event.booked is not None
    assert event.booked.amount == eur("2756.10") and event.booked.rate_on == date(2027, 5, 3)


def test_a_booking_is_rounded_to_the_project_currencys_minor_unit() -> None:
    jpy_project = domain.KnownProject(PROJECT, "JPY", "active", frozenset({M1, M2}))
    (event,) = rated(submit(known=jpy_project)).when(
        approve(known=jpy_project, rates=[fx("EUR", "JPY", "162.3745", JUN1)])
    )
    assert isinstance(event, ev.WorkSheetApproved) and event.booked is not None
    # 3200.00 EUR x 162.3745 = 519598.4 -> 519598 JPY (no minor unit)
    assert event.booked.amount == Money.of("519598", "JPY")


def test_no_rate_in_force_either_way_refuses_the_approval_naming_the_currency_and_changes_nothing() -> None:
    s = in_dollars(submit())
    for rates in ([], [fx("USD", "EUR", "0.9500", date(2027, 6, 17))], [fx("GBP", "EUR", "1.17", JUN1)]):
        with pytest.raises(domain.NoExchangeRateError, match="no USD->EUR exchange rate") as error:
            s.when(approve(rates=rates))
        assert field_of(error) == "currency"
    sheet = s.state.sheets[sheet_id()]
    assert sheet.latest.status is ev.SheetStatus.SUBMITTED and sheet.in_force is None


def test_the_reversal_of_a_corrected_approval_carries_the_booking_it_reverses_and_the_new_one_todays_rate() -> None:
    first_rates = [fx("USD", "EUR", "0.9187", JUN1)]
    s = in_dollars(submit(), approve(rates=first_rates))
    first = s.state.sheets[sheet_id()].in_force
    assert first is not None and first.booked is not None and first.booked.amount == eur("2756.10")
    s.when(correct(week_of_8h(days=4)))
    reversed_, approved = s.when(approve(rates=[*first_rates, fx("USD", "EUR", "0.9500", date(2027, 6, 15))]))
    assert isinstance(reversed_, ev.WorkSheetApprovalReversed) and isinstance(approved, ev.WorkSheetApproved)
    assert reversed_.cost == usd("3000.00") and reversed_.booked == first.booked  # what entered AC leaves it
    assert approved.cost == usd("2400.00") and approved.booked is not None
    assert (approved.booked.amount, approved.booked.rate) == (eur("2280.00"), Decimal("0.9500"))  # 2400 x 0.95
