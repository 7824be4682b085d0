"""The invoicing service's money model: goods receipts matched three ways, invoices and expenses in another
currency booked at the recorded rate, and expense claims with their separation of duties. Given facts or events,
when a command, then events or the error (nothing appended). Figures are computed by hand in the comments."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from invoicing import domain, handlers
from shared.auth import ForbiddenError, Role
from shared.contracts import invoicing as ev
from shared.contracts.budget import CostCategory
from shared.contracts.common import Booking
from shared.contracts.invoicing import MatchCheck
from shared.errors import InvalidCommandError, RuleViolationError, SeparationOfDutiesError
from shared.money import Money
from tests.support.fakes import InMemoryExecutor, acting_as
from tests.support.invoicing import (
    C1,
    PID,
    S1,
    FakeInvoiceFacts,
    Scenario,
    commitment,
    eur,
    facts,
    goods,
    goods_line,
    line,
    receive,
    sheet,
)

R1 = uuid.UUID(int=51)
R2 = uuid.UUID(int=52)
EARLIER = uuid.UUID(int=61)
M1 = uuid.UUID(int=71)
NOW = datetime(2027, 3, 1, tzinfo=UTC)
USD_EUR = domain.RecordedRate("USD", "EUR", Decimal("0.9215"), date(2027, 2, 1), "ECB reference rate")
EUR_USD = domain.RecordedRate("EUR", "USD", Decimal("1.085"), date(2027, 1, 1), "ECB reference rate")
PROJECT = domain.ProjectFact(PID, "EUR", "active", "max.manager", frozenset({M1}))


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def outcome(events: list[Any]) -> Any:
    return events[-1]


def discrepancies(event: Any) -> list[tuple[MatchCheck, int | None]]:
    assert isinstance(event, ev.InvoiceMismatched), event
    return [(d.check, d.line) for d in event.discrepancies]


# --- 3-way match: commitment, receipt, invoice -------------------------------------------------------------------


def test_a_line_billing_what_was_received_is_matched_and_the_receipt_backs_it() -> None:
    events = Scenario().when(receive(goods_line("1000.00", R1), facts=facts(receipts=[goods(R1, "1000.00")])))
    matched = outcome(events)
    assert isinstance(matched, ev.InvoiceMatched)
    assert matched.backed == eur("1000.00") and matched.invoiced == eur("1000.00")
    assert isinstance(events[0], ev.InvoiceReceived) and events[0].lines[0].receipts == [R1]


def test_a_line_above_its_receipt_within_the_tolerance_is_matched() -> None:
    # 1010.00 billed, 1000.00 received: 10.00 unbacked, within 2 % of 1010.00 = 20.20.
    matched = outcome(Scenario().when(receive(goods_line("1010.00", R1), facts=facts(receipts=[goods(R1, "1000.00")]))))
    assert isinstance(matched, ev.InvoiceMatched)
    assert matched.lines[0].shortfall == eur("10.00") and matched.backed == eur("1000.00")


def test_a_line_above_its_receipt_beyond_the_tolerance_is_above_receipt_with_its_figures() -> None:
    # 1100.00 billed, 1000.00 received: 100.00 unbacked, the tolerance allows 2 % of 1100.00 = 22.00.
    mismatched = outcome(
        Scenario().when(receive(goods_line("1100.00", R1), facts=facts(receipts=[goods(R1, "1000.00")])))
    )
    assert discrepancies(mismatched) == [(MatchCheck.ABOVE_RECEIPT, 1)]
    found = mismatched.discrepancies[0]
    assert (found.invoiced, found.backed, found.limit, found.over_by) == (
        eur("1100.00"),
        eur("1000.00"),
        eur("22.00"),
        eur("100.00"),
    )


def test_a_receipt_backs_only_what_earlier_invoices_left_of_it() -> None:
    # 1000.00 received, 600.00 already billed by an earlier invoice: 400.00 left; a line of 400.00 is backed.
    drawn = (domain.ReceiptDraw(R1, EARLIER, "INV-0", eur("600.00")),)
    known = facts(receipts=[goods(R1, "1000.00")], drawn_before=drawn)
    matched = outcome(Scenario().when(receive(goods_line("400.00", R1), facts=known)))
    assert isinstance(matched, ev.InvoiceMatched) and matched.backed == eur("400.00")
    # ... and a line of 500.00 is 100.00 above it (more than 2 % of 500.00 = 10.00).
    mismatched = outcome(Scenario().when(receive(goods_line("500.00", R1), facts=known)))
    assert discrepancies(mismatched) == [(MatchCheck.ABOVE_RECEIPT, 1)]
    assert mismatched.discrepancies[0].over_by == eur("100.00")


def test_a_receipt_billed_in_full_by_an_earlier_invoice_is_billed_twice() -> None:
    drawn = (domain.ReceiptDraw(R1, EARLIER, "INV-0", eur("1000.00")),)
    known = facts(receipts=[goods(R1, "1000.00")], drawn_before=drawn)
    mismatched = outcome(Scenario().when(receive(goods_line("1000.00", R1), facts=known)))
    assert (MatchCheck.BILLED_TWICE, 1) in discrepancies(mismatched)
    twice = next(d for d in mismatched.discrepancies if d.check is MatchCheck.BILLED_TWICE)
    assert twice.receipt_id == R1 and twice.other_invoice_id == EARLIER


def test_a_receipt_cited_on_two_lines_of_one_invoice_is_billed_twice() -> None:
    known = facts(receipts=[goods(R1, "1000.00")])
    mismatched = outcome(Scenario().when(receive(goods_line("500.00", R1), goods_line("500.00", R1), facts=known)))
    assert (MatchCheck.BILLED_TWICE, 2) in discrepancies(mismatched)


def test_a_receipt_not_recorded_reversed_or_against_another_commitment_backs_nothing() -> None:
    other = uuid.UUID(int=99)
    known = facts(receipts=[goods(R2, "100.00", in_force=False), goods(other, "100.00", commitment_id=uuid.uuid4())])
    mismatched = outcome(
        Scenario().when(
            receive(goods_line("100.00", R1), goods_line("100.00", R2), goods_line("100.00", other), facts=known)
        )
    )
    not_received = [d for d in mismatched.discrepancies if d.check is MatchCheck.NOT_RECEIVED]
    assert [(d.line, d.receipt_id) for d in not_received] == [(1, R1), (2, R2), (3, other)]
    assert mismatched.backed == eur("0.00")


def test_a_line_draws_on_its_receipts_in_the_order_it_cites_them() -> None:
    # A line of 700.00 citing R1 (500.00) then R2 (500.00) draws 500.00 on R1 and 200.00 on R2; a later line of
    # 400.00 citing R2 then draws the 300.00 left of it.
    worth = {R1: eur("500.00"), R2: eur("500.00")}
    later = uuid.uuid4()
    draws = domain.receipt_draws(
        [(EARLIER, "INV-0", eur("700.00"), [R1, R2]), (later, "INV-1", eur("400.00"), [R2])], worth
    )
    assert [(d.receipt_id, d.invoice_id, d.amount) for d in draws] == [
        (R1, EARLIER, eur("500.00")),
        (R2, EARLIER, eur("200.00")),
        (R2, later, eur("300.00")),
    ]


def test_a_line_cites_work_or_receipts_never_both_and_never_neither() -> None:
    both = replace(line("100.00", S1), receipts=(R1,))
    with pytest.raises(InvalidCommandError) as error:
        Scenario().when(receive(both, facts=facts(sheet(S1, "100.00"))))
    assert error.value.field == "lines.0.receipts"
    neither = replace(line("100.00"), bills=())
    with pytest.raises(InvalidCommandError) as error:
        Scenario().when(receive(neither, facts=facts()))
    assert error.value.field == "lines.0.bills"


# --- invoices in another currency --------------------------------------------------------------------------------


def rate_on(day: date, *recorded: domain.RecordedRate) -> domain.ExchangeRate | None:
    def latest(base: str, quote: str) -> domain.RecordedRate | None:
        found = [r for r in recorded if (r.base, r.quote) == (base, quote) and r.effective_on <= day]
        return max(found, key=lambda r: r.effective_on, default=None)

    return domain.in_force("USD", "EUR", latest("USD", "EUR"), latest("EUR", "USD"))


def test_a_usd_invoice_on_a_eur_project_is_booked_at_the_rate_in_force_on_its_issue_date() -> None:
    # 1234.56 USD x 0.9215 = 1137.647040 -> 1137.65 EUR (half-even to the cent).
    rate = rate_on(date(2027, 2, 26), USD_EUR)
    command = receive(
        line("1234.56", S1, currency="USD"),
        facts=facts(sheet(S1, "1137.65")),
        currency="USD",
        project_currency="EUR",
        rate=rate,
    )
    received = Scenario().when(command)[0]
    assert isinstance(received, ev.InvoiceReceived)
    assert received.booked == Booking(
        amount=eur("1137.65"),
        original=usd("1234.56"),
        rate=Decimal("0.9215"),
        rate_on=date(2027, 2, 1),
        source="ECB reference rate",
    )


def test_with_only_the_inverse_rate_recorded_the_invoice_is_booked_at_one_over_it() -> None:
    # Only EUR->USD 1.085 is recorded: 1234.56 / 1.085 = 1137.84331797... -> 1137.84 EUR.
    rate = rate_on(date(2027, 2, 26), EUR_USD)
    assert rate is not None and rate.rate_on == date(2027, 1, 1)
    command = receive(
        line("1234.56", S1, currency="USD"),
        facts=facts(sheet(S1, "1137.84")),
        currency="USD",
        project_currency="EUR",
        rate=rate,
    )
    received = Scenario().when(command)[0]
    assert isinstance(received, ev.InvoiceReceived) and received.booked is not None
    assert received.booked.amount == eur("1137.84")
    # The direct rate wins over the inverse of the other, whatever their dates.
    direct = rate_on(date(2027, 2, 26), USD_EUR, EUR_USD)
    assert direct is not None and direct.rate == Decimal("0.9215")


def test_no_rate_in_force_on_the_issue_date_refuses_the_invoice_naming_its_currency() -> None:
    # USD->EUR is recorded from 2027-02-01 only: nothing is in force on 2027-01-31.
    rate = rate_on(date(2027, 1, 31), USD_EUR)
    assert rate is None
    command = receive(
        line("100.00", S1, currency="USD"),
        facts=facts(sheet(S1, "92.15")),
        currency="USD",
        issued_on=date(2027, 1, 31),
        project_currency="EUR",
        rate=rate,
    )
    scenario = Scenario()
    with pytest.raises(InvalidCommandError) as error:
        scenario.when(command)
    assert error.value.field == "currency"
    assert "no USD->EUR rate in force on 2027-01-31" in error.value.detail
    assert scenario.state is None


def test_a_converted_invoice_is_matched_in_the_projects_currency_against_sheets_and_commitment() -> None:
    # 1000.00 USD x 0.9215 = 921.50 EUR, backed by a sheet costing 921.50 EUR; the EUR commitment of 10000.00 has
    # 9078.50 left after it.
    rate = rate_on(date(2027, 2, 26), USD_EUR)
    command = receive(
        line("1000.00", S1, currency="USD"),
        facts=facts(sheet(S1, "921.50")),
        currency="USD",
        project_currency="EUR",
        rate=rate,
    )
    scenario = Scenario()
    matched = outcome(scenario.when(command))
    assert isinstance(matched, ev.InvoiceMatched), matched
    assert (matched.invoiced, matched.backed) == (eur("921.50"), eur("921.50"))
    assert matched.commitment_remaining == eur("10000.00")
    # Above the commitment: compared in EUR too (a commitment of 900.00 EUR is 21.50 short).
    again = scenario.when(domain.MatchInvoice(facts(sheet(S1, "921.50"), commitment=commitment("900.00")), "m"))
    above = outcome(again)
    assert discrepancies(above) == [(MatchCheck.ABOVE_COMMITMENT, None)]
    assert above.discrepancies[0].over_by == eur("21.50")


def test_a_sheet_costed_in_another_currency_counts_at_its_booked_cost_and_without_a_booking_differs() -> None:
    booked = Booking.of(Money.of("1000.00", "USD"), "EUR", Decimal("0.9215"), date(2027, 2, 1), "ECB")
    usd_sheet = replace(sheet(S1, "1000.00", currency="USD"), booked=booked)
    matched = outcome(Scenario().when(receive(line("921.50", S1), facts=facts(usd_sheet))))
    assert isinstance(matched, ev.InvoiceMatched) and matched.backed == eur("921.50")
    unconverted = sheet(S1, "1000.00", currency="USD")
    mismatched = outcome(Scenario().when(receive(line("921.50", S1), facts=facts(unconverted))))
    assert (MatchCheck.CURRENCY_DIFFERS, 1) in discrepancies(mismatched)


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
