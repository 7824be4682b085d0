"""The approvals inbox's rules: which request opens an item and which decision closes it (pure), the roles and
commands of each kind against the owning services' access policies and routes, and the event builders the
integration test publishes."""

from __future__ import annotations

import functools
import importlib
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from reporting.approvals import rules
from reporting.approvals.kinds import RULES, ApprovalKind, deciding_roles, kinds_for
from shared.auth import Role
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import project_edits as e
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.events import DomainEvent
from shared.money import Money

AT = datetime(2027, 3, 1, 9, tzinfo=UTC)
DAY = date(2027, 3, 1)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


# --- requests and decisions as their services publish them (also used by the integration test) -----------------


def registered(pid: uuid.UUID, portfolio: str, *, manager: str, registrant: str | None) -> p.ProjectRegistered:
    return p.ProjectRegistered(
        project_id=pid,
        portfolio_id=portfolio,
        programme_id=None,
        code=f"AP-{pid.hex[:6]}",
        name="Approvals",
        objectives="",
        sponsor="s",
        manager=manager,
        planned_start=DAY,
        planned_end=date(2027, 12, 17),
        currency="EUR",
        registered_by=registrant,
    )


def change_requested(pid: uuid.UUID, change_id: uuid.UUID, by: str, amount: str = "12000.00") -> DomainEvent:
    return b.BudgetChangeRequested(
        project_id=pid,
        change_id=change_id,
        category=b.CostCategory.LABOUR,
        amount=eur(amount),
        reason="a second test team",
        requested_by=by,
    )


def change_decided(pid: uuid.UUID, change_id: uuid.UUID, approved: bool) -> DomainEvent:
    if approved:
        return b.BudgetChangeApproved(
            project_id=pid,
            change_id=change_id,
            category=b.CostCategory.LABOUR,
            amount=eur("12000.00"),
            approved_by="fiona",
            bac_after=eur("112000.00"),
            category_budget_after=eur("112000.00"),
        )
    return b.BudgetChangeRejected(project_id=pid, change_id=change_id, rejected_by="fiona", reason="no")


def commitment_awaiting(pid: uuid.UUID, commitment_id: uuid.UUID, by: str) -> DomainEvent:
    return b.CommitmentAwaitingApproval(
        project_id=pid,
        commitment_id=commitment_id,
        kind=b.CommitmentKind.PURCHASE_ORDER,
        vendor="Acme",
        reference="PO-7",
        category=b.CostCategory.LABOUR,
        milestone_id=None,
        amount=eur("30000.00"),
        expected_invoices=[],
        overrun=b.Overrun(
            category=b.CostCategory.LABOUR,
            category_budget=eur("100000.00"),
            committed_after=eur("105000.00"),
            over_by=eur("5000.00"),
        ),
        requested_by=by,
    )


def commitment_refused(pid: uuid.UUID, commitment_id: uuid.UUID) -> DomainEvent:
    return b.CommitmentApprovalRefused(project_id=pid, commitment_id=commitment_id, refused_by="fiona", reason="no")


def policy_requested(pid: uuid.UUID, by: str) -> DomainEvent:
    return b.OverrunPolicyChangeRequested(
        project_id=pid, policy=b.OverrunPolicy.WARN, previous_policy=b.OverrunPolicy.BLOCK, requested_by=by
    )


def policy_set(pid: uuid.UUID) -> DomainEvent:
    return b.OverrunPolicySet(project_id=pid, policy=b.OverrunPolicy.WARN, set_by="fred", approved_by="fiona")


def resource_registered(resource_id: uuid.UUID, subject: str) -> DomainEvent:
    return r.ResourceRegistered(
        resource_id=resource_id,
        kind=r.ResourceKind.PERSON,
        vendor_id=None,
        role="dev",
        department="it",
        weekly_capacity_hours=Decimal(40),
        currency="EUR",
        registered_on=DAY,
        subject=subject,
    )


def sheet_submitted(pid: uuid.UUID, rid: uuid.UUID, sid: uuid.UUID, by: str, version: int = 1) -> DomainEvent:
    fields = dict(
        resource_id=rid,
        sheet_id=sid,
        version=version,
        project_id=pid,
        week="2027-W09",
        week_start=DAY,
        kind=r.ResourceKind.PERSON,
        entries=[r.TimeEntry(day=DAY, milestone_id=None, hours=Decimal(8))],
        deliverables=[],
        hours=Decimal(8),
        submitted_by=by,
        submitted_on=DAY,
    )
    if version == 1:
        return r.WorkSheetSubmitted(**fields)
    return r.WorkSheetCorrected(
        **fields,
        replaces_version=version - 1,
        replaced_status=r.SheetStatus.REJECTED,
        reason="one day more",
    )


