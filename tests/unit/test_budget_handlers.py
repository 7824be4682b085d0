"""The budget's use cases against in-memory fakes: given the facts this service knows and the budget's events,
when a handler runs a command, then the events appended and the answer, or the error and nothing appended."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from budget import domain, handlers, views
from shared.contracts import budget as ev
from shared.contracts.budget import CategoryAmount, CommitmentKind, CostCategory, OverrunPolicy, PhaseAmount
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError, SeparationOfDutiesError
from tests.support.budget import (
    M1,
    PID,
    FakeBudgetFacts,
    baselined_event,
    change_requested,
    policy_set,
    secured,
    source_added,
)
from tests.support.fakes import InMemoryExecutor, acting_as
from tests.support.money import eur

STREAM = domain.stream_id(PID)
FIONA, PAUL = acting_as("fiona"), acting_as("paul")
S1, T1, C1 = uuid.UUID(int=31), uuid.UUID(int=32), uuid.UUID(int=21)


def known() -> FakeBudgetFacts:
    """The project PID, in EUR, active, with the milestone M1 planned."""
    return FakeBudgetFacts().knows()


def baselined_budget() -> InMemoryExecutor:
    executor = InMemoryExecutor()
    executor.given(STREAM, baselined_event())
    return executor


async def baseline(executor: InMemoryExecutor, facts: FakeBudgetFacts) -> handlers.Outcome:
    """Baseline 100,000.00 EUR of labour, all phased on the milestone M1."""
    return await handlers.baseline_budget(
        executor,
        facts,
        FIONA,
        PID,
        total=eur("100000.00"),
        categories=[CategoryAmount(category=CostCategory.LABOUR, amount=eur("100000.00"))],
        phasing=[PhaseAmount(milestone_id=M1, amount=eur("100000.00"))],
    )


async def commit(executor: InMemoryExecutor, amount: str, *, milestone_id: uuid.UUID | None = M1) -> handlers.Outcome:
    return await handlers.commit(
        executor,
        known(),
        PAUL,
        PID,
        kind=CommitmentKind.SUBCONTRACT,
        vendor="Acme",
        reference=uuid.uuid4().hex[:8],
        category=CostCategory.SUBCONTRACTING,
        milestone_id=milestone_id,
        amount=eur(amount),
        expected_invoices=(),
    )


# --- the project, as this service knows it ------------------------------------------------------------------


async def test_a_budget_is_baselined_in_the_known_projects_currency_against_its_planned_milestones() -> None:
    executor = InMemoryExecutor()
    outcome = await baseline(executor, known())
    (event,) = executor.appended(STREAM)
    assert isinstance(event, ev.BudgetBaselined) and event.baselined_by == "fiona"
    assert outcome.status_code == 201 and outcome.version == 1
    assert outcome.body["bac"] == {"amount": "100000.00", "currency": "EUR"}


async def test_a_project_this_service_never_saw_registered_has_no_budget() -> None:
    executor = InMemoryExecutor()
    with pytest.raises(domain.UnknownProjectError, match="not known to the budget service") as error:
        await baseline(executor, FakeBudgetFacts())
    assert isinstance(error.value, NotFoundError)
    assert executor.appended(STREAM) == []


@pytest.mark.parametrize("status", ["completed", "terminated"])
async def test_a_closed_projects_budget_accepts_no_change(status: str) -> None:
    executor = baselined_budget()
    closed = FakeBudgetFacts().knows(status=status)
    with pytest.raises(domain.ProjectClosedError, match=f"is {status}") as error:
        await handlers.request_change(
            executor, closed, PAUL, PID, category=CostCategory.LABOUR, amount=eur("1.00"), reason="more"
        )
    assert isinstance(error.value, RuleViolationError)
    assert executor.appended(STREAM) == [baselined_event()]


async def test_a_baseline_in_another_currency_than_the_projects_is_refused() -> None:
    executor = InMemoryExecutor()
    with pytest.raises(InvalidCommandError) as error:
        await baseline(executor, FakeBudgetFacts().knows(currency="USD"))
    assert error.value.field == "total.currency" and executor.appended(STREAM) == []


async def test_a_phase_on_a_milestone_the_project_does_not_plan_is_refused() -> None:
    executor = InMemoryExecutor()
    with pytest.raises(InvalidCommandError) as error:
        await baseline(executor, FakeBudgetFacts().knows(milestones=()))
    assert error.value.field == "phasing.0.milestone_id" and executor.appended(STREAM) == []


async def test_commands_on_a_budget_not_yet_baselined_are_refused() -> None:
    executor = InMemoryExecutor()
    with pytest.raises(domain.NoBaselineError):
        await handlers.add_funding_source(executor, known(), FIONA, PID, name="Client", kind=ev.FundingKind.CLIENT)


# --- change requests ----------------------------------------------------------------------------------------


async def test_a_change_is_requested_by_the_acting_user_and_answered_as_the_change_request() -> None:
    executor = baselined_budget()
    outcome = await handlers.request_change(
        executor, known(), PAUL, PID, category=CostCategory.LABOUR, amount=eur("5000.00"), reason="scope"
    )
    (requested,) = executor.appended(STREAM)[1:]
    assert isinstance(requested, ev.BudgetChangeRequested) and requested.requested_by == "paul"
    assert outcome.status_code == 201
    assert outcome.body["change_id"] == str(requested.change_id) and outcome.body["version"] == 2


async def test_a_change_is_approved_by_someone_other_than_its_requester() -> None:
    executor = baselined_budget()
    executor.given(STREAM, change_requested(C1, "5000.00", by="paul"))
    with pytest.raises(SeparationOfDutiesError):
        await handlers.approve_change(executor, known(), PAUL, PID, C1)
    outcome = await handlers.approve_change(executor, known(), FIONA, PID, C1)
    approved = executor.appended(STREAM)[-1]
    assert isinstance(approved, ev.BudgetChangeApproved) and approved.bac_after == eur("105000.00")
    assert outcome.body["status"] == "approved" and outcome.body["decided_by"] == "fiona"


async def test_a_rejected_change_keeps_its_reason() -> None:
    executor = baselined_budget()
    executor.given(STREAM, change_requested(C1, "5000.00", by="paul"))
    outcome = await handlers.reject_change(executor, known(), FIONA, PID, C1, "not now")
    assert outcome.body["status"] == "rejected" and outcome.body["rejection_reason"] == "not now"


async def test_deciding_an_unknown_change_request_is_not_found() -> None:
    with pytest.raises(domain.UnknownChangeRequestError):
        await handlers.approve_change(baselined_budget(), known(), FIONA, PID, uuid.uuid4())


# --- funding ------------------------------------------------------------------------------------------------


async def test_a_tranche_is_secured_from_a_source_and_counted_from_its_date() -> None:
    executor = baselined_budget()
    source = await handlers.add_funding_source(executor, known(), FIONA, PID, name="Client", kind=ev.FundingKind.CLIENT)
    source_id = uuid.UUID(source.body["source_id"])
    tranche = await handlers.secure_funding(
        executor, known(), FIONA, PID, source_id, amount=eur("60000.00"), available_on=date(2027, 4, 1)
    )
    assert (source.status_code, tranche.status_code) == (201, 201)
    assert tranche.body["amount"] == {"amount": "60000.00", "currency": "EUR"} and tranche.body["version"] == 3
    before = await handlers.funding_on(executor, executor.clock, PID, date(2027, 3, 31))
    after = await handlers.funding_on(executor, executor.clock, PID, date(2027, 4, 1))
    assert before["available"] == {"amount": "0.00", "currency": "EUR"} and before["tranches"] == []
    assert after["available"] == {"amount": "60000.00", "currency": "EUR"}
    assert [t["tranche_id"] for t in after["tranches"]] == [tranche.body["tranche_id"]]


async def test_a_tranche_from_an_unknown_source_is_refused() -> None:
    executor = baselined_budget()
    with pytest.raises(domain.UnknownFundingSourceError) as error:
        await handlers.secure_funding(
            executor, known(), FIONA, PID, uuid.uuid4(), amount=eur("1.00"), available_on=date(2027, 4, 1)
        )
    assert error.value.field == "source_id" and len(executor.appended(STREAM)) == 1


async def test_funding_is_counted_today_by_the_clock_unless_a_date_is_given() -> None:
    executor = baselined_budget()  # the fake clock's today is 2027-03-01
    executor.given(STREAM, source_added(S1), secured(S1, T1, "50000.00", date(2027, 3, 1)))
    today = await handlers.funding_on(executor, executor.clock, PID, None)
    assert today["on"] == "2027-03-01" and today["available"] == {"amount": "50000.00", "currency": "EUR"}


async def test_a_withdrawn_tranche_stops_counting_and_cannot_be_rescheduled() -> None:
    executor = baselined_budget()
    executor.given(STREAM, source_added(S1), secured(S1, T1, "50000.00", date(2027, 1, 1)))
    withdrawn = await handlers.withdraw_funding(
        executor, known(), FIONA, PID, T1, withdrawn_on=date(2027, 3, 1), reason="grant clawed back"
    )
    assert withdrawn.body["withdrawn_on"] == "2027-03-01"
    funding = await handlers.funding_on(executor, executor.clock, PID, date(2027, 3, 1))
    assert funding["available"] == {"amount": "0.00", "currency": "EUR"}
    with pytest.raises(domain.TrancheWithdrawnError):
        await handlers.reschedule_funding(
            executor, known(), FIONA, PID, T1, available_on=date(2027, 6, 1), reason="later"
        )


async def test_a_rescheduled_tranche_answers_with_its_new_date() -> None:
    executor = baselined_budget()
    executor.given(STREAM, source_added(S1), secured(S1, T1, "50000.00", date(2027, 6, 1)))
    outcome = await handlers.reschedule_funding(
        executor, known(), FIONA, PID, T1, available_on=date(2027, 9, 1), reason="grant delayed"
    )
    assert outcome.body["available_on"] == "2027-09-01"


async def test_there_is_no_funding_to_read_without_a_budget() -> None:
    with pytest.raises(NotFoundError):
        await handlers.funding_on(InMemoryExecutor(), InMemoryExecutor().clock, PID, None)


# --- commitments and the overrun policy ---------------------------------------------------------------------


async def test_a_commitment_against_one_of_the_projects_milestones_is_committed() -> None:
    executor = baselined_budget()
    outcome = await commit(executor, "40000.00")
    committed = executor.appended(STREAM)[-1]
    assert isinstance(committed, ev.BudgetCommitted) and committed.milestone_id == M1
    assert committed.requested_by == "paul" and committed.overrun is None
    assert outcome.status_code == 201 and outcome.body["status"] == "committed"


async def test_a_commitment_against_a_milestone_the_project_does_not_plan_is_refused() -> None:
    executor = baselined_budget()
    with pytest.raises(InvalidCommandError) as error:
        await commit(executor, "1.00", milestone_id=uuid.uuid4())
    assert error.value.field == "milestone_id" and len(executor.appended(STREAM)) == 1


async def test_an_overrun_under_the_block_policy_is_refused_and_appends_nothing() -> None:
    executor = baselined_budget()
    executor.given(STREAM, policy_set(OverrunPolicy.BLOCK))
    with pytest.raises(domain.OverrunRefusedError, match="blocks overruns"):
        await commit(executor, "40000.01")
    assert len(executor.appended(STREAM)) == 2


async def awaiting_approval() -> tuple[InMemoryExecutor, uuid.UUID]:
    """A budget whose policy requires approval, and paul's commitment over the subcontracting budget."""
    executor = baselined_budget()
    executor.given(STREAM, policy_set(OverrunPolicy.REQUIRE_APPROVAL))
    waiting = await commit(executor, "50000.00")
    assert waiting.body["status"] == "awaiting_approval"
    return executor, uuid.UUID(waiting.body["commitment_id"])


