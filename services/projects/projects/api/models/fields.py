"""The constrained strings the projects API's request bodies share: names, long texts, reasons and slugs."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Text4000 = Annotated[str, Field(max_length=4000)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$", examples=["digital"])]