def sheet_rejected(pid: uuid.UUID, rid: uuid.UUID, sid: uuid.UUID, version: int) -> DomainEvent:
    return r.WorkSheetRejected(
        resource_id=rid,
        sheet_id=sid,
        version=version,
        project_id=pid,
        week="2027-W09",
        rejected_by="rosa",
        rejected_on=DAY,
        reason="missing day",
    )


def sheet_approved(pid: uuid.UUID, rid: uuid.UUID, sid: uuid.UUID, version: int) -> DomainEvent:
    return r.WorkSheetApproved(
        resource_id=rid,
        sheet_id=sid,
        version=version,
        replaces_version=None,
        project_id=pid,
        week="2027-W09",
        week_start=DAY,
        kind=r.ResourceKind.PERSON,
        role="dev",
        vendor_id=None,
        submitted_by="sam",
        approved_by="rosa",
        approved_on=DAY,
        entries=[],
        deliverables=[],
        hours=Decimal(8),
        cost=eur("800.00"),
        cost_by_milestone=[],
    )


def invoice_received(pid: uuid.UUID, invoice_id: uuid.UUID, by: str, net: str = "4000.00") -> DomainEvent:
    return i.InvoiceReceived(
        project_id=pid,
        invoice_id=invoice_id,
        vendor="Acme",
        number="INV-42",
        issued_on=DAY,
        received_on=DAY,
        due_on=date(2027, 3, 31),
        currency="EUR",
        commitment_reference="PO-1",
        lines=[],
        net=eur(net),
        tax=eur("0.00"),
        total=eur(net),
        received_by=by,
    )


def invoice_match(pid: uuid.UUID, invoice_id: uuid.UUID, matched: bool, net: str = "4000.00") -> DomainEvent:
    fields = dict(
        project_id=pid,
        invoice_id=invoice_id,
        invoiced=eur(net),
        backed=eur("3000.00"),
        lines=[],
        commitment_id=None,
        commitment_remaining=None,
        tolerance=Decimal("0.02"),
        matched_by="m",
    )
    if matched:
        return i.InvoiceMatched(**fields)
    discrepancy = i.Discrepancy(check=i.MatchCheck.UNDER_BACKED, line=1, detail="short")
    return i.InvoiceMismatched(**fields, discrepancies=[discrepancy])


def invoice_approved(pid: uuid.UUID, invoice_id: uuid.UUID) -> DomainEvent:
    return i.InvoiceApproved(
        project_id=pid,
        invoice_id=invoice_id,
        approved_by="fiona",
        override=True,
        override_reason="agreed with the vendor",
        overridden=[],
        amount_due=eur("4000.00"),
    )


def baseline_proposed(pid: uuid.UUID, version: int, by: str) -> DomainEvent:
    return p.PerformanceBaselineProposed(
        project_id=pid,
        baseline_id=uuid.uuid5(pid, str(version)),
        version=version,
        effective_on=DAY,
        items=[],
        total=eur("90000.00"),
        management_reserve=eur("10000.00"),
        reason="first baseline",
        proposed_by=by,
    )


def baseline_rejected(pid: uuid.UUID, version: int) -> DomainEvent:
    return p.PerformanceBaselineRejected(
        project_id=pid, baseline_id=uuid.uuid5(pid, str(version)), version=version, rejected_by="dave", reason="no"
    )


def value_change_requested(pid: uuid.UUID, change_id: uuid.UUID, by: str) -> DomainEvent:
    return e.MilestoneValueChangeRequested(
        project_id=pid,
        change_id=change_id,
        milestone_id=uuid.uuid5(pid, "m1"),
        planned_value=eur("120000.00"),
        previous_value=eur("100000.00"),
        reason="scope added by the steering committee",
        requested_by=by,
        requested_on=DAY,
    )


def value_change_approved(pid: uuid.UUID, change_id: uuid.UUID) -> DomainEvent:
    return e.MilestoneValueChangeApproved(
        project_id=pid,
        change_id=change_id,
        milestone_id=uuid.uuid5(pid, "m1"),
        planned_value=eur("120000.00"),
        previous_value=eur("100000.00"),
        approved_by="paula",
        approved_on=DAY,
    )


def put_on_hold(pid: uuid.UUID) -> DomainEvent:
    return p.ProjectPutOnHold(project_id=pid, reason="vendor insolvent", on=DAY)


