"""The projects service's use cases against in-memory fakes: given events in the executor (and portfolios and
programmes known to the facts), when a handler runs, then the events it appended and its answer, or its error."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from projects import domain, handlers
from shared.contracts import projects as ev
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from shared.events import DomainEvent
from shared.money import Money
from tests.support.fakes import CONTEXT, FixedClock, InMemoryExecutor, acting_as
from tests.support.projects import APPROVE, PID, REGISTER, START, Scenario

STREAM = domain.stream_id(PID)
CLOCK = FixedClock()
TODAY = CLOCK.now().date()  # 2027-03-01
DIRECTOR = acting_as("dora.director")


@dataclass
class FakeGroupings:
    """Portfolios and programmes by id, each with its portfolio."""

    portfolios: set[str] = field(default_factory=set)
    programmes: dict[str, str] = field(default_factory=dict)

    async def portfolio_of(self, kind: handlers.GroupingKind, grouping_id: str) -> str | None:
        if kind == "portfolio":
            return grouping_id if grouping_id in self.portfolios else None
        return self.programmes.get(grouping_id)

    async def closed(self, kind: handlers.GroupingKind, grouping_id: str) -> bool:
        return False

    async def open_members(self, kind: handlers.GroupingKind, grouping_id: str) -> tuple[str, ...]:
        return ()


class NoReporting:
    """A reporting service that cannot answer."""

    async def project_report(self, project_id: uuid.UUID, as_of: date) -> object:
        raise handlers.ReportingUnavailableError("reporting is down")


def given(*commands: domain.Command) -> InMemoryExecutor:
    """An executor holding project PID's events after ``commands``."""
    executor = InMemoryExecutor(clock=FixedClock())
    executor.given(STREAM, *Scenario(CLOCK.now()).given(*commands).history)
    return executor


def active() -> InMemoryExecutor:
    return given(REGISTER, APPROVE, START)


def appended_since(executor: InMemoryExecutor, before: list[DomainEvent]) -> list[type[DomainEvent]]:
    return [type(e) for e in executor.appended(STREAM)[len(before) :]]


async def registration(executor: InMemoryExecutor, facts: FakeGroupings, **overrides: Any) -> Any:
    """Project CRM (:data:`REGISTER`'s fields) registered by pat.pmo, in no portfolio unless ``overrides`` say."""
    fields = {k: v for k, v in asdict(REGISTER).items() if k not in ("project_id", "registered_by")}
    fields |= {"portfolio_id": None} | overrides
    return await handlers.register_project(executor, facts, acting_as("pat.pmo"), **fields)


# --- portfolios, programmes and registration (the handlers that read facts) -----------------------------------


async def test_a_project_is_registered_proposed_by_the_acting_user_on_a_new_stream() -> None:
    executor = InMemoryExecutor()
    outcome = await registration(executor, FakeGroupings({"digital"}), portfolio_id="digital")
    assert outcome.status_code == 201 and outcome.version == 1
    assert outcome.body["status"] == "proposed" and outcome.body["portfolio_id"] == "digital"
    (event,) = executor.appended(domain.stream_id(uuid.UUID(outcome.body["project_id"])))
    assert isinstance(event, ev.ProjectRegistered) and event.registered_by == "pat.pmo"


async def test_a_project_in_an_unknown_portfolio_or_programme_is_not_found_naming_the_field() -> None:
    executor = InMemoryExecutor()
    with pytest.raises(NotFoundError) as error:
        await registration(executor, FakeGroupings(), portfolio_id="nowhere")
    assert error.value.field == "portfolio_id"
    with pytest.raises(NotFoundError) as error:
        await registration(executor, FakeGroupings({"digital"}), programme_id="cx")
    assert error.value.field == "programme_id"
    assert executor.streams == {}


async def test_a_programme_sets_the_projects_portfolio_and_must_belong_to_the_one_given() -> None:
    executor = InMemoryExecutor()
    facts = FakeGroupings({"digital", "finance"}, {"cx": "digital"})
    outcome = await registration(executor, facts, programme_id="cx")
    assert outcome.body["portfolio_id"] == "digital" and outcome.body["programme_id"] == "cx"
    with pytest.raises(InvalidCommandError, match="belongs to portfolio digital, not finance") as error:
        await registration(executor, facts, code="OTHER", portfolio_id="finance", programme_id="cx")
    assert error.value.field == "programme_id"


async def test_a_programme_is_created_only_inside_an_existing_portfolio() -> None:
    executor = InMemoryExecutor()
    with pytest.raises(NotFoundError, match="portfolio digital does not exist"):
        await handlers.create_programme(
            executor, FakeGroupings(), CONTEXT, portfolio_id="digital", programme_id="cx", name="CX", description=""
        )
    outcome = await handlers.create_programme(
        executor,
        FakeGroupings({"digital"}),
        CONTEXT,
        portfolio_id="digital",
        programme_id="cx",
        name="CX",
        description="",
    )
    assert outcome.status_code == 201
    assert outcome.body == {
        "kind": "programme",
        "grouping_id": "cx",
        "portfolio_id": "digital",
        "name": "CX",
        "description": "",
    }
    assert [type(e) for e in executor.appended(domain.programme_stream("cx"))] == [ev.ProgrammeCreated]


