"""Separation of duties, service by service: nobody takes two steps that must be kept apart, and people are the
same person however their subject is spelt (:func:`shared.identity.same_person`). Given events or commands, when
a command, then events or a :class:`SeparationOfDutiesError` (a rule violation, 409 at the edge)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from types import MappingProxyType

import pytest

from budget import domain as budget
from invoicing import domain as invoicing
from projects import domain as projects
from reporting.domain.evm import evm
from reporting.domain.ledger import book
from reporting.domain.rules import Thresholds, conditions
from resources import domain as resources
from shared.contracts import budget as bev
from shared.contracts import invoicing as inv
from shared.contracts import projects as pj
from shared.contracts import resources as res
from shared.errors import RuleViolationError, SeparationOfDutiesError
from shared.identity import same_person
from shared.money import Money
from tests.support import reporting as reporting_support
from tests.support import resources as resources_support
from tests.support.invoicing import S1, Scenario, commitment, facts, line, receive, sheet
from tests.unit import test_budget_domain as budget_domain
from tests.unit import test_project_lifecycle as project_lifecycle

# Spellings of one person that must never count as two (zero-width space, fullwidth letters, Cyrillic look-alikes).
RITA_SPELLINGS = [
    "rita.receiver",
    " Rita.Receiver ",
    "rita\u200b.receiver",
    "\uff52\uff49\uff54\uff41.receiver",
    "r\u0456ta.r\u0435ceiver",
]


@pytest.mark.parametrize("spelling", RITA_SPELLINGS)
def test_every_spelling_of_one_subject_is_the_same_person(spelling: str) -> None:
    assert same_person(spelling, "rita.receiver")
    assert not same_person(spelling, "paul.finance") and not same_person(spelling, None)


# --- invoicing: receipt, approval and payment ---------------------------------------------------------------------

RECEIVER, APPROVER, PAYER = "rita.receiver", "paul.finance", "erp"


def invoice_of(total_net: str = "55440.00", by: str = RECEIVER) -> Scenario:
    """A matched invoice (net + 20 % tax) received by ``by``; the default is 66,528.00 EUR, as in the finding."""
    known = facts(sheet(S1, total_net), commitment=commitment("100000.00"))
    return Scenario().given(receive(line(total_net, S1), facts=known, by=by))


def pay(by: str, amount: str = "100.00", dual: invoicing.DualControl | None = None) -> invoicing.RecordPayment:
    return invoicing.RecordPayment(
        uuid.uuid4(), Money.of(amount, "EUR"), date(2027, 3, 20), None, by, dual or invoicing.DualControl()
    )


EUR_10K = invoicing.DualControl(MappingProxyType({"EUR": Decimal("10000")}))


@pytest.mark.parametrize("spelling", RITA_SPELLINGS)
def test_whoever_received_an_invoice_does_not_approve_it(spelling: str) -> None:
    with pytest.raises(SeparationOfDutiesError, match="someone else approves it"):
        invoice_of().when(invoicing.ApproveInvoice(spelling))


def test_one_finance_user_cannot_receive_approve_and_pay_an_invoice_alone() -> None:
    s = invoice_of(by="fiona.finance")
    with pytest.raises(SeparationOfDutiesError):
        s.when(invoicing.ApproveInvoice("fiona.finance"))
    s.when(invoicing.ApproveInvoice(APPROVER))
    with pytest.raises(SeparationOfDutiesError, match="received invoice"):
        s.when(pay("fiona.finance"))


def test_whoever_approved_an_invoice_does_not_pay_it_whatever_its_amount() -> None:
    s = invoice_of("10.00").given(invoicing.ApproveInvoice(APPROVER, dual_control=EUR_10K))
    with pytest.raises(SeparationOfDutiesError, match="approved invoice"):
        s.when(pay("PAUL.finance", "1.00", EUR_10K))
    (paid,) = s.when(pay(RECEIVER, "1.00", EUR_10K))  # below the threshold the receiver may pay
    assert isinstance(paid, inv.InvoicePaid) and paid.recorded_by == RECEIVER


def test_below_the_dual_control_threshold_the_receiver_may_approve() -> None:
    s = invoice_of("8000.00")  # 9,600.00 EUR with tax: below 10,000
    (approved,) = s.when(invoicing.ApproveInvoice(RECEIVER, dual_control=EUR_10K))
    assert isinstance(approved, inv.InvoiceApproved)


def test_at_the_threshold_receipt_approval_and_payment_are_three_people() -> None:
    s = invoice_of("8333.34")  # 10,000.01 EUR with tax (8333.34 + 1666.67)
    with pytest.raises(SeparationOfDutiesError):
        s.when(invoicing.ApproveInvoice(RECEIVER, dual_control=EUR_10K))
    s.when(invoicing.ApproveInvoice(APPROVER, dual_control=EUR_10K))
    with pytest.raises(SeparationOfDutiesError):
        s.when(pay(RECEIVER, dual=EUR_10K))
    (paid,) = s.when(pay(PAYER, dual=EUR_10K))
    assert isinstance(paid, inv.InvoicePaid)


def test_a_separation_of_duties_error_is_a_rule_violation() -> None:
    assert issubclass(SeparationOfDutiesError, RuleViolationError)


# --- resources: rates and work sheets -----------------------------------------------------------------------------


def linked_person(subject: str = "rita.rm") -> resources_support.Scenario:
    """A person whose resource is linked to the user ``subject``, with a rate set by someone else."""
    return resources_support.Scenario().given(
        replace(resources_support.register(), subject=subject), resources_support.rate("80.00")
    )


@pytest.mark.parametrize("spelling", ["rita.rm", "RITA.rm", "r\u0456ta.rm", "\uff52ita.rm"])
def test_nobody_sets_their_own_rate(spelling: str) -> None:
    with pytest.raises(SeparationOfDutiesError, match="sets their rate"):
        linked_person().when(resources.SetRate(date(2027, 6, 1), Money.of("500.00", "EUR"), spelling))
    (event,) = linked_person().when(resources.SetRate(date(2027, 6, 1), Money.of("500.00", "EUR"), "max.manager"))
    assert isinstance(event, res.RateSet)


def test_nobody_approves_their_own_hours_even_when_a_service_submitted_them() -> None:
    s = linked_person().given(resources_support.submit(by="timeclock"))
    with pytest.raises(SeparationOfDutiesError, match="own work"):
        s.when(resources_support.approve(by="Rita.RM"))
    with pytest.raises(SeparationOfDutiesError, match="own work"):
        s.when(resources_support.reject(by="rita.rm"))
    (approved,) = s.when(resources_support.approve(by="max.manager"))
    assert isinstance(approved, res.WorkSheetApproved)


@pytest.mark.parametrize("spelling", ["ada", "ADA ", "\u0430da", "a\u200bda"])
def test_whoever_submitted_a_work_sheet_does_not_review_it(spelling: str) -> None:
    s = linked_person().given(resources_support.submit(by="ada"))
    with pytest.raises(SeparationOfDutiesError, match="submitted version 1"):
        s.when(resources_support.approve(by=spelling))


# --- projects: approval and gate decisions ------------------------------------------------------------------------


def proposed(registered_by: str = "dora.director") -> project_lifecycle.Scenario:
    """A project registered by ``registered_by``, sponsored by dora and managed by max."""
    return project_lifecycle.Scenario().given(replace(project_lifecycle.REGISTER, registered_by=registered_by))


@pytest.mark.parametrize("spelling", ["dora.director", "Dora.Director", "d\u043era.director", "\uff44ora.director"])
def test_a_director_does_not_approve_a_project_she_registered(spelling: str) -> None:
    with pytest.raises(SeparationOfDutiesError, match="registered project"):
        proposed().when(projects.ApproveProject(spelling, date(2027, 1, 5)))


def test_the_project_manager_does_not_approve_the_project_nor_decide_its_gates() -> None:
    with pytest.raises(SeparationOfDutiesError, match="manages project"):
        proposed("pat.pmo").when(projects.ApproveProject("MAX", date(2027, 1, 5)))
    active = proposed("pat.pmo").given(project_lifecycle.APPROVE, project_lifecycle.START)
    gate = projects.RecordGateDecision(uuid.uuid4(), "G2", pj.GateOutcome.CONTINUE, "numbers", "max", date(2027, 3, 1))
    with pytest.raises(SeparationOfDutiesError, match="decides gate G2"):
        active.when(gate)


def test_whoever_registered_a_project_does_not_decide_its_gates_and_the_sponsor_may() -> None:
    active = proposed("pat.pmo").given(project_lifecycle.APPROVE, project_lifecycle.START)
    gate = projects.RecordGateDecision(
        uuid.uuid4(), "G2", pj.GateOutcome.CONTINUE, "numbers", "pat.pmo", date(2027, 3, 1)
    )
    with pytest.raises(SeparationOfDutiesError, match="registered project"):
        active.when(gate)
    (decided,) = active.when(replace(gate, decided_by="dora"))  # the sponsor
    assert isinstance(decided, pj.GateDecided)


def test_the_sponsor_approves_a_project_someone_else_registered() -> None:
    (approved,) = proposed("pat.pmo").when(projects.ApproveProject("dora", date(2027, 1, 5)))
    assert isinstance(approved, pj.ProjectApproved) and approved.approved_by == "dora"


# --- budget: overrun policy -----------------------------------------------------------------------------------


def guarded() -> budget_domain.Scenario:
    """A baselined budget whose overruns need approval."""
    return budget_domain.baselined().given(budget.SetOverrunPolicy(bev.OverrunPolicy.REQUIRE_APPROVAL, "carl"))


def test_a_looser_overrun_policy_is_only_requested_and_applies_once_someone_else_approves_it() -> None:
    s = guarded()
    (requested,) = s.when(budget.SetOverrunPolicy(bev.OverrunPolicy.WARN, "fiona"))
    assert isinstance(requested, bev.OverrunPolicyChangeRequested)
    assert s.state.policy is bev.OverrunPolicy.REQUIRE_APPROVAL  # still in force
    (pending,) = s.when(budget_domain.commit("5000000.00", bev.CostCategory.MATERIALS))
    assert isinstance(pending, bev.CommitmentAwaitingApproval)
    for same in ("fiona", "FIONA", "f\u0456ona"):
        with pytest.raises(SeparationOfDutiesError, match="someone else approves it"):
            s.when(budget.ApproveOverrunPolicy(same))
    (applied,) = s.when(budget.ApproveOverrunPolicy("carl"))
    assert isinstance(applied, bev.OverrunPolicySet)
    assert (applied.policy, applied.set_by, applied.approved_by) == (bev.OverrunPolicy.WARN, "fiona", "carl")
    assert s.state.policy is bev.OverrunPolicy.WARN and s.state.policy_requested is None


def test_a_stricter_overrun_policy_applies_at_once_and_nothing_waits_for_no_request() -> None:
    s = budget_domain.baselined()
    (event,) = s.when(budget.SetOverrunPolicy(bev.OverrunPolicy.BLOCK, "fiona"))
    assert isinstance(event, bev.OverrunPolicySet) and event.approved_by is None
    with pytest.raises(RuleViolationError, match="no looser overrun policy"):
        s.when(budget.ApproveOverrunPolicy("carl"))


@pytest.mark.parametrize("spelling", ["paul", "PAUL", "p\u0430ul"])
def test_a_commitment_awaiting_approval_is_not_approved_by_its_requester_however_spelt(spelling: str) -> None:
    s = guarded()
    (pending,) = s.when(budget_domain.commit("5000000.00", bev.CostCategory.MATERIALS, by="paul"))
    assert isinstance(pending, bev.CommitmentAwaitingApproval)
    with pytest.raises(SeparationOfDutiesError):
        s.when(budget.ApproveCommitment(pending.commitment_id, spelling))


# --- reporting: commitments to a category without budget ------------------------------------------------------


def test_a_commitment_to_a_category_without_budget_raises_a_critical_alert() -> None:
    facts = [
        reporting_support.registered(),
        reporting_support.baseline("100000.00"),  # labour only
        reporting_support.fact(
            bev.BudgetCommitted(
                project_id=reporting_support.PID,
                commitment_id=uuid.uuid4(),
                kind=bev.CommitmentKind.PURCHASE_ORDER,
                vendor="Acme",
                reference="PO-9",
                category=bev.CostCategory.MATERIALS,
                milestone_id=None,
                amount=Money.of("5000000.00", "EUR"),
                expected_invoices=[],
                overrun=None,
                policy=bev.OverrunPolicy.WARN,
                requested_by="fiona",
                approved_by=None,
            ),
            date(2027, 2, 1),
        ),
    ]
    day = date(2027, 3, 15)
    books = book(reporting_support.PID, facts, day)
    found = [c for c in conditions(books, evm(books, day), [], day, Thresholds()) if "budget" in c.rule]
    assert [(c.rule, c.severity, c.figures["category"], c.figures["committed"]) for c in found] == [
        ("commitment-without-budget", "critical", "materials", "5000000.00")
    ]
