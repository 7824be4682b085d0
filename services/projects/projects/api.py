"""HTTP API of the projects service: commands append events; queries read the service's own tables."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import text

from projects import domain
from shared.errors import NotFoundError
from shared.money import Money, minor_unit
from shared.service import Runtime
from shared.web import COMMAND_RESPONSES, Command, Page, Paging, respond

router = APIRouter(tags=["projects"])

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
ProjectIdPath = Annotated[uuid.UUID, Path(description="Project id")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterProjectRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "code": "CRM-2027",
                    "name": "CRM replacement",
                    "objectives": "Replace the legacy CRM by Q4",
                    "sponsor": "a.director",
                    "manager": "p.manager",
                    "planned_start": "2027-01-04",
                    "planned_end": "2027-12-17",
                    "currency": "EUR",
                    "portfolio_id": "digital",
                }
            ]
        },
    )

    code: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    name: Text200
    objectives: Annotated[str, Field(max_length=4000)] = ""
    sponsor: Text200
    manager: Text200
    planned_start: date
    planned_end: date
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    portfolio_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    programme_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None

    @field_validator("currency")
    @classmethod
    def _iso(cls, value: str) -> str:
        minor_unit(value)
        return value


class PlanMilestoneRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "Design approved",
                    "due_date": "2027-03-31",
                    "planned_value": {"amount": "120000.00", "currency": "EUR"},
                    "acceptance_criteria": "Design document signed by the sponsor",
                }
            ]
        },
    )

    name: Text200
    due_date: date
    planned_value: Money
    acceptance_criteria: Annotated[str, Field(max_length=4000)] = ""


class MilestoneView(BaseModel):
    milestone_id: uuid.UUID
    name: str
    due_date: date
    planned_value: Money
    acceptance_criteria: str
    status: str


class ProjectView(BaseModel):
    project_id: uuid.UUID
    portfolio_id: str | None
    programme_id: str | None
    code: str
    name: str
    objectives: str
    sponsor: str
    manager: str
    status: str
    currency: str
    planned_start: date
    planned_end: date
    version: int


AGGREGATE = domain.ProjectAggregate()


@router.post("/projects", status_code=201, response_model=ProjectView, responses=COMMAND_RESPONSES)
async def register_project(body: RegisterProjectRequest, ctx: Command, rt: Runtime) -> JSONResponse:
    """Register a project (status ``proposed``). The code must be unique within its portfolio."""
    project_id = domain.ProjectId(uuid.uuid4())
    command = domain.RegisterProject(project_id=project_id, **body.model_dump())
    outcome = await rt.executor.execute(
        ctx,
        aggregate=AGGREGATE,
        stream_id=domain.stream_id(project_id),
        command=command,
        respond=lambda state, events, version: _project_view(body.model_dump(mode="json"), project_id, version),
        status_code=201,
    )
    return respond(outcome, location=f"/projects/{outcome.body['project_id']}")


def _project_view(fields: dict[str, Any], project_id: uuid.UUID, version: int) -> dict[str, Any]:
    return {**fields, "project_id": str(project_id), "status": "proposed", "version": version}


@router.post(
    "/projects/{project_id}/milestones", status_code=201, response_model=MilestoneView, responses=COMMAND_RESPONSES
)
async def plan_milestone(
    project_id: ProjectIdPath, body: PlanMilestoneRequest, ctx: Command, rt: Runtime
) -> JSONResponse:
    """Plan a milestone with its due date and planned value (in the project's currency)."""
    milestone_id = domain.MilestoneId(uuid.uuid4())
    outcome = await rt.executor.execute(
        ctx,
        aggregate=AGGREGATE,
        stream_id=domain.stream_id(project_id),
        command=domain.PlanMilestone(
            milestone_id=milestone_id,
            name=body.name,
            due_date=body.due_date,
            planned_value=body.planned_value,
            acceptance_criteria=body.acceptance_criteria,
        ),
        respond=lambda state, events, version: {
            **body.model_dump(mode="json"),
            "milestone_id": str(milestone_id),
            "status": "planned",
        },
        status_code=201,
    )
    return respond(outcome, location=f"/projects/{project_id}/milestones/{outcome.body['milestone_id']}")


@router.get("/projects", response_model=Page[ProjectView])
async def list_projects(
    rt: Runtime,
    paging: Paging,
    portfolio_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    """Projects, newest first, filtered by portfolio and status."""
    where: list[str] = ["TRUE"]
    params: dict[str, Any] = {"limit": paging.limit, "offset": paging.offset}
    if portfolio_id is not None:
        where.append("portfolio_id = :pf")
        params["pf"] = portfolio_id
    if status is not None:
        where.append("status = :st")
        params["st"] = status
    clause = " AND ".join(where)
    async with rt.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM projects WHERE {clause}"), params)).scalar_one()
        rows = (
            await conn.execute(
                text(
                    f"SELECT * FROM projects WHERE {clause} ORDER BY registered_at DESC, project_id "
                    "LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ).mappings()
        items = [_row_view(r) for r in rows]
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.get("/projects/{project_id}", response_model=ProjectView, responses={404: COMMAND_RESPONSES[404]})
async def get_project(project_id: ProjectIdPath, rt: Runtime) -> JSONResponse:
    """One project; ``ETag`` carries its version for ``If-Match``."""
    async with rt.engine.connect() as conn:
        row = (
            (await conn.execute(text("SELECT * FROM projects WHERE project_id = :id"), {"id": project_id}))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFoundError(f"project {project_id} does not exist")
    view = ProjectView.model_validate(_row_view(row)).model_dump(mode="json")
    return JSONResponse(view, headers={"ETag": f'"{row["version"]}"'})


@router.get("/projects/{project_id}/milestones", response_model=list[MilestoneView])
async def list_milestones(project_id: ProjectIdPath, rt: Runtime) -> list[dict[str, Any]]:
    """The project's milestones by due date."""
    await _ensure_project(rt, project_id)
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT * FROM milestones WHERE project_id = :id ORDER BY due_date, name"), {"id": project_id}
            )
        ).mappings()
        return [
            {
                **{k: r[k] for k in ("milestone_id", "name", "due_date", "acceptance_criteria", "status")},
                "planned_value": Money(amount=Decimal(r["planned_value"]), currency=r["currency"]),
            }
            for r in rows
        ]


async def _ensure_project(rt: Runtime, project_id: uuid.UUID) -> None:
    async with rt.engine.connect() as conn:
        found = (await conn.execute(text("SELECT 1 FROM projects WHERE project_id = :id"), {"id": project_id})).first()
    if found is None:
        raise NotFoundError(f"project {project_id} does not exist")


def _row_view(row: Any) -> dict[str, Any]:
    view = dict(row)
    view["portfolio_id"] = view["portfolio_id"] or None
    return view