def resumed(pid: uuid.UUID) -> DomainEvent:
    return p.ProjectResumed(project_id=pid, note="gate G2: continue", on=DAY)


def approved(pid: uuid.UUID) -> DomainEvent:
    return p.ProjectApproved(project_id=pid, approved_by="dave", approved_on=DAY, note="")


# --- the rules ----------------------------------------------------------------------------------------------------

PID, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)


def only(event: DomainEvent, actor: str = "actor") -> rules.Change:
    found = [c for c in rules.changes(event, actor, AT) if not isinstance(c, rules.ProjectPeople)]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("request_", "decisions", "kind"),
    [
        (
            change_requested(PID, OTHER, "fred"),
            [change_decided(PID, OTHER, True), change_decided(PID, OTHER, False)],
            ApprovalKind.BUDGET_CHANGE,
        ),
        (commitment_awaiting(PID, OTHER, "fred"), [commitment_refused(PID, OTHER)], ApprovalKind.COMMITMENT),
        (policy_requested(PID, "fred"), [policy_set(PID)], ApprovalKind.OVERRUN_POLICY),
        (baseline_proposed(PID, 2, "dora"), [baseline_rejected(PID, 2)], ApprovalKind.BASELINE_APPROVAL),
        (put_on_hold(PID), [resumed(PID)], ApprovalKind.GATE_DECISION),
        (
            value_change_requested(PID, OTHER, "pete"),
            [value_change_approved(PID, OTHER)],
            ApprovalKind.MILESTONE_VALUE_CHANGE,
        ),
        (
            registered(PID, "pf", manager="mia", registrant="rita"),
            [approved(PID)],
            ApprovalKind.PROJECT_APPROVAL,
        ),
        (invoice_received(PID, OTHER, "fred"), [invoice_approved(PID, OTHER)], ApprovalKind.INVOICE_OVERRIDE),
    ],
)
def test_a_request_opens_an_item_of_its_kind_and_its_decision_closes_that_item(
    request_: DomainEvent, decisions: list[DomainEvent], kind: ApprovalKind
) -> None:
    opened = only(request_)
    assert isinstance(opened, rules.Open) and opened.kind is kind and opened.project_id == PID
    assert opened.requested_at == AT
    for decision in decisions:
        closed = only(decision)
        assert isinstance(closed, rules.Close) and closed.key == opened.key
    # every param the kind's commands need is there
    for action in RULES[kind].actions:
        assert "{" not in action.template.format(**opened.params)


def test_the_requester_is_the_events_field_else_the_actor_who_registered_the_project() -> None:
    with_field = only(change_requested(PID, OTHER, "fred"), actor="someone")
    assert isinstance(with_field, rules.Open) and with_field.requested_by == "fred"
    without = only(registered(PID, "pf", manager="mia", registrant=None), actor="rita")
    assert isinstance(without, rules.Open) and without.requested_by == "rita" and without.excluded == ("mia",)
    people = rules.changes(registered(PID, "pf", manager="mia", registrant=None), "rita", AT)[0]
    assert people == rules.ProjectPeople(PID, ("rita", "mia"))


def test_a_gate_due_excludes_the_projects_registrant_and_manager_and_a_registration_is_never_replaced() -> None:
    gate = only(put_on_hold(PID))
    assert isinstance(gate, rules.Open) and gate.project_people
    first = only(registered(PID, "pf", manager="mia", registrant="rita"))
    assert isinstance(first, rules.Open) and not first.replace


def test_an_invoice_waits_for_an_override_only_while_its_latest_match_is_a_mismatch() -> None:
    received = only(invoice_received(PID, OTHER, "fred"))
    assert isinstance(received, rules.Open) and not received.pending and received.amount == eur("4000.00")
    mismatched = only(invoice_match(PID, OTHER, matched=False, net="3900.00"))
    assert mismatched == rules.Park(received.key, True, "1 discrepancies (under-backed)", eur("3900.00"))
    matched = only(invoice_match(PID, OTHER, matched=True))
    assert isinstance(matched, rules.Park) and not matched.pending
    disputed = only(i.InvoiceDisputed(project_id=PID, invoice_id=OTHER, disputed_by="f", reason="r"))
    assert disputed == rules.Park(received.key, False)


