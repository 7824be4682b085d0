"""Which event opens, parks or closes which pending decision: a pure function of one decoded event (no I/O), applied
by :mod:`reporting.approvals.model`.

An item is keyed ``<kind>:<object>`` (a change request's id, a commitment's, a sheet's, an invoice's, a project's, a
project's baseline version). Requests open it; a later request on the same object (a corrected work sheet, a new
overrun-policy request) replaces it; decisions close it. An invoice's item exists from its receipt but is pending
only while its latest match is a mismatch (a matched invoice is approved without an override; a disputed one waits
for its vendor, until a credit note's re-match says it is mismatched again).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from reporting.approvals.kinds import ApprovalKind
from shared.contracts import budget as b
from shared.contracts import invoicing as i
from shared.contracts import project_edits as e
from shared.contracts import projects as p
from shared.contracts import resources as r
from shared.events import DomainEvent
from shared.money import Money

WHAT_LENGTH = 300
"""The longest ``what`` kept (a request's free text is cut there, with an ellipsis)."""

EVENTS: dict[str, frozenset[str]] = {
    "projects": frozenset(
        {
            "project-registered",
            "project-approved",
            "project-terminated",
            "project-completed",
            "project-put-on-hold",
            "project-resumed",
            "performance-baseline-proposed",
            "performance-baseline-approved",
            "performance-baseline-rejected",
            "milestone-value-change-requested",
            "milestone-value-change-approved",
            "milestone-value-change-rejected",
        }
    ),
    "budget": frozenset(
        {
            "budget-change-requested",
            "budget-change-approved",
            "budget-change-rejected",
            "commitment-awaiting-approval",
            "budget-committed",
            "commitment-approval-refused",
            "commitment-cancelled",
            "overrun-policy-change-requested",
            "overrun-policy-set",
        }
    ),
    "resources": frozenset(
        {
            "resource-registered",
            "work-sheet-submitted",
            "work-sheet-corrected",
            "work-sheet-approved",
            "work-sheet-rejected",
        }
    ),
    "invoicing": frozenset(
        {
            "invoice-received",
            "invoice-matched",
            "invoice-mismatched",
            "invoice-approved",
            "invoice-disputed",
            "invoice-rejected",
        }
    ),
}
"""The events the inbox reads, per service: every other record is skipped without being decoded."""


@dataclass(frozen=True)
class Open:
    """A request: the item ``key`` is (re)opened with what it is and who asked. ``excluded``: the people who may
    never decide it besides its requester (a project's manager); ``project_people``: also the project's registrant
    and manager (kept by :class:`Person` changes of the project); ``replace``: a later request on the same key
    replaces it (else the first one stays)."""

    key: str
    kind: ApprovalKind
    project_id: uuid.UUID
    what: str
    amount: Money | None
    requested_by: str
    requested_at: datetime
    params: dict[str, str]
    pending: bool = True
    excluded: tuple[str, ...] = ()
    project_people: bool = False
    resource_id: uuid.UUID | None = None
    version: int | None = None
    replace: bool = True


@dataclass(frozen=True)
class Close:
    """A decision: the item ``key`` is gone (a work sheet's only if its version is ``version`` or older)."""

    key: str
    version: int | None = None


@dataclass(frozen=True)
class Park:
    """The item ``key`` is pending (or not) from now on, with the ``detail`` of why and its ``amount`` when given."""

    key: str
    pending: bool
    detail: str | None = None
    amount: Money | None = None


@dataclass(frozen=True)
class ProjectPeople:
    """Who registered and who manages a project: never its gates' deciders."""

    project_id: uuid.UUID
    people: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ResourceSubject:
    """The person whose work a resource's sheets are: never their approver."""

    resource_id: uuid.UUID
    subject: str


Change = Open | Close | Park | ProjectPeople | ResourceSubject


def _cut(text: str) -> str:
    return text if len(text) <= WHAT_LENGTH else text[: WHAT_LENGTH - 1] + "…"


def _key(kind: ApprovalKind, *parts: object) -> str:
    return ":".join([kind.value, *(str(x) for x in parts)])


def changes(event: DomainEvent, actor: str, at: datetime) -> list[Change]:
    """What ``event`` (recorded at ``at`` by ``actor``) changes in the inbox."""
    return _projects(event, actor, at) or _budget(event, at) or _resources(event, at) or _invoicing(event, at)


def _projects(event: DomainEvent, actor: str, at: datetime) -> list[Change]:
    K = ApprovalKind
    match event:
        case p.ProjectRegistered():
            registrant = event.registered_by or actor
            ids = {"project_id": str(event.project_id)}
            return [
                ProjectPeople(event.project_id, (registrant, event.manager)),
                Open(
                    _key(K.PROJECT_APPROVAL, event.project_id),
                    K.PROJECT_APPROVAL,
                    event.project_id,
                    _cut(f"approve project {event.code} {event.name}"),
                    None,
                    registrant,
                    at,
                    ids,
                    excluded=(event.manager,),
                    replace=False,
                ),
            ]
        case p.ProjectApproved():
            return [Close(_key(K.PROJECT_APPROVAL, event.project_id))]
        case p.ProjectTerminated():
            return [Close(_key(K.PROJECT_APPROVAL, event.project_id)), Close(_key(K.GATE_DECISION, event.project_id))]
        case p.ProjectCompleted() | p.ProjectResumed():
            return [Close(_key(K.GATE_DECISION, event.project_id))]
        case p.ProjectPutOnHold():
            return [
                Open(
                    _key(K.GATE_DECISION, event.project_id),
                    K.GATE_DECISION,
                    event.project_id,
                    _cut(f"on hold since {event.on.isoformat()} ({event.reason}): continue or terminate"),
                    None,
                    actor,
                    at,
                    {"project_id": str(event.project_id)},
                    project_people=True,
                )
            ]
        case p.PerformanceBaselineProposed():
            return [
                Open(
                    _key(K.BASELINE_APPROVAL, event.project_id, event.version),
                    K.BASELINE_APPROVAL,
                    event.project_id,
                    _cut(f"performance baseline version {event.version} from {event.effective_on}: {event.reason}"),
                    event.total,
                    event.proposed_by,
                    at,
                    {"project_id": str(event.project_id), "version": str(event.version)},
                )
            ]
        case p.PerformanceBaselineApproved() | p.PerformanceBaselineRejected():
            return [Close(_key(K.BASELINE_APPROVAL, event.project_id, event.version))]
        case e.MilestoneValueChangeRequested():
            return [
                Open(
                    _key(K.MILESTONE_VALUE_CHANGE, event.change_id),
                    K.MILESTONE_VALUE_CHANGE,
                    event.project_id,
                    _cut(f"planned value {event.previous_value} -> {event.planned_value}: {event.reason}"),
                    event.planned_value,
                    event.requested_by,
                    at,
                    {"project_id": str(event.project_id), "change_id": str(event.change_id)},
                )
            ]
        case e.MilestoneValueChangeApproved() | e.MilestoneValueChangeRejected():
            return [Close(_key(K.MILESTONE_VALUE_CHANGE, event.change_id))]
    return []


def _budget(event: DomainEvent, at: datetime) -> list[Change]:
    K = ApprovalKind
    match event:
        case b.BudgetChangeRequested():
            return [
                Open(
                    _key(K.BUDGET_CHANGE, event.change_id),
                    K.BUDGET_CHANGE,
                    event.project_id,
                    _cut(f"{event.category.value} budget change: {event.reason}"),
                    event.amount,
                    event.requested_by,
                    at,
                    {"project_id": str(event.project_id), "change_id": str(event.change_id)},
                )
            ]
        case b.BudgetChangeApproved() | b.BudgetChangeRejected():
            return [Close(_key(K.BUDGET_CHANGE, event.change_id))]
        case b.CommitmentAwaitingApproval():
            over = event.overrun.over_by
            return [
                Open(
                    _key(K.COMMITMENT, event.commitment_id),
                    K.COMMITMENT,
                    event.project_id,
                    _cut(
                        f"{event.kind.value} {event.reference} with {event.vendor} ({event.category.value}): "
                        f"overruns its category by {over.amount} {over.currency}"
                    ),
                    event.amount,
                    event.requested_by,
                    at,
                    {"project_id": str(event.project_id), "commitment_id": str(event.commitment_id)},
                )
            ]
        case b.BudgetCommitted() | b.CommitmentApprovalRefused() | b.CommitmentCancelled():
            return [Close(_key(K.COMMITMENT, event.commitment_id))]
        case b.OverrunPolicyChangeRequested():
            return [
                Open(
                    _key(K.OVERRUN_POLICY, event.project_id),
                    K.OVERRUN_POLICY,
                    event.project_id,
                    f"overrun policy {event.previous_policy.value} -> {event.policy.value}",
                    None,
                    event.requested_by,
                    at,
                    {"project_id": str(event.project_id)},
                )
            ]
        case b.OverrunPolicySet():
            return [Close(_key(K.OVERRUN_POLICY, event.project_id))]
    return []


def _resources(event: DomainEvent, at: datetime) -> list[Change]:
    K = ApprovalKind
    match event:
        case r.ResourceRegistered():
            return [ResourceSubject(event.resource_id, event.subject)] if event.subject else []
        case r.WorkSheetSubmitted() | r.WorkSheetCorrected():
            return [
                Open(
                    _key(K.WORK_SHEET, event.sheet_id),
                    K.WORK_SHEET,
                    event.project_id,
                    f"work sheet {event.week}: {event.hours} hours (version {event.version})",
                    None,
                    event.submitted_by,
                    at,
                    {
                        "project_id": str(event.project_id),
                        "resource_id": str(event.resource_id),
                        "sheet_id": str(event.sheet_id),
                    },
                    resource_id=event.resource_id,
                    version=event.version,
                )
            ]
        case r.WorkSheetApproved() | r.WorkSheetRejected():
            return [Close(_key(K.WORK_SHEET, event.sheet_id), version=event.version)]
    return []


def _invoicing(event: DomainEvent, at: datetime) -> list[Change]:
    K = ApprovalKind
    match event:
        case i.InvoiceReceived():
            return [
                Open(
                    _key(K.INVOICE_OVERRIDE, event.invoice_id),
                    K.INVOICE_OVERRIDE,
                    event.project_id,
                    _cut(f"invoice {event.number} from {event.vendor}"),
                    event.net,
                    event.received_by,
                    at,
                    {"project_id": str(event.project_id), "invoice_id": str(event.invoice_id)},
                    pending=False,
                    replace=False,
                )
            ]
        case i.InvoiceMismatched():
            checks = sorted({d.check.value for d in event.discrepancies})
            return [
                Park(
                    _key(K.INVOICE_OVERRIDE, event.invoice_id),
                    True,
                    detail=f"{len(event.discrepancies)} discrepancies ({', '.join(checks)})",
                    amount=event.invoiced,
                )
            ]
        case i.InvoiceMatched():
            return [Park(_key(K.INVOICE_OVERRIDE, event.invoice_id), False, amount=event.invoiced)]
        case i.InvoiceDisputed():
            return [Park(_key(K.INVOICE_OVERRIDE, event.invoice_id), False)]
        case i.InvoiceApproved() | i.InvoiceRejected():
            return [Close(_key(K.INVOICE_OVERRIDE, event.invoice_id))]
    return []
