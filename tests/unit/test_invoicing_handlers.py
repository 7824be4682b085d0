"""The invoicing use cases against in-memory fakes: given events, when a handler runs a command with the facts it
reads, then the events appended and the answer, or the error (and nothing appended)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from invoicing import domain, handlers
from shared.commands import CommandContext, CommandOutcome
from shared.contracts import invoicing as ev
from shared.contracts.invoicing import CreditLine, MatchCheck
from shared.errors import (
    ConcurrencyError,
    InvalidCommandError,
    NotFoundError,
    RuleViolationError,
    SeparationOfDutiesError,
)
from tests.support.fakes import InMemoryExecutor, acting_as
from tests.support.invoicing import NOW, PID, S1, VENDOR, FakeInvoiceFacts, facts, line, receive, sheet
from tests.support.money import eur

RECEIVER, APPROVER, PAYER = "rita.receiver", "paul.finance", "erp"
NO_THRESHOLD = domain.DualControl()


@pytest.fixture
def executor() -> InMemoryExecutor:
    return InMemoryExecutor()


@pytest.fixture
def known(executor: InMemoryExecutor) -> FakeInvoiceFacts:
    return FakeInvoiceFacts(executor)


def given_an_invoice(executor: InMemoryExecutor, *, backed_by: str | None = "4000.00", by: str = RECEIVER) -> uuid.UUID:
    """An invoice of 4000.00 + 800.00 tax citing S1, received by ``by``: matched when S1 is approved at
    ``backed_by``, mismatched when it is not approved (None)."""
    sheets = () if backed_by is None else (sheet(S1, backed_by),)
    command = receive(line("4000.00", S1), facts=facts(*sheets), by=by)
    executor.given(domain.stream_id(command.invoice_id), *domain.decide(None, command, NOW))
    return command.invoice_id


def given_approved(executor: InMemoryExecutor, invoice_id: uuid.UUID, by: str = APPROVER) -> None:
    state = _state(executor, invoice_id)
    executor.given(domain.stream_id(invoice_id), *domain.decide(state, domain.ApproveInvoice(by), NOW))


def _state(executor: InMemoryExecutor, invoice_id: uuid.UUID) -> domain.Invoice:
    state: domain.Invoice | None = None
    for event in executor.appended(domain.stream_id(invoice_id)):
        state = domain.evolve(state, event)
    assert state is not None
    return state


def appended_by(executor: InMemoryExecutor, invoice_id: uuid.UUID, before: int) -> list[type[Any]]:
    """The types of the events appended to the invoice's stream after its first ``before``."""
    return [type(e) for e in executor.appended(domain.stream_id(invoice_id))[before:]]


def new_invoice(*lines: domain.LineInput) -> domain.InvoiceDocument:
    """The invoice as the vendor sent it (a :class:`~invoicing.domain.ReceiveInvoice` is one, and the handler reads
    only the document from it: the id, the receiver and the facts are its own)."""
    return receive(*lines, facts=facts(), invoice_id=uuid.UUID(int=0), by="not the receiver")


# --- receiving: the facts of a new invoice ------------------------------------------------------------------------


async def test_a_received_invoice_is_matched_with_the_facts_read_for_its_project_vendor_and_cited_sheets(
    executor: InMemoryExecutor, known: FakeInvoiceFacts
) -> None:
    outcome = await handlers.receive_invoice(executor, known, acting_as(RECEIVER), new_invoice(line("4000.00", S1)))

    invoice_id = uuid.UUID(outcome.body["invoice_id"])
    assert appended_by(executor, invoice_id, 0) == [ev.InvoiceReceived, ev.InvoiceMatched]
    assert (outcome.status_code, outcome.version, outcome.body["status"]) == (201, 2, "matched")
    assert outcome.body["received_by"] == RECEIVER
    (key,) = known.asked
    assert (key.invoice_id, key.project_id, key.vendor, key.commitment_reference) == (invoice_id, PID, VENDOR, "PO-1")
    assert key.sheets == frozenset({S1}) and key.received_position is None


async def test_an_invoice_whose_work_is_not_approved_yet_is_received_mismatched(
    executor: InMemoryExecutor, known: FakeInvoiceFacts
) -> None:
    known.known = facts()

    outcome = await handlers.receive_invoice(executor, known, acting_as(RECEIVER), new_invoice(line("4000.00", S1)))

    assert outcome.body["status"] == "mismatched"
    checks = [d["check"] for d in outcome.body["match"]["discrepancies"]]
    assert checks == [MatchCheck.WORK_NOT_APPROVED.value, MatchCheck.UNDER_BACKED.value]


async def test_an_invoice_whose_lines_do_not_add_up_is_refused_and_nothing_is_appended(
    executor: InMemoryExecutor, known: FakeInvoiceFacts
) -> None:
    wrong = replace(new_invoice(line("4000.00", S1)), total=eur("4799.99"))

    with pytest.raises(InvalidCommandError) as error:
        await handlers.receive_invoice(executor, known, acting_as(RECEIVER), wrong)

    assert error.value.field == "total"
    assert executor.streams == {}


# --- matching again ---------------------------------------------------------------------------------------------


