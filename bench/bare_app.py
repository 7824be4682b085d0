"""The reference for the HTTP benchmark: a bare FastAPI endpoint that validates a project body and inserts one row.

``uvicorn bench.bare_app:create_app --factory`` with ``PMO_DATABASE_URL`` and ``PMO_DB_SCHEMA``. No event store,
no relay, no idempotency, no middleware: the least a web service writing to the same PostgreSQL does per request.
Same validation rules, the same asyncpg pool size (10 + 10 overflow) and the same uniqueness check on
``(portfolio_id, code)`` as the projects service's query table.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from shared.ids import new_id

DDL = """
CREATE TABLE IF NOT EXISTS bare_projects (
    project_id    uuid PRIMARY KEY,
    portfolio_id  text NOT NULL DEFAULT '',
    programme_id  text,
    code          text NOT NULL,
    name          text NOT NULL,
    status        text NOT NULL,
    manager       text NOT NULL,
    currency      text NOT NULL,
    planned_start date NOT NULL,
    planned_end   date NOT NULL,
    version       integer NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    doc           jsonb NOT NULL,
    CONSTRAINT bare_projects_portfolio_code_key UNIQUE (portfolio_id, code)
)
"""

INSERT = text(
    """
    INSERT INTO bare_projects (project_id, portfolio_id, programme_id, code, name, status, manager, currency,
                               planned_start, planned_end, version, doc)
    VALUES (:project_id, :portfolio_id, :programme_id, :code, :name, 'proposed', :manager, :currency,
            :planned_start, :planned_end, 1, CAST(:doc AS jsonb))
    """
)

Text200 = Annotated[str, Field(min_length=1, max_length=200)]


class RegisterProject(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    name: Text200
    objectives: Annotated[str, Field(max_length=4000)] = ""
    sponsor: Text200
    manager: Text200
    planned_start: date
    planned_end: date
    currency: Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]
    portfolio_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    programme_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None

    @field_validator("planned_end")
    @classmethod
    def _after_start(cls, value: date, info: Any) -> date:
        start = info.data.get("planned_start")
        if start is not None and value < start:
            raise ValueError("planned_end must not be before planned_start")
        return value


def create_app() -> FastAPI:
    url = make_url(os.environ["PMO_DATABASE_URL"]).set(drivername="postgresql+asyncpg")
    schema = os.environ["PMO_DB_SCHEMA"]
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        connect_args={"server_settings": {"search_path": f"{schema},public"}},
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.execute(text(DDL))
        yield
        await engine.dispose()

    app = FastAPI(title="bare reference", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/projects", status_code=201)
    async def register(body: RegisterProject) -> JSONResponse:
        project_id = new_id()
        fields = body.model_dump(mode="json")
        view = {**fields, "project_id": str(project_id), "status": "proposed", "version": 1}
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    INSERT,
                    {
                        **body.model_dump(exclude={"objectives", "sponsor"}),
                        "portfolio_id": body.portfolio_id or "",
                        "project_id": project_id,
                        "doc": json.dumps(view),
                    },
                )
        except IntegrityError as exc:
            raise HTTPException(409, "a project with this code exists in the portfolio") from exc
        return JSONResponse(view, status_code=201, headers={"Location": f"/projects/{project_id}"})

    return app
