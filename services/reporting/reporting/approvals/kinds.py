"""The kinds of pending decision the approvals inbox lists, who may take each and the commands that take it: the one
place of these facts in reporting (the owning services' access policies are the source; a unit test,
``tests/unit/test_approvals_rules.py``, checks every action here against each service's ``AccessPolicy``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.auth import Role


class ApprovalKind(StrEnum):
    BUDGET_CHANGE = "budget-change"
    """A budget change request (``budget-change-requested``) awaits approval or rejection."""
    COMMITMENT = "commitment"
    """A commitment overrunning its category under ``require_approval`` (``commitment-awaiting-approval``)."""
    OVERRUN_POLICY = "overrun-policy"
    """A looser overrun policy was requested (``overrun-policy-change-requested``) and awaits a second finance user."""
    WORK_SHEET = "work-sheet"
    """A submitted (or corrected) work sheet version awaits approval or rejection."""
    INVOICE_OVERRIDE = "invoice-override"
    """An invoice whose latest match is ``invoice-mismatched``: approving it is an override (with a reason)."""
    PROJECT_APPROVAL = "project-approval"
    """A proposed project awaits its approval gate (``project-registered``, not yet approved or terminated)."""
    BASELINE_APPROVAL = "baseline-approval"
    """A performance baseline version was proposed and awaits a director's approval or rejection."""
    GATE_DECISION = "gate-decision"
    """A project on hold awaits a stage-gate decision: continue (resume) or terminate."""
    MILESTONE_VALUE_CHANGE = "milestone-value-change"
    """A change of a milestone's planned value (``milestone-value-change-requested``) awaits a second PMO user."""


@dataclass(frozen=True)
class Action:
    """A command that decides an item: its name, HTTP method, the route's path template (as the owning service
    declares it, for the access check) and the service that answers it."""

    action: str
    method: str
    template: str
    service: str


@dataclass(frozen=True)
class KindRule:
    """Who may decide an item of a kind (besides the director, who may take every decision) and how."""

    roles: frozenset[Role]
    actions: tuple[Action, ...]


FINANCE = frozenset({Role.FINANCE})
DIRECTOR_ONLY: frozenset[Role] = frozenset()

RULES: dict[ApprovalKind, KindRule] = {
    ApprovalKind.BUDGET_CHANGE: KindRule(
        FINANCE,
        (
            Action("approve", "POST", "/budgets/{project_id}/change-requests/{change_id}/approve", "budget"),
            Action("reject", "POST", "/budgets/{project_id}/change-requests/{change_id}/reject", "budget"),
        ),
    ),
    ApprovalKind.COMMITMENT: KindRule(
        FINANCE,
        (
            Action("approve", "POST", "/budgets/{project_id}/commitments/{commitment_id}/approve", "budget"),
            Action("refuse", "POST", "/budgets/{project_id}/commitments/{commitment_id}/refuse", "budget"),
        ),
    ),
    ApprovalKind.OVERRUN_POLICY: KindRule(
        FINANCE, (Action("approve", "POST", "/budgets/{project_id}/overrun-policy/approve", "budget"),)
    ),
    ApprovalKind.WORK_SHEET: KindRule(
        frozenset({Role.RESOURCE_MANAGER}),
        (
            Action("approve", "POST", "/resources/{resource_id}/work-sheets/{sheet_id}/approve", "resources"),
            Action("reject", "POST", "/resources/{resource_id}/work-sheets/{sheet_id}/reject", "resources"),
        ),
    ),
    ApprovalKind.INVOICE_OVERRIDE: KindRule(
        FINANCE,
        (
            Action("approve", "POST", "/invoices/{invoice_id}/approve", "invoicing"),
            Action("dispute", "POST", "/invoices/{invoice_id}/dispute", "invoicing"),
            Action("reject", "POST", "/invoices/{invoice_id}/reject", "invoicing"),
        ),
    ),
    ApprovalKind.PROJECT_APPROVAL: KindRule(
        DIRECTOR_ONLY,
        (
            Action("approve", "POST", "/projects/{project_id}/approve", "projects"),
            Action("terminate", "POST", "/projects/{project_id}/terminate", "projects"),
        ),
    ),
    ApprovalKind.BASELINE_APPROVAL: KindRule(
        DIRECTOR_ONLY,
        (
            Action("approve", "POST", "/projects/{project_id}/baselines/{version}/approve", "projects"),
            Action("reject", "POST", "/projects/{project_id}/baselines/{version}/reject", "projects"),
        ),
    ),
    ApprovalKind.GATE_DECISION: KindRule(
        DIRECTOR_ONLY, (Action("decide", "POST", "/projects/{project_id}/gate-decisions", "projects"),)
    ),
    ApprovalKind.MILESTONE_VALUE_CHANGE: KindRule(
        frozenset({Role.PMO}),
        (
            Action("approve", "POST", "/projects/{project_id}/value-changes/{change_id}/approve", "projects"),
            Action("reject", "POST", "/projects/{project_id}/value-changes/{change_id}/reject", "projects"),
        ),
    ),
}


def deciding_roles(kind: ApprovalKind) -> frozenset[Role]:
    """The roles that may take a decision of ``kind``: its own and the director."""
    return RULES[kind].roles | {Role.DIRECTOR}


def kinds_for(roles: frozenset[Role]) -> list[ApprovalKind]:
    """The kinds of decision a caller with ``roles`` may take (machine clients take none: ``service`` is no
    approver, whatever the routes would let it call)."""
    return [kind for kind in ApprovalKind if roles & deciding_roles(kind)]