async def test_an_invoice_is_matched_again_by_whoever_asks_once_its_work_is_approved(
    executor: InMemoryExecutor, known: FakeInvoiceFacts
) -> None:
    invoice_id = given_an_invoice(executor, backed_by=None)

    outcome = await handlers.match_invoice(executor, known, acting_as(APPROVER), invoice_id)

    assert appended_by(executor, invoice_id, 2) == [ev.InvoiceMatched]
    assert outcome.body["status"] == "matched" and outcome.body["match"]["matched_by"] == APPROVER
    assert known.asked[0].sheets == frozenset({S1}) and known.asked[0].status == "mismatched"


async def test_matching_again_with_the_same_facts_appends_nothing(
    executor: InMemoryExecutor, known: FakeInvoiceFacts
) -> None:
    invoice_id = given_an_invoice(executor)

    outcome = await handlers.match_invoice(executor, known, acting_as(APPROVER), invoice_id)

    assert appended_by(executor, invoice_id, 2) == [] and outcome.version == 2


async def test_matching_or_crediting_an_unknown_invoice_is_not_found(
    executor: InMemoryExecutor, known: FakeInvoiceFacts
) -> None:
    unknown = uuid.uuid4()
    with pytest.raises(NotFoundError):
        await handlers.match_invoice(executor, known, acting_as(APPROVER), unknown)
    with pytest.raises(NotFoundError):
        await handlers.record_credit_note(
            executor,
            known,
            acting_as(RECEIVER),
            unknown,
            number="CN-1",
            issued_on=date(2027, 3, 2),
            lines=(),
            reason="x",
        )
    assert known.asked == [] and executor.streams == {}


# --- approval, dispute, rejection -------------------------------------------------------------------------------


async def test_a_mismatched_invoice_is_approved_only_with_a_reason_by_someone_other_than_its_receiver(
    executor: InMemoryExecutor,
) -> None:
    invoice_id = given_an_invoice(executor, backed_by=None)

    with pytest.raises(RuleViolationError) as no_reason:
        await handlers.approve_invoice(executor, acting_as(APPROVER), invoice_id, None, NO_THRESHOLD)
    with pytest.raises(SeparationOfDutiesError):
        await handlers.approve_invoice(executor, acting_as(RECEIVER), invoice_id, "signed on paper", NO_THRESHOLD)
    assert no_reason.value.field == "override_reason" and appended_by(executor, invoice_id, 2) == []

    outcome = await handlers.approve_invoice(executor, acting_as(APPROVER), invoice_id, "signed on paper", NO_THRESHOLD)

    assert appended_by(executor, invoice_id, 2) == [ev.InvoiceApproved]
    assert (outcome.body["status"], outcome.body["approved_by"]) == ("approved", APPROVER)
    assert outcome.body["override_reason"] == "signed on paper"


async def test_below_the_dual_control_threshold_the_receiver_may_approve_a_matched_invoice(
    executor: InMemoryExecutor,
) -> None:
    invoice_id = given_an_invoice(executor)
    at_10k = domain.DualControl(MappingProxyType({"EUR": Decimal("10000")}))

    with pytest.raises(SeparationOfDutiesError):
        await handlers.approve_invoice(executor, acting_as(RECEIVER), invoice_id, None, NO_THRESHOLD)
    outcome = await handlers.approve_invoice(executor, acting_as(RECEIVER), invoice_id, None, at_10k)

    assert outcome.body["approved_by"] == RECEIVER


async def test_a_disputed_invoice_is_rejected_and_an_approved_one_is_not(executor: InMemoryExecutor) -> None:
    disputed = given_an_invoice(executor)
    approved = given_an_invoice(executor)
    given_approved(executor, approved)

    await handlers.dispute_invoice(executor, acting_as(APPROVER), disputed, "rate above contract")
    outcome = await handlers.reject_invoice(executor, acting_as(APPROVER), disputed, "no approved work")
    with pytest.raises(RuleViolationError, match="is approved"):
        await handlers.reject_invoice(executor, acting_as(APPROVER), approved, "too late")

    assert appended_by(executor, disputed, 2) == [ev.InvoiceDisputed, ev.InvoiceRejected]
    assert (outcome.body["status"], outcome.body["rejected_by"]) == ("rejected", APPROVER)
    assert appended_by(executor, approved, 3) == []


async def test_deciding_on_an_unknown_invoice_is_not_found(executor: InMemoryExecutor) -> None:
    with pytest.raises(NotFoundError):
        await handlers.approve_invoice(executor, acting_as(APPROVER), uuid.uuid4(), None, NO_THRESHOLD)


# --- payments and credit notes ----------------------------------------------------------------------------------