async def test_a_commitment_awaiting_approval_is_decided_by_someone_else() -> None:
    executor, commitment_id = await awaiting_approval()
    with pytest.raises(SeparationOfDutiesError):
        await handlers.approve_commitment(executor, known(), PAUL, PID, commitment_id)
    approved = await handlers.approve_commitment(executor, known(), FIONA, PID, commitment_id)
    assert approved.body["status"] == "committed" and approved.body["approved_by"] == "fiona"
    with pytest.raises(domain.CommitmentStatusError, match="not awaiting approval"):
        await handlers.refuse_commitment(executor, known(), FIONA, PID, commitment_id, "too late")


async def test_a_refused_commitment_is_not_committed() -> None:
    executor, commitment_id = await awaiting_approval()
    refused = await handlers.refuse_commitment(executor, known(), FIONA, PID, commitment_id, "no budget")
    assert refused.body["status"] == "refused"


async def test_a_commitment_is_adjusted_then_cancelled() -> None:
    executor = baselined_budget()
    commitment_id = uuid.UUID((await commit(executor, "10000.00")).body["commitment_id"])
    adjusted = await handlers.adjust_commitment(
        executor, known(), PAUL, PID, commitment_id, amount=eur("12000.00"), expected_invoices=(), reason="scope"
    )
    assert adjusted.body["amount"] == {"amount": "12000.00", "currency": "EUR"}
    cancelled = await handlers.cancel_commitment(executor, known(), PAUL, PID, commitment_id, "vendor bankrupt")
    assert cancelled.body["status"] == "cancelled"
    with pytest.raises(domain.UnknownCommitmentError):
        await handlers.cancel_commitment(executor, known(), PAUL, PID, uuid.uuid4(), "no such")


