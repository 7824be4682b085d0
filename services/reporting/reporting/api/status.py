"""``GET /reports/projects/{id}/status-reports``: a project's weekly status reports with the RAID items they refer to
(a thin route over :mod:`reporting.views.status`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from reporting.views import status as views
from shared.contracts.projects import Rag
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Paging

router = APIRouter(tags=["reports"], responses={404: COMMAND_RESPONSES[404], 422: COMMAND_RESPONSES[422]})


class ReferencedItem(BaseModel):
    """A RAID item a report refers to, as the project's log stands now."""

    item_id: uuid.UUID
    kind: Literal["risk", "issue", "assumption", "decision", "dependency"]
    title: str | None = Field(description="null while reporting has not received the item's events")
    status: str = Field(
        description="risk, issue: open / closed; assumption: open / confirmed / invalid; decision: logged; "
        "dependency: open / met / cancelled; unknown while reporting has not received the item's events",
        examples=["open"],
    )


class StatusReportLine(BaseModel):
    report_id: uuid.UUID
    meeting_date: date
    recorded_at: datetime
    schedule: Rag
    cost: Rag
    scope: Rag
    quality: Rag
    resources: Rag
    overall: Rag
    overall_overridden: bool
    override_reason: str | None
    narrative: str
    decisions: list[str] = Field(description="free text, as filed")
    risks: list[str] = Field(description="free text, as filed")
    next_steps: list[str]
    raid_items: list[ReferencedItem] = Field(description="by kind: risks, issues, assumptions, decisions, dependencies")


class StatusReportsPage(BaseModel):
    project_id: uuid.UUID
    code: str | None
    name: str | None
    items: list[StatusReportLine]
    total: int
    limit: int
    offset: int


@router.get(
    "/reports/projects/{project_id}/status-reports",
    operation_id="listProjectStatusReports",
    response_model=None,
    responses={200: {"model": StatusReportsPage}},
)
async def status_reports(
    project_id: Annotated[uuid.UUID, Path(description="Project id")], rt: Runtime, paging: Paging
) -> dict[str, Any]:
    """The project's weekly status reports, latest meeting first: each with its RAG, its free text and the RAID
    items it refers to, each with its kind, title and status as the log stands now."""
    return await views.status_reports(rt.engine, project_id, paging.limit, paging.offset)