async def test_a_payment_is_recorded_by_someone_who_neither_approved_nor_received_the_invoice(
    executor: InMemoryExecutor,
) -> None:
    invoice_id = given_an_invoice(executor)
    given_approved(executor, invoice_id)

    async def pay(by: str, amount: str) -> CommandOutcome[Any]:
        return await handlers.record_payment(
            executor,
            acting_as(by),
            invoice_id,
            amount=eur(amount),
            paid_on=date(2027, 3, 20),
            reference="BANK-1",
            dual_control=NO_THRESHOLD,
        )

    for not_allowed in (APPROVER, RECEIVER):
        with pytest.raises(SeparationOfDutiesError):
            await pay(not_allowed, "100.00")
    with pytest.raises(InvalidCommandError) as above:
        await pay(PAYER, "4800.01")
    assert above.value.field == "amount" and appended_by(executor, invoice_id, 3) == []

    outcome = await pay(PAYER, "1800.00")

    assert appended_by(executor, invoice_id, 3) == [ev.InvoicePaid]
    assert (outcome.status_code, outcome.body["status"]) == (201, "partially_paid")
    assert outcome.body["amount_due"] == {"amount": "3000.00", "currency": "EUR"}


async def test_a_credit_note_on_an_over_billed_invoice_matches_it_again_with_the_facts_read_now(
    executor: InMemoryExecutor, known: FakeInvoiceFacts
) -> None:
    invoice_id = given_an_invoice(executor, backed_by="3500.00")
    known.known = facts(sheet(S1, "3500.00"))

    outcome = await handlers.record_credit_note(
        executor,
        known,
        acting_as(RECEIVER),
        invoice_id,
        number="CN-1",
        issued_on=date(2027, 3, 2),
        lines=(CreditLine(line=1, amount=eur("500.00"), tax=eur("100.00")),),
        reason="two days billed twice",
    )

    assert appended_by(executor, invoice_id, 2) == [ev.CreditNoteReceived, ev.InvoiceMatched]
    assert (outcome.status_code, outcome.body["status"], outcome.body["invoiced"]["amount"]) == (
        201,
        "matched",
        "3500.00",
    )
    assert known.asked[0].invoice_id == invoice_id


# --- the project's tolerance ------------------------------------------------------------------------------------


async def test_the_tolerance_is_set_within_range_once(executor: InMemoryExecutor) -> None:
    stream = domain.policy_stream_id(PID)
    with pytest.raises(InvalidCommandError) as too_wide:
        await handlers.set_tolerance(executor, acting_as(APPROVER), PID, Decimal("0.2"))
    assert too_wide.value.field == "tolerance" and executor.appended(stream) == []

    outcome = await handlers.set_tolerance(executor, acting_as(APPROVER), PID, Decimal("0.05"))
    again = await handlers.set_tolerance(executor, acting_as(APPROVER), PID, Decimal("0.050"))

    assert [type(e) for e in executor.appended(stream)] == [ev.MatchingToleranceSet]
    assert outcome.body == {"project_id": str(PID), "tolerance": "0.05", "version": 1}
    assert again.body == outcome.body


async def test_setting_the_default_tolerance_on_a_new_project_appends_nothing_and_names_the_project(
    executor: InMemoryExecutor,
) -> None:
    outcome = await handlers.set_tolerance(executor, acting_as(APPROVER), PID, Decimal("0.02"))

    assert outcome.body == {"project_id": str(PID), "tolerance": "0.02", "version": 0}


# --- the matcher ------------------------------------------------------------------------------------------------


async def test_the_matcher_matches_an_invoice_again_as_itself_caused_by_the_fact_that_changed(
    executor: InMemoryExecutor, known: FakeInvoiceFacts
) -> None:
    invoice_id = given_an_invoice(executor, backed_by=None)

    outcome = await handlers.rematch(executor, known, invoice_id, cause="approval-1", correlation_id="corr-1")

    assert outcome is not None and appended_by(executor, invoice_id, 2) == [ev.InvoiceMatched]
    (recorded,) = outcome.events
    assert recorded.metadata.actor == domain.MATCHER
    assert (recorded.metadata.causation_id, recorded.metadata.correlation_id) == ("approval-1", "corr-1")
    matched = recorded.event
    assert isinstance(matched, ev.InvoiceMatched) and matched.matched_by == domain.MATCHER


async def test_the_matcher_leaves_unknown_and_decided_invoices_alone(
    executor: InMemoryExecutor, known: FakeInvoiceFacts
) -> None:
    decided = given_an_invoice(executor)
    given_approved(executor, decided)

    assert await handlers.rematch(executor, known, decided) is None
    assert await handlers.rematch(executor, known, uuid.uuid4()) is None
    assert known.asked == [] and appended_by(executor, decided, 3) == []


@dataclass
class LosingOnce(InMemoryExecutor):
    """An executor whose first command loses a race (another writer appended first)."""

    lost: int = 0

    async def execute(self, ctx: CommandContext, **command: Any) -> CommandOutcome[Any]:
        if self.lost == 0:
            self.lost += 1
            raise ConcurrencyError("another writer was first", expected=2, actual=3)
        return await super().execute(ctx, **command)


async def test_the_matcher_reads_the_facts_again_after_losing_a_race() -> None:
    executor = LosingOnce()
    known = FakeInvoiceFacts(executor)
    invoice_id = given_an_invoice(executor, backed_by=None)

    outcome = await handlers.rematch(executor, known, invoice_id)

    assert outcome is not None and len(known.asked) == 2
    assert appended_by(executor, invoice_id, 2) == [ev.InvoiceMatched]
