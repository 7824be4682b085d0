"""Deciding on an invoice: approval, dispute, rejection.

A matched invoice is approved as it is; a mismatched one only by an override with a reason, by someone other than
whoever received it. At or above the dual-control threshold of the invoice's currency (:class:`DualControl`) the
approver never received it. A disputed invoice can be approved or rejected afterwards; a rejected one frees the
work it bills for other invoices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from invoicing.domain.invoice import (
    AWAITING_DECISION,
    DualControl,
    Invoice,
    InvoiceStatus,
    require_status,
)
from shared.contracts.invoicing import InvoiceApproved, InvoiceDisputed, InvoiceRejected
from shared.errors import RuleViolationError, SeparationOfDutiesError
from shared.identity import same_person


@dataclass(frozen=True)
class ApproveInvoice:
    approved_by: str
    override_reason: str | None = None
    dual_control: DualControl = field(default_factory=DualControl)


@dataclass(frozen=True)
class DisputeInvoice:
    disputed_by: str
    reason: str


@dataclass(frozen=True)
class RejectInvoice:
    rejected_by: str
    reason: str


def approve(invoice: Invoice, command: ApproveInvoice) -> InvoiceApproved:
    require_status(invoice, {InvoiceStatus.MATCHED, InvoiceStatus.MISMATCHED, InvoiceStatus.DISPUTED}, "approved")
    assert invoice.match is not None  # matched or mismatched at receipt
    if invoice.match.matched:
        if command.dual_control.applies_to(invoice.total) and same_person(command.approved_by, invoice.received_by):
            raise SeparationOfDutiesError(
                f"{command.approved_by} received invoice {invoice.number} ({invoice.total}); someone else approves it"
            )
        return InvoiceApproved(
            project_id=invoice.project_id,
            invoice_id=invoice.invoice_id,
            approved_by=command.approved_by,
            override=False,
            override_reason=None,
            overridden=[],
            amount_due=invoice.amount_due,
        )
    reason = (command.override_reason or "").strip()
    checks = ", ".join(sorted({d.check.value for d in invoice.match.discrepancies}))
    if not reason:
        raise RuleViolationError(
            f"invoice {invoice.number} is mismatched ({checks}): approving it is an override and needs a reason",
            field="override_reason",
        )
    if same_person(command.approved_by, invoice.received_by):
        raise SeparationOfDutiesError(
            "a mismatched invoice is approved (overridden) by someone other than whoever received it"
        )
    return InvoiceApproved(
        project_id=invoice.project_id,
        invoice_id=invoice.invoice_id,
        approved_by=command.approved_by,
        override=True,
        override_reason=reason,
        overridden=list(invoice.match.discrepancies),
        amount_due=invoice.amount_due,
    )


def dispute(invoice: Invoice, command: DisputeInvoice) -> InvoiceDisputed:
    require_status(invoice, {InvoiceStatus.MATCHED, InvoiceStatus.MISMATCHED, InvoiceStatus.APPROVED}, "disputed")
    return InvoiceDisputed(
        project_id=invoice.project_id,
        invoice_id=invoice.invoice_id,
        disputed_by=command.disputed_by,
        reason=command.reason,
    )


def reject(invoice: Invoice, command: RejectInvoice) -> InvoiceRejected:
    require_status(invoice, AWAITING_DECISION, "rejected")
    return InvoiceRejected(
        project_id=invoice.project_id,
        invoice_id=invoice.invoice_id,
        rejected_by=command.rejected_by,
        reason=command.reason,
    )
