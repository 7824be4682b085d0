"""Project lifecycle, gate decisions, milestones, status reports, KPIs and partners: given events, when command,
then events or error."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from projects import domain
from shared.contracts import projects as ev
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.money import Money
from tests.support.projects import APPROVE, NOW, PID, REGISTER, START, Scenario

TODAY = NOW.date()
M1 = domain.MilestoneId(uuid.UUID(int=11))
M2 = domain.MilestoneId(uuid.UUID(int=12))


def plan(mid: uuid.UUID = M1, due: date = date(2027, 3, 31), amount: str = "1000.00") -> domain.PlanMilestone:
    return domain.PlanMilestone(domain.MilestoneId(mid), f"M{mid.int}", due, Money.of(amount, "EUR"), "accepted")


def proposed() -> Scenario:
    return Scenario().given(REGISTER)


def active() -> Scenario:
    return Scenario().given(REGISTER, APPROVE, START)


# --- lifecycle ----------------------------------------------------------------------------------------------


def test_the_happy_lifecycle_proposed_approved_active_on_hold_active_completed() -> None:
    s = proposed()
    assert [type(e) for e in s.when(APPROVE)] == [ev.ProjectApproved]
    assert [type(e) for e in s.when(START)] == [ev.ProjectStarted]
    assert s.state.status is domain.ProjectStatus.ACTIVE and s.state.actual_start == date(2027, 1, 6)
    s.when(domain.PutProjectOnHold("waiting for funding", TODAY))
    assert s.state.status is domain.ProjectStatus.ON_HOLD and s.state.status_reason == "waiting for funding"
    s.when(domain.ResumeProject(TODAY))
    (completed,) = s.when(domain.CompleteProject(TODAY, "done"))
    assert isinstance(completed, ev.ProjectCompleted) and s.state.status is domain.ProjectStatus.COMPLETED


@pytest.mark.parametrize(
    ("given", "command", "message"),
    [
        ((REGISTER,), domain.CompleteProject(TODAY), "cannot complete a proposed project"),
        ((REGISTER,), START, "cannot start a proposed project"),
        ((REGISTER, APPROVE), APPROVE, "cannot approve a approved project"),
        ((REGISTER,), domain.PutProjectOnHold("x", TODAY), "cannot put on hold a proposed project"),
        ((REGISTER, APPROVE, START), domain.ResumeProject(TODAY), "cannot resume a active project"),
    ],
)
def test_illegal_transitions_are_refused_saying_why(
    given: tuple[domain.Command, ...], command: domain.Command, message: str
) -> None:
    with pytest.raises(RuleViolationError, match=message):
        Scenario().given(*given).when(command)


@pytest.mark.parametrize(
    "command",
    [
        APPROVE,
        START,
        domain.ResumeProject(TODAY),
        domain.TerminateProject("again", TODAY),
        plan(),
        domain.DefineKpi(uuid.uuid4(), "k", "%", Decimal(1), ev.KpiDirection.AT_LEAST, TODAY),
    ],
)
def test_a_terminated_project_accepts_no_change(command: domain.Command) -> None:
    s = active().given(domain.TerminateProject("funding withdrawn", TODAY))
    assert s.state.status is domain.ProjectStatus.TERMINATED
    with pytest.raises(RuleViolationError, match="terminated; it accepts no change"):
        s.when(command)


def test_any_open_project_can_be_terminated() -> None:
    for s in (proposed(), Scenario().given(REGISTER, APPROVE), active()):
        (event,) = s.when(domain.TerminateProject("no business case", TODAY))
        assert isinstance(event, ev.ProjectTerminated) and event.reason == "no business case"


def test_completion_needs_every_milestone_reached_or_missed() -> None:
    s = active().given(plan(M1), plan(M2, due=date(2027, 5, 1)))
    with pytest.raises(RuleViolationError, match="still open: M11, M12"):
        s.when(domain.CompleteProject(TODAY))
    s.given(domain.MarkMilestoneReached(M1, TODAY, "dora"), domain.MarkMilestoneMissed(M2, "vendor late"))
    assert isinstance(s.when(domain.CompleteProject(TODAY))[0], ev.ProjectCompleted)


def test_dates_in_the_future_are_refused() -> None:
    with pytest.raises(InvalidCommandError) as error:
        proposed().when(domain.ApproveProject("dora", date(2027, 6, 16)))
    assert error.value.field == "approved_on"


def test_commands_on_an_unregistered_project_are_not_found() -> None:
    with pytest.raises(NotFoundError):
        Scenario().when(APPROVE)


# --- gate decisions -----------------------------------------------------------------------------------------


def gate(decision: ev.GateOutcome, decision_id: int = 100) -> domain.RecordGateDecision:
    return domain.RecordGateDecision(uuid.UUID(int=decision_id), "G2", decision, "numbers", "dora", TODAY)


def test_a_gate_decision_keeps_the_figures_known_at_that_moment() -> None:
    s = active().given(plan(M1, amount="1000.00"), plan(M2, amount="3000.00", due=date(2027, 5, 1)))
    s.given(domain.ReportMilestoneProgress(M2, Decimal(50), TODAY), domain.MarkMilestoneReached(M1, TODAY, "dora"))
    (decided,) = s.when(gate(ev.GateOutcome.CONTINUE))
    assert isinstance(decided, ev.GateDecided)
    assert decided.snapshot.status == "active"
    assert decided.snapshot.milestones_planned == 2 and decided.snapshot.milestones_reached == 1
    assert decided.snapshot.planned_value == Money.of("4000.00", "EUR")
    assert decided.snapshot.earned_value == Money.of("2500.00", "EUR")  # 1000 x 100 % + 3000 x 50 %
    assert s.state.gate_decisions[0].rationale == "numbers"


def test_gate_hold_puts_an_active_project_on_hold_and_continue_resumes_it() -> None:
    s = active()
    held = s.when(gate(ev.GateOutcome.HOLD, 1))
    assert [type(e) for e in held] == [ev.GateDecided, ev.ProjectPutOnHold]
    assert s.state.status is domain.ProjectStatus.ON_HOLD
    resumed = s.when(gate(ev.GateOutcome.CONTINUE, 2))
    assert [type(e) for e in resumed] == [ev.GateDecided, ev.ProjectResumed]
    assert s.state.status is domain.ProjectStatus.ACTIVE


def test_gate_terminate_terminates_and_hold_on_a_proposed_project_is_refused() -> None:
    assert [type(e) for e in proposed().when(gate(ev.GateOutcome.TERMINATE))] == [ev.GateDecided, ev.ProjectTerminated]
    with pytest.raises(RuleViolationError, match="cannot be put on hold"):
        proposed().when(gate(ev.GateOutcome.HOLD))


# --- milestones ---------------------------------------------------------------------------------------------


def test_rescheduling_keeps_the_history_and_the_reason() -> None:
    s = active().given(plan(M1, due=date(2027, 3, 31)))
    (event,) = s.when(domain.RescheduleMilestone(M1, date(2027, 4, 30), "supplier delay"))
    assert isinstance(event, ev.MilestoneRescheduled) and event.previous_due_date == date(2027, 3, 31)
    s.when(domain.RescheduleMilestone(M1, date(2027, 5, 31), "second delay"))
    milestone = s.state.milestones[M1]
    assert milestone.due_date == date(2027, 5, 31)
    assert [(r.previous_due_date, r.reason) for r in milestone.reschedules] == [
        (date(2027, 3, 31), "supplier delay"),
        (date(2027, 4, 30), "second delay"),
    ]


def test_progress_never_goes_backwards_without_a_correction_reason() -> None:
    s = active().given(plan(), domain.ReportMilestoneProgress(M1, Decimal(60), TODAY))
    with pytest.raises(InvalidCommandError) as error:
        s.when(domain.ReportMilestoneProgress(M1, Decimal(40), TODAY))
    assert error.value.field == "correction_reason"
    (event,) = s.when(domain.ReportMilestoneProgress(M1, Decimal(40), TODAY, "double counted a work package"))
    assert isinstance(event, ev.MilestoneProgressReported)
    assert event.previous_percent_complete == Decimal(60) and s.state.milestones[M1].percent_complete == Decimal(40)


@pytest.mark.parametrize("percent", [Decimal(-1), Decimal("100.01")])
def test_progress_is_between_0_and_100(percent: Decimal) -> None:
    with pytest.raises(InvalidCommandError):
        active().given(plan()).when(domain.ReportMilestoneProgress(M1, percent, TODAY))


def test_reached_requires_acceptance_and_carries_what_finance_needs() -> None:
    s = active().given(plan(amount="1250.50"))
    with pytest.raises(InvalidCommandError) as error:
        s.when(domain.MarkMilestoneReached(M1, TODAY, "  "))
    assert error.value.field == "accepted_by"
    (event,) = s.when(domain.MarkMilestoneReached(M1, date(2027, 4, 2), "dora", "signed"))
    assert isinstance(event, ev.MilestoneReached)
    assert (event.project_id, event.milestone_id, event.planned_value) == (PID, M1, Money.of("1250.50", "EUR"))
    assert (event.due_date, event.reached_on) == (date(2027, 3, 31), date(2027, 4, 2))
    assert s.state.milestones[M1].percent_complete == Decimal(100)
    with pytest.raises(RuleViolationError, match="already reached"):
        s.when(domain.MarkMilestoneReached(M1, TODAY, "dora"))
    with pytest.raises(RuleViolationError):
        s.when(domain.RescheduleMilestone(M1, date(2027, 9, 1), "x"))


def test_a_milestone_is_missed_only_after_its_due_date_and_rescheduling_reopens_it() -> None:
    s = active().given(plan(M1, due=date(2027, 6, 20)), plan(M2, due=date(2027, 6, 1)))
    with pytest.raises(RuleViolationError, match="cannot be missed before then"):
        s.when(domain.MarkMilestoneMissed(M1, "late"))
    s.when(domain.MarkMilestoneMissed(M2, "vendor late"))
    assert s.state.milestones[M2].status is domain.MilestoneStatus.MISSED
    s.when(domain.RescheduleMilestone(M2, date(2027, 7, 1), "new date agreed"))
    assert s.state.milestones[M2].status is domain.MilestoneStatus.PLANNED


def test_a_milestone_due_before_the_project_starts_is_refused() -> None:
    with pytest.raises(InvalidCommandError) as error:
        active().when(plan(due=date(2026, 12, 31)))
    assert error.value.field == "due_date"


def test_earned_value_rounds_half_even_to_the_minor_unit() -> None:
    s = active().given(plan(amount="0.05"), domain.ReportMilestoneProgress(M1, Decimal(50), TODAY))
    assert s.state.earned_value == Money.of("0.02", "EUR")  # 0.025 -> 0.02


# --- status reports -----------------------------------------------------------------------------------------


def report(**overrides: object) -> domain.FileStatusReport:
    fields: dict[str, object] = dict(
        report_id=uuid.uuid4(),
        meeting_date=date(2027, 6, 14),
        schedule=ev.Rag.GREEN,
        cost=ev.Rag.AMBER,
        scope=ev.Rag.GREEN,
        quality=ev.Rag.GREEN,
        resources=ev.Rag.GREEN,
        narrative="on track",
    )
    fields.update(overrides)
    return domain.FileStatusReport(**fields)  # type: ignore[arg-type]


def test_overall_rag_is_the_worst_dimension() -> None:
    (amber,) = active().when(report())
    assert isinstance(amber, ev.StatusReported) and amber.overall is ev.Rag.AMBER and not amber.overall_overridden
    (red,) = active().when(report(quality=ev.Rag.RED))
    assert isinstance(red, ev.StatusReported) and red.overall is ev.Rag.RED


def test_overriding_overall_needs_a_reason() -> None:
    with pytest.raises(InvalidCommandError) as error:
        active().when(report(quality=ev.Rag.RED, overall=ev.Rag.AMBER))
    assert error.value.field == "override_reason"
    (event,) = active().when(report(quality=ev.Rag.RED, overall=ev.Rag.AMBER, override_reason="fix lands Monday"))
    assert isinstance(event, ev.StatusReported)
    assert event.overall is ev.Rag.AMBER and event.overall_overridden and event.override_reason == "fix lands Monday"


def test_status_reports_need_an_approved_project_and_a_past_meeting() -> None:
    with pytest.raises(RuleViolationError):
        proposed().when(report())
    with pytest.raises(InvalidCommandError) as error:
        active().when(report(meeting_date=date(2027, 6, 16)))
    assert error.value.field == "meeting_date"


# --- KPIs and partners --------------------------------------------------------------------------------------

K = uuid.UUID(int=50)


@pytest.mark.parametrize(
    ("direction", "value", "met"),
    [
        (ev.KpiDirection.AT_LEAST, "80", True),
        (ev.KpiDirection.AT_LEAST, "79.99", False),
        (ev.KpiDirection.AT_MOST, "5", True),
        (ev.KpiDirection.AT_MOST, "5.01", False),
    ],
)
def test_a_measurement_says_whether_the_target_is_met_in_its_direction(
    direction: ev.KpiDirection, value: str, met: bool
) -> None:
    target = Decimal(80) if direction is ev.KpiDirection.AT_LEAST else Decimal(5)
    s = active().given(domain.DefineKpi(K, "reach", "%", target, direction, date(2027, 9, 30)))
    (event,) = s.when(domain.MeasureKpi(K, Decimal(value), TODAY))
    assert isinstance(event, ev.KpiMeasured) and event.target_met is met and event.target == target


def test_kpi_names_are_unique_and_unknown_kpis_are_not_found() -> None:
    s = active().given(domain.DefineKpi(K, "Reach", "%", Decimal(80), ev.KpiDirection.AT_LEAST, TODAY))
    with pytest.raises(RuleViolationError):
        s.when(domain.DefineKpi(uuid.uuid4(), "reach", "%", Decimal(1), ev.KpiDirection.AT_LEAST, TODAY))
    with pytest.raises(NotFoundError):
        s.when(domain.MeasureKpi(uuid.uuid4(), Decimal(1), TODAY))


P = uuid.UUID(int=70)
C = uuid.UUID(int=71)


def test_communications_need_a_registered_partner_and_follow_ups_close_once() -> None:
    s = active()
    with pytest.raises(NotFoundError):
        s.when(domain.LogCommunication(C, P, TODAY, ev.Channel.EMAIL, "hello"))
    s.given(domain.RegisterPartner(P, ev.PartnerKind.EXTERNAL_PARTNER, "Acme Ltd", "integrator"))
    with pytest.raises(InvalidCommandError) as error:
        s.when(domain.LogCommunication(C, P, TODAY, ev.Channel.EMAIL, "x", follow_up_due=date(2027, 6, 1)))
    assert error.value.field == "follow_up_due"
    (logged,) = s.when(
        domain.LogCommunication(C, P, date(2027, 6, 1), ev.Channel.MEETING, "kick-off", date(2027, 6, 8))
    )
    assert isinstance(logged, ev.CommunicationLogged) and logged.follow_up_due == date(2027, 6, 8)
    s.when(domain.CloseFollowUp(C, TODAY))
    with pytest.raises(RuleViolationError, match="already closed"):
        s.when(domain.CloseFollowUp(C, TODAY))