async def test_a_looser_overrun_policy_waits_for_a_second_person() -> None:
    executor = baselined_budget()
    executor.given(STREAM, policy_set(OverrunPolicy.BLOCK))
    requested = await handlers.set_overrun_policy(executor, known(), FIONA, PID, OverrunPolicy.WARN)
    assert requested.body["policy"] == "block"
    assert requested.body["policy_change_requested"] == {"policy": "warn", "requested_by": "fiona"}
    with pytest.raises(SeparationOfDutiesError):
        await handlers.approve_overrun_policy(executor, known(), acting_as("FIONA"), PID)
    approved = await handlers.approve_overrun_policy(executor, known(), PAUL, PID)
    assert approved.body["policy"] == "warn" and approved.body["policy_change_requested"] is None


async def test_approving_a_policy_nobody_requested_is_refused() -> None:
    with pytest.raises(domain.NoPolicyRequestError):
        await handlers.approve_overrun_policy(baselined_budget(), known(), PAUL, PID)


async def test_a_commands_answer_is_its_item_as_the_whole_budget_lists_it() -> None:
    """Each command answers with one item built alone: the same JSON as the budget's document lists it."""
    executor = baselined_budget()
    executor.given(STREAM, change_requested(C1, "5000.00", by="paul"), source_added(S1))
    answers = [
        ("change_requests", "change_id", await handlers.approve_change(executor, known(), FIONA, PID, C1)),
        (
            "funding_sources",
            "source_id",
            await handlers.add_funding_source(executor, known(), FIONA, PID, name="Bank", kind=ev.FundingKind.CLIENT),
        ),
        (
            "tranches",
            "tranche_id",
            await handlers.secure_funding(
                executor, known(), FIONA, PID, S1, amount=eur("60000.00"), available_on=date(2027, 4, 1)
            ),
        ),
        ("commitments", "commitment_id", await commit(executor, "1200.00")),
        ("commitments", "commitment_id", await commit(executor, "800.00")),
    ]
    state, version = await executor.state_of(domain.BUDGET, STREAM)
    document = views.budget_view(state, version)
    for key, id_field, outcome in answers:
        listed = next(i for i in document[key] if i[id_field] == outcome.body[id_field])
        assert outcome.body == listed | {"version": outcome.version}, key