async def test_a_portfolio_is_created_once() -> None:
    executor = InMemoryExecutor()
    created = await handlers.create_portfolio(executor, CONTEXT, portfolio_id="digital", name="Digital", description="")
    assert created.status_code == 201 and created.body["grouping_id"] == "digital"
    with pytest.raises(RuleViolationError, match="portfolio digital already exists"):
        await handlers.create_portfolio(executor, CONTEXT, portfolio_id="digital", name="Again", description="")


# --- lifecycle and gates ------------------------------------------------------------------------------------


async def test_approval_is_dated_today_by_the_executors_clock_and_signed_by_the_acting_user() -> None:
    executor = given(REGISTER)
    outcome = await handlers.approve_project(executor, acting_as("dora"), PID, approved_on=None, note="go")
    approved = executor.appended(STREAM)[-1]
    assert isinstance(approved, ev.ProjectApproved)
    assert (approved.approved_by, approved.approved_on) == ("dora", TODAY)
    assert outcome.body["status"] == "approved" and outcome.version == 2


async def test_whoever_registered_the_project_does_not_approve_it() -> None:
    executor = given(REGISTER)
    with pytest.raises(SeparationOfDutiesError):
        await handlers.approve_project(executor, acting_as("pat.pmo"), PID, approved_on=None, note="")
    assert len(executor.appended(STREAM)) == 1


async def test_commands_on_an_unknown_project_are_not_found_and_append_nothing() -> None:
    executor = InMemoryExecutor()
    with pytest.raises(domain.ProjectNotFoundError):
        await handlers.start_project(executor, DIRECTOR, PID, started_on=None)
    with pytest.raises(NotFoundError):
        await handlers.plan_milestone(
            executor,
            DIRECTOR,
            PID,
            name="M",
            due_date=TODAY,
            planned_value=Money.of("1", "EUR"),
            acceptance_criteria="",
        )
    assert executor.streams == {}


async def test_the_lifecycle_runs_through_its_handlers_and_a_final_project_accepts_no_change() -> None:
    executor = given(REGISTER, APPROVE)
    before = executor.appended(STREAM)
    await handlers.start_project(executor, DIRECTOR, PID, started_on=None)
    await handlers.put_project_on_hold(executor, DIRECTOR, PID, reason="funding", on=None)
    await handlers.resume_project(executor, DIRECTOR, PID, on=None, note="")
    completed = await handlers.complete_project(executor, DIRECTOR, PID, completed_on=None, note="done")
    assert appended_since(executor, before) == [
        ev.ProjectStarted,
        ev.ProjectPutOnHold,
        ev.ProjectResumed,
        ev.ProjectCompleted,
    ]
    assert completed.body["status"] == "completed" and completed.body["actual_end"] == str(TODAY)
    with pytest.raises(domain.ProjectClosedError, match="completed; it accepts no change"):
        await handlers.terminate_project(executor, DIRECTOR, PID, reason="late", on=None)


async def test_an_illegal_transition_is_refused_saying_why() -> None:
    with pytest.raises(domain.IllegalTransitionError, match="cannot complete a proposed project"):
        await handlers.complete_project(given(REGISTER), DIRECTOR, PID, completed_on=None, note="")


async def test_a_gate_decision_answers_with_the_decision_and_the_projects_new_status() -> None:
    executor = active()
    outcome = await handlers.record_gate_decision(
        executor,
        NoReporting(),
        acting_as("dora"),
        PID,
        gate="G2",
        decision=ev.GateOutcome.HOLD,
        rationale="red",
        decided_on=None,
    )
    assert outcome.status_code == 201
    assert outcome.body["project_status"] == "on_hold" and outcome.body["decided_by"] == "dora"
    assert [type(e) for e in executor.appended(STREAM)[-2:]] == [ev.GateDecided, ev.ProjectPutOnHold]


# --- milestones ---------------------------------------------------------------------------------------------


async def plan(executor: InMemoryExecutor, amount: str = "1000.00", currency: str = "EUR") -> Any:
    return await handlers.plan_milestone(
        executor,
        DIRECTOR,
        PID,
        name="Design",
        due_date=date(2027, 2, 15),
        planned_value=Money.of(amount, currency),
        acceptance_criteria="signed",
    )


async def test_a_planned_milestone_is_answered_alone() -> None:
    outcome = await plan(active())
    assert outcome.status_code == 201
    assert outcome.body["name"] == "Design" and outcome.body["planned_value"] == {
        "amount": "1000.00",
        "currency": "EUR",
    }


async def test_a_milestone_in_another_currency_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidCommandError) as error:
        await plan(active(), currency="USD")
    assert error.value.field == "planned_value.currency"


