"""Portfolios and programmes: the bodies that create them and the grouping view."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from projects.api.models.fields import Slug, Text200, Text4000
from shared.bounds import RequestBody


class CreatePortfolioRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"portfolio_id": "digital", "name": "Digital transformation"}]}
    )

    portfolio_id: Slug
    name: Text200 = Field(examples=["Digital transformation"])
    description: Text4000 = ""


class CreateProgrammeRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"programme_id": "customer-experience", "name": "Customer experience"}]}
    )

    programme_id: Slug = Field(examples=["customer-experience"])
    name: Text200 = Field(examples=["Customer experience"])
    description: Text4000 = ""


class GroupingView(BaseModel):
    kind: str
    grouping_id: str
    portfolio_id: str
    name: str
    description: str
    closed_on: date | None = Field(default=None, description="when it was closed; null while open")