def test_a_corrected_sheet_replaces_the_item_and_a_decision_closes_only_its_version_or_an_older_one() -> None:
    first = only(sheet_submitted(PID, OTHER, PID, "sam"))
    second = only(sheet_submitted(PID, OTHER, PID, "sam", version=2))
    assert isinstance(first, rules.Open) and isinstance(second, rules.Open)
    assert first.key == second.key and (first.version, second.version) == (1, 2) and second.replace
    assert second.resource_id == OTHER
    assert only(sheet_rejected(PID, OTHER, PID, 1)) == rules.Close(first.key, version=1)
    assert only(resource_registered(OTHER, "wanda")) == rules.ResourceSubject(OTHER, "wanda")


def test_free_text_is_cut_to_the_bound_and_events_outside_the_inbox_change_nothing() -> None:
    long = b.BudgetChangeRequested(
        project_id=PID,
        change_id=OTHER,
        category=b.CostCategory.LABOUR,
        amount=eur("1.00"),
        reason="x" * 2000,
        requested_by="fred",
    )
    opened = only(long)
    assert isinstance(opened, rules.Open) and len(opened.what) == rules.WHAT_LENGTH and opened.what.endswith("…")
    assert rules.changes(p.ProjectStarted(project_id=PID, started_on=DAY), "a", AT) == []
    for service, names in rules.EVENTS.items():  # every event named exists in its service's contracts
        registry = {"projects": p, "budget": b, "resources": r, "invoicing": i}[service].REGISTRY
        assert names <= {model.event_name for model in registry}, service


def test_each_role_sees_the_kinds_it_decides_the_director_all_and_machine_clients_none() -> None:
    finance = {ApprovalKind.BUDGET_CHANGE, ApprovalKind.COMMITMENT, ApprovalKind.OVERRUN_POLICY}
    assert set(kinds_for(frozenset({Role.FINANCE}))) == finance | {ApprovalKind.INVOICE_OVERRIDE}
    assert kinds_for(frozenset({Role.RESOURCE_MANAGER})) == [ApprovalKind.WORK_SHEET]
    assert kinds_for(frozenset({Role.DIRECTOR})) == list(ApprovalKind)
    assert kinds_for(frozenset({Role.SERVICE})) == kinds_for(frozenset({Role.VIEWER})) == []
    assert kinds_for(frozenset({Role.PMO})) == [ApprovalKind.MILESTONE_VALUE_CHANGE]


@functools.cache
def _paths(service: str) -> dict[str, Any]:
    app = FastAPI()
    for router in importlib.import_module(f"{service}.bootstrap").SPEC.routers:
        app.include_router(router)
    paths: dict[str, Any] = app.openapi()["paths"]
    return paths


@pytest.mark.parametrize("kind", list(ApprovalKind))
def test_each_kinds_commands_exist_and_their_access_policy_allows_exactly_its_deciders(kind: ApprovalKind) -> None:
    for action in RULES[kind].actions:
        bootstrap = importlib.import_module(f"{action.service}.bootstrap")
        assert action.method.lower() in _paths(action.service).get(action.template, {}), action
        assert bootstrap.ACCESS.allowed(action.method, action.template) == deciding_roles(kind), action


def test_an_item_answers_its_age_its_amount_rounded_once_in_its_currency_and_the_commands_deciding_it() -> None:
    from types import SimpleNamespace

    from reporting.approvals.views import _item

    row = SimpleNamespace(
        item_key=f"invoice-override:{OTHER}",
        kind="invoice-override",
        project_id=PID,
        what="invoice INV-42 from Acme",
        detail="1 discrepancies (under-backed)",
        amount=Decimal("1200000.5"),
        currency="JPY",
        requested_by="fred",
        requested_at=AT,
        params=f'{{"invoice_id": "{OTHER}", "project_id": "{PID}"}}',
        code="AP",
        name="Approvals",
        portfolio_id="pf",
        programme_id=None,
    )
    item = _item(row, AT + timedelta(days=2, hours=5, minutes=59))
    assert item["amount"] == {"amount": "1200000", "currency": "JPY"}  # half-even to the yen
    assert (item["age_days"], item["age_hours"]) == (2, 53)
    assert item["what"] == "invoice INV-42 from Acme: 1 discrepancies (under-backed)"
    assert item["deciders"] == ["director", "finance"]
    assert [a["path"] for a in item["actions"]] == [
        f"/invoices/{OTHER}/approve",
        f"/invoices/{OTHER}/dispute",
        f"/invoices/{OTHER}/reject",
    ]
    early = _item(row, AT - timedelta(seconds=1))  # a clock a second behind the request's: just made
    assert (early["age_days"], early["age_hours"]) == (0, 0)