async def test_progress_is_dated_today_and_reaching_is_accepted_by_the_acting_user() -> None:
    executor = active()
    milestone_id = uuid.UUID((await plan(executor)).body["milestone_id"])
    progress = await handlers.report_milestone_progress(
        executor, DIRECTOR, PID, milestone_id, percent_complete=Decimal(40), as_of=None, correction_reason=None
    )
    assert progress.body["percent_complete"] == "40" and progress.body["progress_as_of"] == str(TODAY)
    reached = await handlers.mark_milestone_reached(
        executor, acting_as("pat.pmo"), PID, milestone_id, reached_on=None, acceptance_note="ok"
    )
    assert reached.body["status"] == "reached" and reached.body["accepted_by"] == "pat.pmo"
    with pytest.raises(domain.MilestoneClosedError, match="already reached"):
        await handlers.mark_milestone_reached(
            executor, DIRECTOR, PID, milestone_id, reached_on=None, acceptance_note=""
        )


async def test_a_milestone_is_missed_only_once_due_and_rescheduling_reopens_it() -> None:
    executor = active()
    milestone_id = uuid.UUID((await plan(executor)).body["milestone_id"])  # due 2027-02-15, before today
    missed = await handlers.mark_milestone_missed(executor, DIRECTOR, PID, milestone_id, reason="vendor late")
    assert missed.body["status"] == "missed" and missed.body["missed_reason"] == "vendor late"
    moved = await handlers.reschedule_milestone(
        executor, DIRECTOR, PID, milestone_id, due_date=date(2027, 3, 5), reason="new date agreed"
    )
    assert moved.body["status"] == "planned" and moved.body["reschedules"][0]["previous_due_date"] == "2027-02-15"
    with pytest.raises(RuleViolationError, match="cannot be missed before then"):
        await handlers.mark_milestone_missed(executor, DIRECTOR, PID, milestone_id, reason="late again")


async def test_an_unknown_milestone_is_not_found() -> None:
    with pytest.raises(domain.UnknownMilestoneError):
        await handlers.mark_milestone_missed(active(), DIRECTOR, PID, uuid.uuid4(), reason="late")


# --- status reports, KPIs, partners --------------------------------------------------------------------------


async def file_report(executor: InMemoryExecutor, **overrides: Any) -> Any:
    """A status report of today's meeting, all green unless ``overrides`` say."""
    dimensions = {d: ev.Rag.GREEN for d in ("schedule", "cost", "scope", "quality", "resources")}
    fields: dict[str, Any] = {"meeting_date": TODAY, "narrative": "", **dimensions} | overrides
    return await handlers.file_status_report(executor, DIRECTOR, PID, **fields)


async def test_a_status_report_is_answered_with_its_overall_rag() -> None:
    outcome = await file_report(
        active(), cost=ev.Rag.AMBER, quality=ev.Rag.RED, narrative="quality issue", risks=["test environment late"]
    )
    assert outcome.status_code == 201
    assert outcome.body["overall"] == "red" and outcome.body["risks"] == ["test environment late"]


async def test_a_status_report_on_a_proposed_project_is_refused() -> None:
    with pytest.raises(RuleViolationError, match="files no status report"):
        await file_report(given(REGISTER))


async def test_a_kpi_measurement_says_whether_the_target_is_met_and_unknown_kpis_are_not_found() -> None:
    executor = active()
    kpi = await handlers.define_kpi(
        executor,
        DIRECTOR,
        PID,
        name="Reach",
        unit="%",
        target=Decimal(80),
        direction=ev.KpiDirection.AT_LEAST,
        review_date=TODAY,
    )
    kpi_id = uuid.UUID(kpi.body["kpi_id"])
    measured = await handlers.measure_kpi(
        executor, DIRECTOR, PID, kpi_id, value=Decimal("76.5"), measured_on=None, note=""
    )
    assert measured.status_code == 201 and measured.body["measurements"][-1]["target_met"] is False
    with pytest.raises(domain.UnknownKpiError):
        await handlers.measure_kpi(executor, DIRECTOR, PID, uuid.uuid4(), value=Decimal(1), measured_on=None, note="")


async def test_communications_need_a_registered_partner_and_a_follow_up_closes_once() -> None:
    executor = active()
    with pytest.raises(domain.UnknownPartnerError):
        await handlers.log_communication(
            executor,
            DIRECTOR,
            PID,
            partner_id=uuid.uuid4(),
            on=TODAY,
            channel=ev.Channel.EMAIL,
            summary="hi",
            follow_up_due=None,
        )
    partner = await handlers.register_partner(
        executor, DIRECTOR, PID, name="Acme", kind=ev.PartnerKind.EXTERNAL_PARTNER, organisation="Acme", role="vendor"
    )
    logged = await handlers.log_communication(
        executor,
        DIRECTOR,
        PID,
        partner_id=uuid.UUID(partner.body["partner_id"]),
        on=TODAY,
        channel=ev.Channel.MEETING,
        summary="kick-off",
        follow_up_due=date(2027, 3, 8),
    )
    communication_id = uuid.UUID(logged.body["communication_id"])
    closed = await handlers.close_follow_up(executor, DIRECTOR, PID, communication_id, closed_on=None, note="")
    assert closed.body["follow_up_closed_on"] == str(TODAY)
    with pytest.raises(RuleViolationError, match="already closed"):
        await handlers.close_follow_up(executor, DIRECTOR, PID, communication_id, closed_on=None, note="")
