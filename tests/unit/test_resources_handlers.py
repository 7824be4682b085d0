"""The resources use cases against in-memory fakes: given the events of a stream and the facts the reading interface
knows, when a handler runs a command, then the events it appended and its answer, or the error and nothing
appended."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

import pytest

from resources import domain, handlers
from resources.handlers import Deliverable, Period, PersonalDataWrite, Registration
from resources.projections import PersonalData
from shared.contracts import resources as ev
from shared.errors import (
    ConcurrencyError,
    InvalidCommandError,
    NotFoundError,
    RuleViolationError,
    SeparationOfDutiesError,
)
from shared.events import DomainEvent
from tests.support.fakes import CONTEXT, FixedClock, InMemoryExecutor, acting_as
from tests.support.money import eur, usd
from tests.support.resources import KNOWN_PROJECTS, M1, OTHER_PROJECT, PROJECT, RID

TODAY = FixedClock().now().date()  # Monday 2027-03-01
W08 = date(2027, 2, 22)  # Monday of 2027-W08, last week
STREAM = domain.stream_id(RID)
ADA, MAX = acting_as("ada"), acting_as("max.manager")


@dataclass
class FakeFacts:
    """The reading interface, answering from what the test gives it."""

    role_cards: dict[uuid.UUID, domain.RoleRateCard] = field(default_factory=dict)
    policies: dict[uuid.UUID, domain.DepartmentPolicy] = field(default_factory=dict)
    names: dict[uuid.UUID, str] = field(default_factory=dict)
    anyones_name: str | None = None  # the name of a resource the test does not know the id of
    projects: dict[uuid.UUID, domain.KnownProject] = field(default_factory=dict)  # consumed from the projects topic
    rates: list[domain.ExchangeRate] = field(default_factory=list)  # consumed from the budget topic
    executor: InMemoryExecutor | None = None  # whose streams hold the work sheets (the service's query table)
    asked: list[str] = field(default_factory=list)

    async def role_rates(self, resource_id: uuid.UUID) -> domain.RoleRateCard:
        self.asked.append("role_rates")
        return self.role_cards.get(resource_id, domain.RoleRateCard())

    async def department_policy(self, resource_id: uuid.UUID) -> domain.DepartmentPolicy:
        self.asked.append("department_policy")
        return self.policies.get(resource_id, domain.DepartmentPolicy())

    async def name(self, resource_id: uuid.UUID) -> str | None:
        return self.names.get(resource_id, self.anyones_name)

    async def known_project(self, project_id: uuid.UUID) -> domain.KnownProject | None:
        self.asked.append("known_project")
        return self.projects.get(project_id)

    async def sheet_project(self, resource_id: uuid.UUID, sheet_id: uuid.UUID) -> uuid.UUID | None:
        self.asked.append("sheet_project")
        events = self.executor.appended(domain.stream_id(resource_id)) if self.executor else []
        submitted = (e for e in events if isinstance(e, ev.WorkSheetSubmitted) and e.sheet_id == sheet_id)
        return next((e.project_id for e in submitted), None)

    async def exchange_rates(self, currency: str, on: date) -> tuple[domain.ExchangeRate, ...]:
        """Per pair from or to ``currency``, the latest rate effective on or before ``on`` (as the SQL does)."""
        self.asked.append(f"exchange_rates {currency} {on}")
        in_force: dict[tuple[str, str], domain.ExchangeRate] = {}
        for r in sorted(self.rates, key=lambda r: r.effective_on):
            if currency in (r.base, r.quote) and r.effective_on <= on:
                in_force[(r.base, r.quote)] = r
        return tuple(in_force.values())


@dataclass
class FakePeople:
    """The erasable personal-data table: ``status`` says what it holds for the resource."""

    status: PersonalDataWrite
    written: list[PersonalData] = field(default_factory=list)

    async def replace_personal_data(self, data: PersonalData) -> PersonalDataWrite:
        if self.status is PersonalDataWrite.REPLACED:
            self.written.append(data)
        return self.status


def registered(department: str = "engineering", subject: str | None = None) -> ev.ResourceRegistered:
    return ev.ResourceRegistered(
        resource_id=RID,
        kind=ev.ResourceKind.PERSON,
        vendor_id=None,
        role="developer",
        department=department,
        weekly_capacity_hours=Decimal(40),
        currency="EUR",
        registered_on=date(2027, 1, 4),
        subject=subject,
    )


def rate_set(amount: str, effective_from: date = date(2027, 1, 1)) -> ev.RateSet:
    return ev.RateSet(resource_id=RID, effective_from=effective_from, hourly_rate=eur(amount), replaces_rate=None)


def given(*events: DomainEvent) -> InMemoryExecutor:
    executor = InMemoryExecutor()
    executor.given(STREAM, *events)
    return executor


def new_events(executor: InMemoryExecutor, before: int, stream: str = STREAM) -> list[DomainEvent]:
    """What the command appended to ``stream`` after the ``before`` events given."""
    return executor.appended(stream)[before:]


def facts_for(
    *,
    policy: ev.OverAllocationPolicy = ev.OverAllocationPolicy.WARN,
    department: str = "engineering",
    executor: InMemoryExecutor | None = None,
) -> FakeFacts:
    """Facts about RID, with PROJECT and OTHER_PROJECT known (EUR, active) and the sheets of ``executor``."""
    return FakeFacts(
        role_cards={RID: domain.RoleRateCard("developer", ())},
        policies={RID: domain.DepartmentPolicy(department, policy)},
        names={RID: "Ada Lovelace"},
        projects=dict(KNOWN_PROJECTS),
        executor=executor,
    )


def week_of(hours: str, days: int = 5) -> tuple[ev.TimeEntry, ...]:
    days_worked = (date.fromordinal(W08.toordinal() + i) for i in range(days))
    return tuple(ev.TimeEntry(day=d, milestone_id=None, hours=Decimal(hours)) for d in days_worked)


# --- registration and personal data -------------------------------------------------------------------------


async def test_registering_records_the_resource_as_of_today_and_answers_with_its_name() -> None:
    executor, facts = InMemoryExecutor(), FakeFacts(anyones_name="Ada Lovelace")
    registration = Registration(
        kind=ev.ResourceKind.PERSON,
        vendor_id=None,
        role="developer",
        department="engineering",
        weekly_capacity_hours=Decimal(40),
        currency="EUR",
        subject=" ada.l ",
        name="Ada Lovelace",
        email=None,
        phone=None,
    )
    outcome = await handlers.register_resource(executor, facts, CONTEXT, registration)
    (stream,) = executor.streams
    (event,) = executor.appended(stream)
    assert isinstance(event, ev.ResourceRegistered)
    assert (event.registered_on, event.subject, event.role) == (TODAY, "ada.l", "developer")
    assert outcome.status_code == 201 and outcome.version == 1
    assert outcome.body["resource_id"] == str(event.resource_id) and outcome.body["name"] == "Ada Lovelace"


async def test_a_registration_with_an_unusable_subject_is_refused_naming_the_field() -> None:
    executor = InMemoryExecutor()
    registration = Registration(
        ev.ResourceKind.PERSON, None, "developer", "engineering", Decimal(40), "EUR", "   ", "Ada", None, None
    )
    with pytest.raises(InvalidCommandError) as error:
        await handlers.register_resource(executor, FakeFacts(), CONTEXT, registration)
    assert error.value.field == "subject"
    assert executor.streams == {}


@pytest.mark.parametrize(
    ("status", "error"),
    [(PersonalDataWrite.NO_SUCH_RESOURCE, NotFoundError), (PersonalDataWrite.ERASED, RuleViolationError)],
)
async def test_personal_data_is_not_replaced_for_an_unknown_or_erased_resource(
    status: PersonalDataWrite, error: type[Exception]
) -> None:
    people = FakePeople(status)
    with pytest.raises(error):
        await handlers.replace_personal_data(people, PersonalData(RID, "Ada", None, None))
    assert people.written == []


async def test_personal_data_is_replaced_and_echoed() -> None:
    people = FakePeople(PersonalDataWrite.REPLACED)
    body = await handlers.replace_personal_data(people, PersonalData(RID, "Ada King", "ada@example.org", None))
    assert body == {"resource_id": str(RID), "name": "Ada King", "email": "ada@example.org", "phone": None}
    assert people.written == [PersonalData(RID, "Ada King", "ada@example.org", None)]


async def test_erasing_twice_records_the_erasure_once() -> None:
    executor = given(registered())
    first = await handlers.erase_personal_data(executor, CONTEXT, RID)
    second = await handlers.erase_personal_data(executor, CONTEXT, RID)
    assert new_events(executor, 1) == [ev.PersonalDataErased(resource_id=RID, erased_on=TODAY)]
    assert (first.status_code, first.body, first.version, second.version) == (204, {}, 2, 2)


# --- profile, skills and rates ------------------------------------------------------------------------------


async def test_a_skill_without_a_date_is_acquired_today_and_the_answer_names_the_resource() -> None:
    executor = given(registered())
    outcome = await handlers.record_skill(
        executor, facts_for(), CONTEXT, RID, "PostgreSQL", ev.SkillLevel.ADVANCED, None
    )
    (event,) = new_events(executor, 1)
    assert isinstance(event, ev.SkillRecorded) and event.acquired_on == TODAY
    assert outcome.status_code == 201 and outcome.body["name"] == "Ada Lovelace"
    assert [s["skill"] for s in outcome.body["skills"]] == ["PostgreSQL"]


async def test_commands_on_an_unknown_resource_are_not_found_and_append_nothing() -> None:
    executor = InMemoryExecutor()
    with pytest.raises(NotFoundError):
        await handlers.change_profile(executor, FakeFacts(), CONTEXT, RID, "architect", "engineering", None)
    with pytest.raises(NotFoundError):
        await handlers.allocate(executor, FakeFacts(), CONTEXT, RID, PROJECT, None, Period(Decimal(8), W08, TODAY))
    assert executor.appended(STREAM) == []


async def test_nobody_sets_their_own_rate() -> None:
    executor = given(registered(subject="ada"))
    with pytest.raises(SeparationOfDutiesError):
        await handlers.set_rate(executor, facts_for(), ADA, RID, eur("500.00"), date(2027, 1, 1))
    outcome = await handlers.set_rate(executor, facts_for(), MAX, RID, eur("80.00"), date(2027, 1, 1))
    assert new_events(executor, 1) == [rate_set("80.00")]
    assert outcome.body["rates"] == [
        {"effective_from": "2027-01-01", "hourly_rate": {"amount": "80.00", "currency": "EUR"}}
    ]


async def test_a_capacity_change_answers_with_the_weeks_it_leaves_over_allocated() -> None:
    executor = given(registered())
    period = Period(Decimal(32), date(2027, 3, 1), date(2027, 3, 19))
    await handlers.allocate(executor, facts_for(), CONTEXT, RID, PROJECT, None, period)
    outcome = await handlers.change_capacity(executor, facts_for(), CONTEXT, RID, Decimal(24), date(2027, 3, 8))
    assert [(w["week"], w["over_hours"]) for w in outcome.body["over_allocation"]] == [
        ("2027-W10", "8"),
        ("2027-W11", "8"),
    ]


async def test_role_rates_and_department_policies_are_their_own_streams() -> None:
    executor = InMemoryExecutor()
    rates = await handlers.set_role_rate(executor, CONTEXT, "developer", eur("60.00"), date(2027, 1, 1))
    policy = await handlers.set_over_allocation_policy(executor, CONTEXT, "ops", ev.OverAllocationPolicy.BLOCK)
    assert rates.status_code == 201 and rates.body["role"] == "developer"
    assert policy.body == {"department": "ops", "policy": "block"}
    assert set(executor.streams) == {domain.role_rate_stream("developer"), domain.department_stream("ops")}


# --- allocations: the department's policy is a fact the handler reads ---------------------------------------


async def test_an_allocation_past_capacity_is_recorded_under_a_warn_policy() -> None:
    executor = given(registered())
    facts = facts_for(policy=ev.OverAllocationPolicy.WARN)
    await handlers.allocate(executor, facts, CONTEXT, RID, PROJECT, None, Period(Decimal(30), W08, TODAY))
    outcome = await handlers.allocate(
        executor, facts, CONTEXT, RID, OTHER_PROJECT, None, Period(Decimal(20), W08, TODAY)
    )
    second = new_events(executor, 1)[1]
    assert isinstance(second, ev.ResourceAllocated) and second.over_allocated
    assert outcome.status_code == 201 and outcome.body["allocation_id"] == str(second.allocation_id)
    assert outcome.body["over_allocated"] is True
    assert facts.asked == ["department_policy", "known_project"] * 2


async def test_an_allocation_past_capacity_is_refused_under_a_block_policy_and_nothing_is_appended() -> None:
    executor = given(registered())
    facts = facts_for(policy=ev.OverAllocationPolicy.BLOCK)
    await handlers.allocate(executor, facts, CONTEXT, RID, PROJECT, None, Period(Decimal(30), W08, TODAY))
    with pytest.raises(domain.OverAllocationBlockedError, match="blocks over-allocation"):
        await handlers.allocate(executor, facts, CONTEXT, RID, PROJECT, None, Period(Decimal(20), W08, TODAY))
    assert len(new_events(executor, 1)) == 1


async def test_a_policy_read_for_the_department_the_resource_left_is_a_concurrent_change() -> None:
    executor = given(registered(department="research"))
    with pytest.raises(ConcurrencyError):
        await handlers.allocate(
            executor, facts_for(department="engineering"), CONTEXT, RID, PROJECT, None, Period(Decimal(8), W08, TODAY)
        )
    assert new_events(executor, 1) == []


async def test_changing_and_ending_an_allocation() -> None:
    executor = given(registered())
    facts = facts_for()
    created = await handlers.allocate(executor, facts, CONTEXT, RID, PROJECT, None, Period(Decimal(20), W08, TODAY))
    allocation_id = uuid.UUID(created.body["allocation_id"])
    changed = await handlers.change_allocation(
        executor, facts, CONTEXT, RID, allocation_id, Period(Decimal(10), W08, TODAY), "less"
    )
    ended = await handlers.end_allocation(executor, CONTEXT, RID, allocation_id, None, "done")
    assert changed.body["hours_per_week"] == "10"
    assert (ended.body["ends_on"], ended.body["ended"]) == (TODAY.isoformat(), True)
    with pytest.raises(domain.AllocationEndedError):
        await handlers.end_allocation(executor, CONTEXT, RID, allocation_id, None, "again")


# --- work sheets: the role's default rates are a fact the handler reads -------------------------------------


async def test_a_work_sheet_is_submitted_by_the_acting_user_and_priced_at_the_roles_rate_on_approval() -> None:
    executor = given(registered())
    facts = facts_for(executor=executor)
    facts.role_cards[RID] = domain.RoleRateCard("developer", (domain.Rate(date(2027, 1, 1), eur("60.00")),))
    submitted = await handlers.submit_work_sheet(executor, facts, ADA, RID, PROJECT, "2027-W08", week_of("8"), ())
    sheet_id = uuid.UUID(submitted.body["sheet_id"])
    approved = await handlers.approve_work_sheet(executor, facts, MAX, RID, sheet_id, None, 1)
    submission, approval = new_events(executor, 1)
    assert isinstance(submission, ev.WorkSheetSubmitted) and submission.submitted_by == "ada"
    assert isinstance(approval, ev.WorkSheetApproved)
    assert (approval.approved_by, approval.approved_on, approval.cost) == ("max.manager", TODAY, eur("2400.00"))
    assert {e.rate_source for e in approval.entries} == {ev.RateSource.ROLE}
    assert approved.body["approved_cost"] == {"amount": "2400.00", "currency": "EUR"}
    assert approved.body["approved_booked"] is None and approval.booked is None
    assert facts.asked == [
        *("role_rates", "known_project"),  # submission
        *("sheet_project", "known_project", "role_rates", f"exchange_rates EUR {TODAY}"),  # approval
    ]


async def test_a_sheet_without_a_rate_for_a_day_is_refused_naming_the_entry() -> None:
    executor = given(registered(), rate_set("80.00", date(2027, 2, 23)))
    with pytest.raises(domain.NoRateInForceError) as error:
        await handlers.submit_work_sheet(executor, facts_for(), ADA, RID, PROJECT, "2027-W08", week_of("8"), ())
    assert error.value.field == "entries.0.day"
    assert new_events(executor, 2) == []


async def test_role_rates_read_for_a_role_the_resource_no_longer_has_are_a_concurrent_change() -> None:
    executor = given(registered(), rate_set("80.00"))
    facts = facts_for()
    facts.role_cards[RID] = domain.RoleRateCard("tester", ())
    with pytest.raises(ConcurrencyError):
        await handlers.submit_work_sheet(executor, facts, ADA, RID, PROJECT, "2027-W08", week_of("8"), ())


async def test_the_submitter_neither_approves_nor_rejects_and_someone_else_rejects_with_a_reason() -> None:
    executor = given(registered(), rate_set("80.00"))
    facts = facts_for(executor=executor)
    submitted = await handlers.submit_work_sheet(executor, facts, ADA, RID, PROJECT, "2027-W08", week_of("8"), ())
    sheet_id = uuid.UUID(submitted.body["sheet_id"])
    with pytest.raises(SeparationOfDutiesError):
        await handlers.approve_work_sheet(executor, facts, ADA, RID, sheet_id, None, None)
    with pytest.raises(SeparationOfDutiesError):
        await handlers.reject_work_sheet(executor, ADA, RID, sheet_id, "no", None, None)
    rejected = await handlers.reject_work_sheet(executor, MAX, RID, sheet_id, "wrong project", None, None)
    assert rejected.body["status"] == "rejected"
    assert [type(e) for e in new_events(executor, 2)] == [ev.WorkSheetSubmitted, ev.WorkSheetRejected]


async def test_a_correction_is_submitted_by_the_acting_user_and_deliverables_are_accepted_by_them() -> None:
    vendor = registered().model_copy(update={"kind": ev.ResourceKind.SUBCONTRACTOR, "vendor_id": "acme"})
    executor = given(vendor, rate_set("50.00"))
    facts = facts_for(executor=executor)
    deliverable = Deliverable(None, "data migration", eur("4000.00"), date(2027, 2, 24))
    submitted = await handlers.submit_work_sheet(executor, facts, ADA, RID, PROJECT, "2027-W08", (), (deliverable,))
    sheet_id = uuid.UUID(submitted.body["sheet_id"])
    corrected = await handlers.correct_work_sheet(
        executor, facts, MAX, RID, sheet_id, week_of("8", days=2), (deliverable,), "hours too"
    )
    submission, correction = new_events(executor, 2)
    assert isinstance(submission, ev.WorkSheetSubmitted) and submission.deliverables[0].accepted_by == "ada"
    assert isinstance(correction, ev.WorkSheetCorrected)
    assert (correction.submitted_by, correction.deliverables[0].accepted_by) == ("max.manager", "max.manager")
    assert corrected.status_code == 201 and corrected.body["version"] == 2


# --- the project is a fact the handler reads: known, open, its milestones ------------------------------------


async def test_a_sheet_for_a_project_the_service_has_not_seen_is_refused_naming_project_id_and_nothing_appended() -> (
    None
):
    executor = given(registered(), rate_set("80.00"))
    stranger = uuid.uuid4()
    with pytest.raises(domain.UnknownProjectError, match="not arrived yet") as error:
        await handlers.submit_work_sheet(executor, facts_for(), ADA, RID, stranger, "2027-W08", week_of("8"), ())
    assert error.value.field == "project_id"
    assert new_events(executor, 2) == []


async def test_an_allocation_to_a_project_the_service_has_not_seen_is_refused_and_nothing_appended() -> None:
    executor = given(registered())
    with pytest.raises(domain.UnknownProjectError) as error:
        await handlers.allocate(executor, facts_for(), CONTEXT, RID, uuid.uuid4(), None, Period(Decimal(8), W08, TODAY))
    assert error.value.field == "project_id"
    with pytest.raises(domain.UnknownMilestoneError) as unknown_milestone:
        await handlers.allocate(executor, facts_for(), CONTEXT, RID, OTHER_PROJECT, M1, Period(Decimal(8), W08, TODAY))
    assert unknown_milestone.value.field == "milestone_id"
    assert new_events(executor, 1) == []


async def test_a_correction_reads_the_sheets_project_and_is_refused_once_the_project_is_completed() -> None:
    executor = given(registered(), rate_set("80.00"))
    facts = facts_for(executor=executor)
    submitted = await handlers.submit_work_sheet(executor, facts, ADA, RID, PROJECT, "2027-W08", week_of("8"), ())
    sheet_id = uuid.UUID(submitted.body["sheet_id"])
    facts.projects[PROJECT] = replace(facts.projects[PROJECT], status="completed")
    with pytest.raises(domain.ProjectClosedError):
        await handlers.correct_work_sheet(executor, facts, ADA, RID, sheet_id, week_of("7"), (), "fewer hours")
    assert [type(e) for e in new_events(executor, 2)] == [ev.WorkSheetSubmitted]


# --- a cost in another currency: the rates in force on the approval date are facts the handler reads ---------


def fx(base: str, quote: str, rate: str, on: date) -> domain.ExchangeRate:
    return domain.ExchangeRate(base, quote, Decimal(rate), on, "ECB reference rate")


async def a_dollar_sheet(facts: FakeFacts, executor: InMemoryExecutor) -> uuid.UUID:
    """40 hours of a person costing 120.00 USD an hour, submitted on PROJECT (EUR): 4800.00 USD."""
    executor.given(
        STREAM,
        registered().model_copy(update={"currency": "USD"}),
        ev.RateSet(resource_id=RID, effective_from=date(2027, 1, 1), hourly_rate=usd("120.00"), replaces_rate=None),
    )
    submitted = await handlers.submit_work_sheet(executor, facts, ADA, RID, PROJECT, "2027-W08", week_of("8"), ())
    return uuid.UUID(submitted.body["sheet_id"])


async def test_a_usd_sheet_on_a_eur_project_is_booked_in_eur_at_the_rate_in_force_on_the_approval_date() -> None:
    executor = InMemoryExecutor()
    facts = facts_for(executor=executor)
    facts.rates = [
        fx("USD", "EUR", "0.9000", date(2027, 1, 4)),
        fx("USD", "EUR", "0.9215", date(2027, 2, 26)),  # in force on 2027-03-01
        fx("USD", "EUR", "0.9900", date(2027, 3, 2)),  # from tomorrow
    ]
    sheet_id = await a_dollar_sheet(facts, executor)
    outcome = await handlers.approve_work_sheet(executor, facts, MAX, RID, sheet_id, None, None)
    (approval,) = new_events(executor, 3)
    assert isinstance(approval, ev.WorkSheetApproved) and approval.cost == usd("4800.00")
    # 4800.00 USD x 0.9215 = 4423.20 EUR
    assert approval.booked is not None and approval.booked.amount == eur("4423.20")
    assert (approval.booked.rate, approval.booked.rate_on) == (Decimal("0.9215"), date(2027, 2, 26))
    assert outcome.body["approved_booked"]["amount"] == {"amount": "4423.20", "currency": "EUR"}
    assert f"exchange_rates EUR {TODAY}" in facts.asked


async def test_with_no_rate_in_force_the_approval_is_refused_naming_the_currency_and_nothing_is_appended() -> None:
    executor = InMemoryExecutor()
    facts = facts_for(executor=executor)
    facts.rates = [fx("USD", "EUR", "0.9900", date(2027, 3, 2))]  # only from tomorrow
    sheet_id = await a_dollar_sheet(facts, executor)
    with pytest.raises(domain.NoExchangeRateError, match=r"no USD->EUR exchange rate .* in force on 2027-03-01") as e:
        await handlers.approve_work_sheet(executor, facts, MAX, RID, sheet_id, None, None)
    assert e.value.field == "currency"
    assert new_events(executor, 3) == []


async def test_approving_a_correction_reverses_the_booking_approved_before_and_books_the_new_version_anew() -> None:
    executor = InMemoryExecutor()
    facts = facts_for(executor=executor)
    facts.rates = [fx("EUR", "USD", "1.0850", date(2027, 2, 1))]  # only EUR->USD: its inverse is used
    sheet_id = await a_dollar_sheet(facts, executor)
    await handlers.approve_work_sheet(executor, facts, MAX, RID, sheet_id, None, None)
    facts.rates.append(fx("USD", "EUR", "0.9300", date(2027, 3, 1)))  # recorded since: in force today, direct
    await handlers.correct_work_sheet(executor, facts, ADA, RID, sheet_id, week_of("8", days=4), (), "Friday off")
    await handlers.approve_work_sheet(executor, facts, MAX, RID, sheet_id, None, None)
    first, _, reversal, second = new_events(executor, 3)
    assert isinstance(first, ev.WorkSheetApproved) and first.booked is not None
    assert first.booked.amount == eur("4423.96")  # 4800.00 / 1.0850 = 4423.963133... -> 4423.96
    assert isinstance(reversal, ev.WorkSheetApprovalReversed) and reversal.booked == first.booked
    assert isinstance(second, ev.WorkSheetApproved) and second.booked is not None
    assert second.booked.amount == eur("3571.20")  # 32 h x 120.00 = 3840.00 USD x 0.9300
