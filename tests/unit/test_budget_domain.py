"""The budget aggregate: given events, when command, then events or error."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from budget import domain
from shared.contracts import budget as ev
from shared.contracts.budget import CostCategory, InvoiceExpectation, OverrunPolicy, PhaseAmount
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from shared.money import Money
from tests.support.budget import M1, Scenario, baseline, baselined, commit
from tests.support.money import eur

# --- baseline -----------------------------------------------------------------------------------------------


def test_a_baseline_whose_split_adds_up_sets_bac() -> None:
    s = Scenario()
    (event,) = s.when(
        baseline(
            phasing=(
                PhaseAmount(milestone_id=M1, amount=eur("70000.00")),
                PhaseAmount(month="2027-09", amount=eur("30000.00")),
            )
        )
    )
    assert isinstance(event, ev.BudgetBaselined)
    assert s.state.bac == eur("100000.00") and s.state.category_budget(CostCategory.LABOUR) == eur("60000.00")


def test_a_split_that_does_not_add_up_is_refused() -> None:
    with pytest.raises(InvalidCommandError, match=r"add up to 99999\.99") as error:
        Scenario().when(baseline(labour="59999.99"))
    assert error.value.field == "categories"
    with pytest.raises(InvalidCommandError) as error:
        Scenario().when(baseline(phasing=(PhaseAmount(month="2027-09", amount=eur("1.00")),)))
    assert error.value.field == "phasing"


def test_phasing_by_an_unknown_milestone_is_refused() -> None:
    with pytest.raises(InvalidCommandError) as error:
        Scenario().when(baseline(phasing=(PhaseAmount(milestone_id=uuid.uuid4(), amount=eur("100000.00")),)))
    assert error.value.field == "phasing.0.milestone_id"


def test_a_second_baseline_is_refused() -> None:
    with pytest.raises(RuleViolationError, match="through change requests"):
        baselined().when(baseline())


def test_a_budget_in_another_currency_than_the_project_is_refused() -> None:
    command = baseline()
    other = domain.BaselineBudget(**{**command.__dict__, "project_currency": "USD"})
    with pytest.raises(InvalidCommandError) as error:
        Scenario().when(other)
    assert error.value.field == "total.currency"


# --- change requests ----------------------------------------------------------------------------------------

C1 = uuid.UUID(int=21)


def test_an_approved_change_moves_bac_and_the_category() -> None:
    s = baselined().given(domain.RequestChange(C1, CostCategory.LABOUR, eur("5000.00"), "scope", "paul"))
    assert s.state.bac == eur("100000.00")  # requested is not approved
    (event,) = s.when(domain.ApproveChange(C1, "fiona"))
    assert isinstance(event, ev.BudgetChangeApproved)
    assert event.bac_after == eur("105000.00") and event.category_budget_after == eur("65000.00")
    assert s.state.bac == eur("105000.00")


def test_the_requester_cannot_approve_or_reject_their_own_change() -> None:
    s = baselined().given(domain.RequestChange(C1, CostCategory.LABOUR, eur("5000.00"), "scope", "paul"))
    with pytest.raises(RuleViolationError, match="other than its requester"):
        s.when(domain.ApproveChange(C1, " Paul "))
    with pytest.raises(RuleViolationError):
        s.when(domain.RejectChange(C1, "paul", "no"))


def test_a_decided_change_cannot_be_decided_again_and_rejection_leaves_bac() -> None:
    s = baselined().given(
        domain.RequestChange(C1, CostCategory.LABOUR, eur("5000.00"), "scope", "paul"),
        domain.RejectChange(C1, "fiona", "not now"),
    )
    assert s.state.bac == eur("100000.00")
    with pytest.raises(RuleViolationError, match="already rejected"):
        s.when(domain.ApproveChange(C1, "fiona"))


def test_a_change_cannot_take_a_category_below_zero() -> None:
    s = baselined().given(domain.RequestChange(C1, CostCategory.TRAVEL, eur("-1.00"), "cut", "paul"))
    with pytest.raises(RuleViolationError, match="below zero"):
        s.when(domain.ApproveChange(C1, "fiona"))


def test_an_amount_in_another_currency_is_refused_not_converted() -> None:
    with pytest.raises(InvalidCommandError, match="nothing is converted") as error:
        baselined().when(domain.RequestChange(C1, CostCategory.LABOUR, Money.of("5", "USD"), "x", "paul"))
    assert error.value.field == "amount.currency"


def test_changes_need_a_baseline() -> None:
    with pytest.raises(NotFoundError):
        Scenario().when(domain.RequestChange(C1, CostCategory.LABOUR, eur("1.00"), "x", "paul"))


# --- funding ------------------------------------------------------------------------------------------------

S1, T1, T2 = uuid.UUID(int=31), uuid.UUID(int=32), uuid.UUID(int=33)


def funded() -> Scenario:
    return baselined().given(
        domain.AddFundingSource(S1, "EU grant", ev.FundingKind.GRANT),
        domain.SecureFunding(S1, T1, eur("50000.00"), date(2027, 1, 1)),
        domain.SecureFunding(S1, T2, eur("30000.00"), date(2027, 6, 1)),
    )


def test_funding_available_counts_tranches_available_by_the_date() -> None:
    s = funded()
    assert s.state.funding_available(date(2026, 12, 31)) == eur("0.00")
    assert s.state.funding_available(date(2027, 1, 1)) == eur("50000.00")
    assert s.state.funding_available(date(2027, 6, 1)) == eur("80000.00")


def test_withdrawing_a_tranche_already_counted_removes_it_from_that_date_on() -> None:
    s = funded()
    (event,) = s.when(domain.WithdrawFunding(T1, date(2027, 3, 1), "grant clawed back"))
    assert isinstance(event, ev.FundingWithdrawn)
    assert event.was_available is True and event.amount == eur("50000.00")
    assert s.state.funding_available(date(2027, 2, 28)) == eur("50000.00")  # history stays what it was
    assert s.state.funding_available(date(2027, 3, 1)) == eur("0.00")
    with pytest.raises(RuleViolationError, match="already withdrawn"):
        s.when(domain.WithdrawFunding(T1, date(2027, 3, 2), "again"))


def test_withdrawing_a_tranche_not_yet_available_says_so() -> None:
    (event,) = funded().when(domain.WithdrawFunding(T2, date(2027, 3, 1), "client cancelled"))
    assert isinstance(event, ev.FundingWithdrawn) and event.was_available is False


def test_rescheduling_a_tranche_moves_its_availability() -> None:
    s = funded()
    s.when(domain.RescheduleFunding(T2, date(2027, 9, 1), "grant delayed"))
    assert s.state.funding_available(date(2027, 6, 1)) == eur("50000.00")
    assert s.state.funding_available(date(2027, 9, 1)) == eur("80000.00")


def test_tranches_need_a_known_source_and_a_positive_amount() -> None:
    with pytest.raises(NotFoundError):
        funded().when(domain.SecureFunding(uuid.uuid4(), uuid.uuid4(), eur("1.00"), date(2027, 1, 1)))
    with pytest.raises(InvalidCommandError):
        funded().when(domain.SecureFunding(S1, uuid.uuid4(), eur("0.00"), date(2027, 1, 1)))


# --- commitments and the overrun policy -------------------------------------------------------------------


def test_within_budget_a_commitment_is_committed_without_overrun() -> None:
    s = baselined()
    (event,) = s.when(commit("40000.00"))
    assert isinstance(event, ev.BudgetCommitted) and event.overrun is None
    assert s.state.committed(CostCategory.SUBCONTRACTING) == eur("40000.00")


def test_warn_policy_commits_and_records_the_overrun() -> None:
    s = baselined().given(commit("30000.00"))
    (event,) = s.when(commit("15000.00"))
    assert isinstance(event, ev.BudgetCommitted) and event.policy is OverrunPolicy.WARN
    assert event.overrun is not None
    assert event.overrun.category_budget == eur("40000.00")
    assert event.overrun.committed_after == eur("45000.00") and event.overrun.over_by == eur("5000.00")


def test_block_policy_refuses_the_overrun() -> None:
    s = baselined().given(domain.SetOverrunPolicy(OverrunPolicy.BLOCK, "fiona"), commit("30000.00"))
    with pytest.raises(RuleViolationError, match=r"exceeded by 5000\.00 EUR"):
        s.when(commit("15000.00"))
    assert s.state.committed(CostCategory.SUBCONTRACTING) == eur("30000.00")


def test_require_approval_policy_waits_for_someone_else() -> None:
    cid = uuid.uuid4()
    s = baselined().given(domain.SetOverrunPolicy(OverrunPolicy.REQUIRE_APPROVAL, "fiona"), commit("30000.00"))
    (waiting,) = s.when(commit("15000.00", cid=cid, by="paul"))
    assert isinstance(waiting, ev.CommitmentAwaitingApproval) and waiting.overrun.over_by == eur("5000.00")
    assert s.state.committed(CostCategory.SUBCONTRACTING) == eur("30000.00")  # not committed yet
    with pytest.raises(RuleViolationError, match="other than its requester"):
        s.when(domain.ApproveCommitment(cid, "paul"))
    (committed,) = s.when(domain.ApproveCommitment(cid, "fiona"))
    assert isinstance(committed, ev.BudgetCommitted) and committed.approved_by == "fiona"
    assert committed.requested_by == "paul"
    assert s.state.committed(CostCategory.SUBCONTRACTING) == eur("45000.00")


def test_an_approved_change_makes_room_for_a_commitment() -> None:
    s = baselined().given(
        domain.SetOverrunPolicy(OverrunPolicy.BLOCK, "fiona"),
        domain.RequestChange(C1, CostCategory.SUBCONTRACTING, eur("10000.00"), "more work", "paul"),
        domain.ApproveChange(C1, "fiona"),
    )
    (event,) = s.when(commit("45000.00"))
    assert isinstance(event, ev.BudgetCommitted) and event.overrun is None


def test_adjusting_and_cancelling_a_commitment() -> None:
    cid = uuid.uuid4()
    s = baselined().given(commit("10000.00", cid=cid))
    (adjusted,) = s.when(domain.AdjustCommitment(cid, eur("12000.00"), (), "extra scope"))
    assert isinstance(adjusted, ev.CommitmentAdjusted) and adjusted.previous_amount == eur("10000.00")
    assert s.state.committed(CostCategory.SUBCONTRACTING) == eur("12000.00")
    (cancelled,) = s.when(domain.CancelCommitment(cid, "vendor bankrupt"))
    assert isinstance(cancelled, ev.CommitmentCancelled) and cancelled.amount_released == eur("12000.00")
    assert s.state.committed(CostCategory.SUBCONTRACTING) == eur("0.00")
    with pytest.raises(RuleViolationError, match="cancelled"):
        s.when(domain.CancelCommitment(cid, "again"))


def test_expected_invoices_cannot_exceed_the_commitment_and_duplicates_are_refused() -> None:
    command = commit("100.00", ref="PO-1")
    too_much = domain.Commit(
        **{
            **command.__dict__,
            "expected_invoices": (
                InvoiceExpectation(on=date(2027, 4, 1), amount=eur("60.00")),
                InvoiceExpectation(on=date(2027, 5, 1), amount=eur("60.00")),
            ),
        }
    )
    with pytest.raises(InvalidCommandError) as error:
        baselined().when(too_much)
    assert error.value.field == "expected_invoices"
    s = baselined().given(command)
    with pytest.raises(RuleViolationError, match="already committed"):
        s.when(commit("5.00", ref="PO-1"))


def test_a_commitment_against_an_unknown_milestone_is_refused() -> None:
    command = commit("1.00")
    with pytest.raises(InvalidCommandError) as error:
        baselined().when(domain.Commit(**{**command.__dict__, "milestone_id": uuid.uuid4()}))
    assert error.value.field == "milestone_id"
