"""Goods receipts and expense claims in the invoicing service: received against an open commitment, booked at the
day's rate, reversed once; claims with their separation of duties and receipt threshold; and the handlers (who may
act, what is read). Given facts or events, when a command, then events or the error."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from invoicing import domain, handlers
from shared.auth import ForbiddenError, Role
from shared.contracts import invoicing as ev
from shared.contracts.budget import CostCategory
from shared.errors import InvalidCommandError, RuleViolationError, SeparationOfDutiesError
from shared.money import Money
from tests.support.fakes import InMemoryExecutor, acting_as
from tests.support.invoicing import (
    C1,
    M1,
    NOW,
    PID,
    PROJECT,
    R1,
    USD_EUR,
    FakeInvoiceFacts,
    rate_on,
)
from tests.support.money import eur, usd

# --- goods receipts ------------------------------------------------------------------------------------------------


def open_commitment(amount: Money | None = None, status: str = "committed") -> domain.OpenCommitment:
    return domain.OpenCommitment(C1, PID, "PO-1", amount or eur("5000.00"), status)


def receive_goods(**overrides: Any) -> domain.ReceiveGoods:
    values: dict[str, Any] = {
        "receipt_id": R1,
        "project_id": PID,
        "commitment_id": C1,
        "category": CostCategory.MATERIALS,
        "description": "20 licences",
        "amount": eur("1000.00"),
        "received_on": date(2027, 2, 20),
        "received_by": "max.manager",
        "project": PROJECT,
        "commitment": open_commitment(),
    }
    values.update(overrides)
    return domain.ReceiveGoods(**values)


def test_goods_received_against_an_open_commitment_of_a_known_project() -> None:
    [event] = domain.GOODS_RECEIPT.decide(None, receive_goods(), NOW)
    assert isinstance(event, ev.GoodsReceived)
    assert (event.amount, event.booked, event.commitment_id) == (eur("1000.00"), None, C1)


def test_goods_received_against_a_usd_commitment_are_booked_at_the_rate_of_their_receipt() -> None:
    # 400.00 USD x 0.9215 = 368.60 EUR.
    command = receive_goods(
        commitment=open_commitment(usd("5000.00")), amount=usd("400.00"), rate=rate_on(date(2027, 2, 20), USD_EUR)
    )
    [event] = domain.GOODS_RECEIPT.decide(None, command, NOW)
    assert isinstance(event, ev.GoodsReceived) and event.booked is not None
    assert event.booked.amount == eur("368.60") and event.booked.rate_on == date(2027, 2, 1)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"project": None}, "project_id"),
        ({"commitment": None}, "commitment_id"),
        ({"commitment": open_commitment(status="cancelled")}, "commitment_id"),
        ({"category": CostCategory.CONTINGENCY}, "category"),
        ({"amount": usd("10.00")}, "amount.currency"),
        ({"amount": eur("0.00")}, "amount.amount"),
        ({"received_on": date(2027, 3, 2)}, "received_on"),
    ],
)
def test_a_goods_receipt_is_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCommandError) as error:
        domain.GOODS_RECEIPT.decide(None, receive_goods(**overrides), NOW)
    assert error.value.field == field


def test_a_goods_receipt_is_reversed_once_with_its_reason() -> None:
    [received] = domain.GOODS_RECEIPT.decide(None, receive_goods(), NOW)
    state = domain.GOODS_RECEIPT.evolve(None, received)
    [reversed_] = domain.GOODS_RECEIPT.decide(state, domain.ReverseGoodsReceipt("returned", "paul.finance"), NOW)
    assert isinstance(reversed_, ev.GoodsReceiptReversed) and reversed_.reversed_on == date(2027, 3, 1)
    state = domain.GOODS_RECEIPT.evolve(state, reversed_)
    assert state is not None and not state.in_force
    with pytest.raises(RuleViolationError):
        domain.GOODS_RECEIPT.decide(state, domain.ReverseGoodsReceipt("again", "paul.finance"), NOW)


# --- expense claims ------------------------------------------------------------------------------------------------


def claim(**overrides: Any) -> domain.ClaimExpense:
    values: dict[str, Any] = {
        "expense_id": uuid.UUID(int=81),
        "project_id": PID,
        "claimant": "cleo.consultant",
        "category": CostCategory.TRAVEL,
        "description": "Train to the client",
        "amount": eur("84.00"),
        "incurred_on": date(2027, 2, 24),
        "receipt_reference": "SNCF-4711",
        "project": PROJECT,
    }
    values.update(overrides)
    return domain.ClaimExpense(**values)


def claimed(**overrides: Any) -> domain.Expense:
    state = None
    for event in domain.EXPENSE.decide(None, claim(**overrides), NOW):
        state = domain.EXPENSE.evolve(state, event)
    assert state is not None
    return state


def test_an_expense_is_approved_by_someone_else_than_its_claimant_however_spelt() -> None:
    state = claimed()
    for spelling in ("cleo.consultant", "Cleo.Consultant", "cleo.consultant\u200b"):
        with pytest.raises(SeparationOfDutiesError):
            domain.EXPENSE.decide(state, domain.ApproveExpense(spelling), NOW)
        with pytest.raises(SeparationOfDutiesError):
            domain.EXPENSE.decide(state, domain.RejectExpense(spelling, "no"), NOW)
    [approved] = domain.EXPENSE.decide(state, domain.ApproveExpense("max.manager"), NOW)
    assert isinstance(approved, ev.ExpenseApproved) and approved.approved_on == date(2027, 3, 1)


def test_an_approved_expense_is_reimbursed_by_neither_its_claimant_nor_its_approver_and_only_once() -> None:
    state: domain.Expense | None = claimed()
    reimburse = domain.ReimburseExpense(date(2027, 3, 1), "PAY-1", "paul.finance")
    with pytest.raises(RuleViolationError):
        domain.EXPENSE.decide(state, reimburse, NOW)  # only an approved claim is reimbursed
    for event in domain.EXPENSE.decide(state, domain.ApproveExpense("max.manager"), NOW):
        state = domain.EXPENSE.evolve(state, event)
    for who in ("cleo.consultant", "max.manager"):
        with pytest.raises(SeparationOfDutiesError):
            domain.EXPENSE.decide(state, replace(reimburse, recorded_by=who), NOW)
    [paid] = domain.EXPENSE.decide(state, reimburse, NOW)
    assert isinstance(paid, ev.ExpenseReimbursed)
    state = domain.EXPENSE.evolve(state, paid)
    assert state is not None and state.status is domain.ExpenseStatus.REIMBURSED
    with pytest.raises(RuleViolationError):
        domain.EXPENSE.decide(state, reimburse, NOW)


def test_an_expense_in_usd_is_booked_at_the_rate_of_the_day_it_was_incurred() -> None:
    # 60.00 USD x 0.9215 = 55.29 EUR.
    [event] = domain.EXPENSE.decide(None, claim(amount=usd("60.00"), rate=rate_on(date(2027, 2, 24), USD_EUR)), NOW)
    assert isinstance(event, ev.ExpenseClaimed) and event.booked is not None
    assert (event.booked.amount, event.booked.rate) == (eur("55.29"), Decimal("0.9215"))


def test_no_rate_on_the_day_an_expense_was_incurred_refuses_it_naming_its_currency() -> None:
    with pytest.raises(InvalidCommandError) as error:
        domain.EXPENSE.decide(None, claim(amount=usd("60.00"), incurred_on=date(2027, 1, 15), rate=None), NOW)
    assert error.value.field == "amount.currency"
    assert "no USD->EUR rate in force on 2027-01-15" in error.value.detail


def test_a_receipt_reference_is_required_above_the_threshold_in_the_projects_currency() -> None:
    # Threshold 0 (the default): every claim shows its receipt.
    with pytest.raises(InvalidCommandError) as error:
        domain.EXPENSE.decide(None, claim(receipt_reference=None), NOW)
    assert error.value.field == "receipt_reference"
    with pytest.raises(InvalidCommandError):
        domain.EXPENSE.decide(None, claim(receipt_reference="   "), NOW)
    # Threshold 50 EUR: 40.00 EUR needs none; 60.00 USD = 55.29 EUR does; 54.00 USD = 49.761 -> 49.76 EUR does not.
    assert domain.EXPENSE.decide(None, claim(amount=eur("40.00"), receipt_reference=None, receipt_threshold=50), NOW)
    usd_rate = rate_on(date(2027, 2, 24), USD_EUR)
    with pytest.raises(InvalidCommandError) as error:
        domain.EXPENSE.decide(
            None,
            claim(amount=usd("60.00"), receipt_reference=None, receipt_threshold=Decimal(50), rate=usd_rate),
            NOW,
        )
    assert error.value.field == "receipt_reference"
    assert domain.EXPENSE.decide(
        None, claim(amount=usd("54.00"), receipt_reference=None, receipt_threshold=Decimal(50), rate=usd_rate), NOW
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"project": None}, "project_id"),
        ({"milestone_id": uuid.UUID(int=72)}, "milestone_id"),
        ({"category": CostCategory.CONTINGENCY}, "category"),
        ({"amount": eur("0.00")}, "amount.amount"),
        ({"incurred_on": date(2027, 3, 2)}, "incurred_on"),
    ],
)
def test_an_expense_is_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCommandError) as error:
        domain.EXPENSE.decide(None, claim(**overrides), NOW)
    assert error.value.field == field


def test_an_unknown_project_is_refused_saying_it_may_not_have_arrived_yet() -> None:
    with pytest.raises(InvalidCommandError) as error:
        domain.EXPENSE.decide(None, claim(project=None), NOW)
    assert "not arrived" in error.value.detail


# --- handlers: who may act, what is read ---------------------------------------------------------------------------


def known_facts(executor: InMemoryExecutor) -> FakeInvoiceFacts:
    return FakeInvoiceFacts(
        executor,
        projects={PID: PROJECT},
        commitments={C1: open_commitment(usd("5000.00"))},
        rates=[USD_EUR],
    )


EXPENSE = handlers.ExpenseInput(
    category=CostCategory.TRAVEL,
    description="Taxi",
    amount=usd("60.00"),
    incurred_on=date(2027, 2, 24),
    receipt_reference="R-1",
    milestone_id=M1,
)


async def test_the_claimant_is_the_caller_and_the_claim_is_booked_at_the_recorded_rate() -> None:
    executor = InMemoryExecutor()
    answer = await handlers.claim_expense(
        executor, known_facts(executor), acting_as("cleo.consultant"), PID, EXPENSE, receipt_threshold=Decimal(0)
    )
    assert answer.status_code == 201
    assert answer.body["claimant"] == "cleo.consultant"
    assert answer.body["in_project_currency"] == {"amount": "55.29", "currency": "EUR"}


async def test_only_pmo_finance_or_the_projects_manager_decide_on_an_expense() -> None:
    executor = InMemoryExecutor()
    known = known_facts(executor)
    claimed_ = await handlers.claim_expense(
        executor, known, acting_as("cleo.consultant"), PID, EXPENSE, receipt_threshold=Decimal(0)
    )
    expense_id = uuid.UUID(claimed_.body["expense_id"])
    stream = domain.expense_stream_id(expense_id)
    approve = domain.ApproveExpense("rob.rm")
    with pytest.raises(ForbiddenError):
        await handlers.decide_expense(
            executor, known, acting_as("rob.rm"), frozenset({Role.RESOURCE_MANAGER}), PID, expense_id, approve
        )
    assert len(executor.appended(stream)) == 1
    manager = domain.ApproveExpense("max.manager")
    answer = await handlers.decide_expense(
        executor, known, acting_as("max.manager"), frozenset({Role.RESOURCE_MANAGER}), PID, expense_id, manager
    )
    assert answer.body["status"] == "approved" and answer.body["approved_by"] == "max.manager"


async def test_a_goods_receipt_is_recorded_by_the_projects_manager_and_booked_at_the_recorded_rate() -> None:
    executor = InMemoryExecutor()
    known = known_facts(executor)
    goods_input = handlers.GoodsInput(C1, CostCategory.MATERIALS, "Licences", usd("400.00"), date(2027, 2, 20))
    with pytest.raises(ForbiddenError):
        await handlers.receive_goods(
            executor, known, acting_as("rob.rm"), frozenset({Role.RESOURCE_MANAGER}), PID, goods_input
        )
    answer = await handlers.receive_goods(
        executor, known, acting_as("max.manager"), frozenset({Role.RESOURCE_MANAGER}), PID, goods_input
    )
    assert answer.status_code == 201
    assert answer.body["booked"]["amount"] == {"amount": "368.60", "currency": "EUR"}
    assert answer.body["received_by"] == "max.manager"
