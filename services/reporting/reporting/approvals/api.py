"""``GET /approvals``: the caller's approvals inbox (a thin route over :mod:`reporting.approvals.views`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from reporting.approvals.kinds import ApprovalKind
from reporting.approvals.views import InboxFilter, inbox
from shared.authz import InScope
from shared.money import Money
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Paging

router = APIRouter(tags=["approvals"], responses={422: COMMAND_RESPONSES[422]})


class ApprovalProject(BaseModel):
    project_id: uuid.UUID
    code: str | None = Field(description="null until reporting knows the project's registration")
    name: str | None
    portfolio_id: str | None
    programme_id: str | None


class ApprovalAction(BaseModel):
    """A command that decides the item: ``method`` and ``path`` on ``service``."""

    action: str = Field(examples=["approve"])
    method: str = Field(examples=["POST"])
    path: str = Field(examples=["/budgets/6f1c.../change-requests/0b2e.../approve"])
    service: str = Field(examples=["budget"])


class ApprovalItem(BaseModel):
    """One decision waiting for the caller."""

    item_id: str = Field(description="<kind>:<the object's id> (a baseline's: <project id>:<version>)")
    kind: ApprovalKind
    project: ApprovalProject
    what: str
    amount: Money | None = Field(description="the amount at stake, rounded to its currency's minor unit; null if none")
    requested_by: str
    requested_at: datetime
    age_days: int = Field(description="whole days since the request")
    age_hours: int = Field(description="whole hours since the request")
    deciders: list[str] = Field(description="the roles that may take this decision")
    actions: list[ApprovalAction]


class ApprovalsPage(BaseModel):
    items: list[ApprovalItem]
    total: int
    limit: int
    offset: int


@router.get("/approvals", operation_id="listApprovals", response_model=ApprovalsPage)
async def list_approvals(
    rt: Runtime,
    paging: Paging,
    scope: InScope,
    kind: ApprovalKind | None = None,
    project_id: uuid.UUID | None = None,
    portfolio_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Every pending decision the caller may take, oldest request first: budget change requests, commitments awaiting
    approval, overrun-policy loosenings, submitted work sheets, mismatched invoices (an override), proposed projects
    and baselines, projects on hold awaiting a gate decision. Only her role's kinds (the director takes every kind),
    only projects in her scope, never what she requested nor what separation of duties forbids her to decide; each
    item with the commands that decide it. Filtered by kind, project and portfolio."""
    wanted = InboxFilter(kind=kind, project_id=project_id, portfolio_id=portfolio_id)
    return await inbox(rt.engine, scope.principal, wanted, paging.limit, paging.offset, rt.executor.clock.now())
