"""Resources: registration, skills, effective-dated rates, capacity and allocations (over-allocation across
overlapping allocations, department policy), erasure and the event contracts: given commands, when command, then
events or error."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from resources import domain
from shared.contracts import resources as ev
from shared.errors import ConcurrencyError, InvalidCommandError, NotFoundError, RuleViolationError
from tests.support.money import eur, usd
from tests.support.resources import (
    BLOCK,
    KNOWN,
    M1,
    M3,
    NOW,
    OTHER_PROJECT,
    PROJECT,
    RID,
    TODAY,
    WARN,
    Scenario,
    allocate,
    allocation_id,
    person,
    rate,
    register,
)

JAN4 = date(2027, 1, 4)  # Monday of 2027-W01


def week(n: int) -> date:
    return date.fromisocalendar(2027, n, 1)


def friday(n: int) -> date:
    return date.fromisocalendar(2027, n, 5)


# --- registration -------------------------------------------------------------------------------------------


def test_a_person_is_registered_with_role_department_capacity_and_currency() -> None:
    s = Scenario()
    (event,) = s.when(register())
    assert isinstance(event, ev.ResourceRegistered)
    assert (event.kind, event.role, event.department, event.weekly_capacity_hours, event.currency) == (
        ev.ResourceKind.PERSON,
        "developer",
        "engineering",
        Decimal(40),
        "EUR",
    )
    assert s.state.capacity_in_week(week(1)) == Decimal(40)


def test_a_subcontractor_names_its_vendor_and_a_person_has_none() -> None:
    (event,) = Scenario().when(register(ev.ResourceKind.SUBCONTRACTOR, vendor_id="acme"))
    assert isinstance(event, ev.ResourceRegistered) and event.vendor_id == "acme"
    with pytest.raises(InvalidCommandError) as missing:
        Scenario().when(register(ev.ResourceKind.SUBCONTRACTOR))
    assert missing.value.field == "vendor_id"
    with pytest.raises(InvalidCommandError) as given:
        Scenario().when(register(vendor_id="acme"))
    assert given.value.field == "vendor_id"


@pytest.mark.parametrize("capacity", ["-1", "168.01", "40.125"])
def test_capacity_is_between_0_and_168_hours_with_at_most_two_decimals(capacity: str) -> None:
    with pytest.raises(InvalidCommandError) as error:
        Scenario().when(register(capacity=capacity))
    assert error.value.field == "weekly_capacity_hours"


def test_a_resource_is_registered_once_and_commands_on_an_unknown_one_are_not_found() -> None:
    with pytest.raises(RuleViolationError, match="already registered"):
        person().when(register())
    with pytest.raises(NotFoundError):
        Scenario().when(rate("80"))


def test_profile_changes_keep_the_previous_role_and_department() -> None:
    (event,) = person().when(domain.ChangeProfile("architect", "engineering", TODAY))
    assert isinstance(event, ev.ResourceProfileChanged)
    assert (event.previous_role, event.role) == ("developer", "architect")
    with pytest.raises(InvalidCommandError):
        person().when(domain.ChangeProfile("developer", "engineering", TODAY))


# --- skills, certifications, trainings ----------------------------------------------------------------------


def test_skills_are_recorded_with_their_date_and_grow_level_by_level() -> None:
    s = person(domain.RecordSkill("PostgreSQL", ev.SkillLevel.BASIC, date(2027, 2, 1)))
    (event,) = s.when(domain.RecordSkill("postgresql", ev.SkillLevel.ADVANCED, date(2027, 5, 1)))
    assert isinstance(event, ev.SkillRecorded) and event.previous_level is ev.SkillLevel.BASIC
    assert len(s.state.skills) == 1 and s.state.skills["postgresql"].acquired_on == date(2027, 5, 1)
    with pytest.raises(InvalidCommandError) as same:
        s.when(domain.RecordSkill("PostgreSQL", ev.SkillLevel.ADVANCED, TODAY))
    assert same.value.field == "level"
    with pytest.raises(InvalidCommandError) as future:
        s.when(domain.RecordSkill("Kafka", ev.SkillLevel.BASIC, date(2027, 6, 17)))
    assert future.value.field == "acquired_on"


def test_certifications_have_dates_and_expire_after_they_are_obtained() -> None:
    cid = uuid.uuid4()
    (event,) = person().when(domain.RecordCertification(cid, "PRINCE2", "Axelos", JAN4, date(2030, 1, 4)))
    assert isinstance(event, ev.CertificationRecorded) and event.expires_on == date(2030, 1, 4)
    with pytest.raises(InvalidCommandError) as error:
        person().when(domain.RecordCertification(cid, "PRINCE2", "Axelos", JAN4, date(2026, 1, 1)))
    assert error.value.field == "expires_on"


def test_trainings_are_recorded_as_they_happen_not_in_advance() -> None:
    s = person()
    (event,) = s.when(domain.RecordTraining(uuid.uuid4(), "Kafka basics", "Confluent", TODAY, Decimal("7.5"), "Kafka"))
    assert isinstance(event, ev.TrainingCompleted) and event.hours == Decimal("7.5")
    with pytest.raises(InvalidCommandError) as error:
        s.when(domain.RecordTraining(uuid.uuid4(), "Later", "", date(2027, 7, 1), Decimal(7)))
    assert error.value.field == "completed_on"


# --- rates --------------------------------------------------------------------------------------------------


def test_a_rate_holds_from_its_effective_date_until_the_next_one() -> None:
    s = person(rate("80.00", date(2027, 1, 1)), rate("90.00", date(2027, 6, 1)))
    assert s.state.rate_on(date(2026, 12, 31)) is None
    first, second = s.state.rate_on(date(2027, 5, 31)), s.state.rate_on(date(2027, 6, 1))
    assert first is not None and first.hourly_rate == eur("80.00")
    assert second is not None and second.hourly_rate == eur("90.00")


def test_setting_a_rate_again_for_the_same_date_replaces_it_and_says_which_it_replaced() -> None:
    s = person(rate("80.00", date(2027, 1, 1)))
    (event,) = s.when(rate("82.00", date(2027, 1, 1)))
    assert isinstance(event, ev.RateSet) and event.replaces_rate == eur("80.00")
    assert [r.hourly_rate for r in s.state.rates] == [eur("82.00")]


def test_a_rate_is_in_the_resources_currency_and_not_negative() -> None:
    with pytest.raises(InvalidCommandError) as currency:
        person().when(domain.SetRate(JAN4, usd("80.00"), "rm.office"))
    assert currency.value.field == "hourly_rate.currency"
    with pytest.raises(InvalidCommandError) as negative:
        person().when(rate("-1.00"))
    assert negative.value.field == "hourly_rate.amount"


def test_a_roles_default_rates_are_effective_dated_in_one_currency() -> None:
    aggregate = domain.ROLE_RATE
    state = aggregate.initial_state()
    for command in (
        domain.SetRoleRate("developer", JAN4, eur("70.00")),
        domain.SetRoleRate("developer", date(2027, 7, 1), eur("75.00")),
    ):
        for event in aggregate.decide(state, command, NOW):
            state = aggregate.evolve(state, event)
    assert state.role == "developer" and [r.hourly_rate for r in state.rates] == [eur("70.00"), eur("75.00")]
    (event,) = aggregate.decide(state, domain.SetRoleRate("developer", JAN4, eur("71.00")), NOW)
    assert isinstance(event, ev.RoleRateSet) and event.replaces_rate == eur("70.00")
    assert event.partition_key == "role:developer"
    with pytest.raises(InvalidCommandError) as error:
        aggregate.decide(state, domain.SetRoleRate("developer", JAN4, usd("80.00")), NOW)
    assert error.value.field == "hourly_rate.currency"


# --- capacity and allocations -------------------------------------------------------------------------------


def test_an_allocation_counts_its_hours_per_iso_week_prorated_by_working_days() -> None:
    wednesday = date.fromisocalendar(2027, 10, 3)
    s = person(allocate("20", wednesday, friday(12)))
    assert s.state.allocated_in_week(week(9)) == 0
    assert s.state.allocated_in_week(week(10)) == Decimal(12)  # Wednesday to Friday: 3 of 5 days
    assert s.state.allocated_in_week(week(11)) == Decimal(20)
    assert s.state.allocated_in_week(week(13)) == 0


def test_overlapping_allocations_past_capacity_are_accepted_and_record_the_weeks_and_hours_over() -> None:
    s = person(allocate("30", week(10), friday(13), aid=1))
    (event,) = s.when(allocate("20", week(12), friday(15), aid=2, project=OTHER_PROJECT))
    assert isinstance(event, ev.ResourceAllocated)
    assert event.over_allocated is True
    assert [(w.week, w.capacity_hours, w.allocated_hours, w.over_hours) for w in event.over_allocation] == [
        ("2027-W12", Decimal(40), Decimal(50), Decimal(10)),
        ("2027-W13", Decimal(40), Decimal(50), Decimal(10)),
    ]
    assert event.partition_key == str(OTHER_PROJECT)


def test_allocations_that_meet_within_a_week_do_not_overlap() -> None:
    wednesday, thursday = date.fromisocalendar(2027, 10, 3), date.fromisocalendar(2027, 10, 4)
    s = person(allocate("40", week(8), wednesday, aid=1))
    (event,) = s.when(allocate("40", thursday, friday(12), aid=2))
    assert isinstance(event, ev.ResourceAllocated) and event.over_allocation == []
    assert s.state.allocated_in_week(week(10)) == Decimal(40)  # 3 days of one, 2 of the other


def test_a_department_that_blocks_over_allocation_refuses_it_naming_the_weeks() -> None:
    s = person(allocate("30", week(10), friday(13), aid=1, policy=BLOCK))
    with pytest.raises(RuleViolationError, match=r"blocks over-allocation.*2027-W12 \(\+10 h\), 2027-W13 \(\+10 h\)"):
        s.when(allocate("20", week(12), friday(15), aid=2, policy=BLOCK))
    assert len(s.state.allocations) == 1


def test_under_a_block_policy_an_allocation_still_over_capacity_may_be_reduced() -> None:
    s = person(allocate("30", week(10), friday(13), aid=1), allocate("20", week(12), friday(15), aid=2))
    (event,) = s.when(domain.ChangeAllocation(allocation_id(2), Decimal(15), week(12), friday(15), "less", BLOCK))
    assert isinstance(event, ev.AllocationChanged) and [w.over_hours for w in event.over_allocation] == [5, 5]
    with pytest.raises(RuleViolationError):
        s.when(domain.ChangeAllocation(allocation_id(2), Decimal(16), week(12), friday(15), "more", BLOCK))


def test_a_policy_read_for_another_department_is_refused_as_a_concurrent_change() -> None:
    s = person(domain.ChangeProfile("developer", "research", TODAY))
    with pytest.raises(ConcurrencyError):
        s.when(allocate("10", week(10), friday(11), policy=WARN))


def test_changing_an_allocation_records_previous_values_and_the_over_allocation_of_old_and_new_periods() -> None:
    s = person(allocate("30", week(10), friday(11), aid=1), allocate("10", week(10), friday(13), aid=2))
    (event,) = s.when(domain.ChangeAllocation(allocation_id(2), Decimal(20), week(11), friday(12), "ramp-up", WARN))
    assert isinstance(event, ev.AllocationChanged)
    assert (event.previous_hours_per_week, event.previous_starts_on, event.previous_ends_on) == (
        Decimal(10),
        week(10),
        friday(13),
    )
    assert [w.week for w in event.over_allocation] == ["2027-W11"]
    assert s.state.allocated_in_week(week(10)) == Decimal(30)
    assert s.state.allocated_in_week(week(13)) == 0


def test_ending_an_allocation_shortens_it_and_it_accepts_no_further_change() -> None:
    s = person(allocate("20", week(10), friday(20)))
    (event,) = s.when(domain.EndAllocation(allocation_id(1), friday(12), "project paused"))
    assert isinstance(event, ev.AllocationEnded) and event.previous_ends_on == friday(20)
    assert s.state.allocated_in_week(week(13)) == 0
    with pytest.raises(RuleViolationError, match="has ended"):
        s.when(domain.ChangeAllocation(allocation_id(1), Decimal(10), week(10), friday(12), "x", WARN))
    with pytest.raises(InvalidCommandError) as later:
        person(allocate("20", week(10), friday(12))).when(domain.EndAllocation(allocation_id(1), friday(14), "x"))
    assert later.value.field == "ends_on"


def test_every_load_change_states_the_weeks_it_checked_so_a_resolved_over_allocation_can_be_cleared() -> None:
    s = person(allocate("30", week(10), friday(13), aid=1))
    (allocated,) = s.when(allocate("20", week(12), friday(15), aid=2))
    assert isinstance(allocated, ev.ResourceAllocated)
    assert (allocated.weeks_from, allocated.weeks_to) == (week(12), week(15))
    (changed,) = s.when(domain.ChangeAllocation(allocation_id(2), Decimal(10), week(13), friday(15), "less", WARN))
    assert isinstance(changed, ev.AllocationChanged)
    assert (changed.weeks_from, changed.weeks_to, changed.over_allocation) == (week(12), week(15), [])
    s.given(domain.ChangeAllocation(allocation_id(2), Decimal(20), week(12), friday(15), "more again", WARN))
    (ended,) = s.when(domain.EndAllocation(allocation_id(1), friday(12), "moved"))
    assert isinstance(ended, ev.AllocationEnded)
    assert (ended.weeks_from, ended.weeks_to) == (week(10), week(13))
    assert [w.week for w in ended.over_allocation] == ["2027-W12"]  # week 13 is now within capacity
    (capacity,) = s.when(domain.ChangeCapacity(Decimal(16), week(14)))
    assert isinstance(capacity, ev.CapacityChanged)
    assert (capacity.weeks_from, capacity.weeks_to) == (week(14), week(15))
    assert [(w.week, w.over_hours) for w in capacity.over_allocation] == [("2027-W14", 4), ("2027-W15", 4)]


@pytest.mark.parametrize(
    ("hours", "starts_on", "ends_on", "field"),
    [
        ("0", week(10), friday(11), "hours_per_week"),
        ("-5", week(10), friday(11), "hours_per_week"),
        ("169", week(10), friday(11), "hours_per_week"),
        ("10", week(11), friday(10), "ends_on"),
    ],
)
def test_invalid_allocations_are_refused_naming_the_field(
    hours: str, starts_on: date, ends_on: date, field: str
) -> None:
    with pytest.raises(InvalidCommandError) as error:
        person().when(allocate(hours, starts_on, ends_on))
    assert error.value.field == field


def test_a_capacity_change_holds_from_a_monday_and_records_the_weeks_it_leaves_over_allocated() -> None:
    s = person(allocate("32", week(10), friday(14)))
    (event,) = s.when(domain.ChangeCapacity(Decimal(24), week(13)))
    assert isinstance(event, ev.CapacityChanged) and event.previous_weekly_capacity_hours == Decimal(40)
    assert [(w.week, w.over_hours) for w in event.over_allocation] == [("2027-W13", 8), ("2027-W14", 8)]
    assert event.partition_key == f"resource:{RID}"
    assert s.state.capacity_in_week(week(12)) == 40 and s.state.capacity_in_week(week(13)) == 24
    with pytest.raises(InvalidCommandError) as error:
        s.when(domain.ChangeCapacity(Decimal(30), date.fromisocalendar(2027, 13, 2)))
    assert error.value.field == "effective_from"


# --- allocations name a project (and milestone) the service knows -------------------------------------------


def test_an_allocation_to_a_project_the_service_has_not_seen_is_refused_naming_project_id() -> None:
    s = person()
    stranger = uuid.UUID(int=999)
    with pytest.raises(domain.UnknownProjectError, match="not arrived yet") as error:
        s.when(allocate("20", week(10), friday(12), project=stranger, known=None))
    assert error.value.field == "project_id" and s.state.allocations == {}


def test_an_allocation_to_a_milestone_of_another_project_is_refused_naming_milestone_id() -> None:
    s = person()
    with pytest.raises(domain.UnknownMilestoneError) as error:
        s.when(allocate("20", week(10), friday(12), milestone=M3))  # M3 is OTHER_PROJECT's
    assert error.value.field == "milestone_id" and s.state.allocations == {}
    (event,) = s.when(allocate("20", week(10), friday(12), milestone=M1))
    assert isinstance(event, ev.ResourceAllocated) and event.milestone_id == M1


@pytest.mark.parametrize("status", ["completed", "terminated"])
def test_a_closed_project_takes_no_new_allocation_but_its_allocations_may_still_be_reduced_and_ended(
    status: str,
) -> None:
    s = person(allocate("20", week(10), friday(20)))
    closed = replace(KNOWN, status=status)
    with pytest.raises(domain.ProjectClosedError, match=f"is {status}"):
        s.when(allocate("10", week(10), friday(12), aid=2, known=closed))
    (changed,) = s.when(
        domain.ChangeAllocation(allocation_id(1), Decimal(10), week(10), friday(20), "project closing", WARN)
    )
    (ended,) = s.when(domain.EndAllocation(allocation_id(1), friday(14), "project closed"))
    assert isinstance(changed, ev.AllocationChanged) and isinstance(ended, ev.AllocationEnded)
    assert list(s.state.allocations) == [allocation_id(1)]


@pytest.mark.parametrize("status", ["proposed", "approved", "active", "on_hold"])
def test_a_project_not_closed_takes_allocations(status: str) -> None:
    (event,) = person().when(allocate("20", week(10), friday(12), known=replace(KNOWN, status=status)))
    assert isinstance(event, ev.ResourceAllocated)


# --- personal data and contracts ----------------------------------------------------------------------------


def test_erasing_personal_data_is_recorded_once_and_carries_only_the_id() -> None:
    s = person()
    (event,) = s.when(domain.ErasePersonalData(TODAY))
    assert isinstance(event, ev.PersonalDataErased)
    assert event.model_dump(mode="json") == {"resource_id": str(RID), "erased_on": TODAY.isoformat()}
    assert s.when(domain.ErasePersonalData(TODAY)) == []


def test_no_event_contract_has_a_field_for_a_name_or_contact_details() -> None:
    personal = {"name", "first_name", "last_name", "full_name", "email", "phone", "address"}
    for model in ev.REGISTRY:
        assert not personal & set(model.model_fields), model.__name__


def test_events_about_a_project_are_keyed_by_the_project_and_the_others_by_their_subject() -> None:
    s = person()
    registered = domain.decide(domain.Resource(), register(), NOW)[0]
    assert registered.partition_key == f"resource:{RID}"
    allocated = s.when(allocate("10", week(10), friday(11), project=PROJECT))[0]
    assert allocated.partition_key == str(PROJECT)
    policy = domain.DEPARTMENT_POLICY.decide(
        domain.DepartmentPolicy(), domain.SetOverAllocationPolicy("engineering", ev.OverAllocationPolicy.BLOCK), NOW
    )[0]
    assert policy.partition_key == "department:engineering"


def test_a_department_policy_is_warn_until_set_and_setting_it_again_records_nothing() -> None:
    aggregate = domain.DEPARTMENT_POLICY
    state = aggregate.initial_state()
    assert state.policy is ev.OverAllocationPolicy.WARN
    assert aggregate.decide(state, domain.SetOverAllocationPolicy("eng", ev.OverAllocationPolicy.WARN), NOW) == []
    (event,) = aggregate.decide(state, domain.SetOverAllocationPolicy("eng", ev.OverAllocationPolicy.BLOCK), NOW)
    state = aggregate.evolve(state, event)
    assert state == domain.DepartmentPolicy("eng", ev.OverAllocationPolicy.BLOCK)
    assert aggregate.decide(state, domain.SetOverAllocationPolicy("eng", ev.OverAllocationPolicy.BLOCK), NOW) == []


def test_iso_weeks_are_parsed_and_printed() -> None:
    assert domain.parse_iso_week("2027-W01") == JAN4
    assert domain.iso_week(date(2027, 1, 10)) == "2027-W01"
    assert domain.iso_week(date(2026, 12, 31)) == "2026-W53"
    for bad in ("2027-W54", "2027-1", "27-W01"):
        with pytest.raises(ValueError):
            domain.parse_iso_week(bad)
