"""What the resources use cases read besides the aggregate itself (:class:`ResourceFacts`, implemented in SQL by
:mod:`resources.repository`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Protocol

from resources import domain


class ResourceFacts(Protocol):
    """What the handlers read besides the aggregate itself."""

    async def role_rates(self, resource_id: uuid.UUID) -> domain.RoleRateCard:
        """The default rates of the resource's current role; an empty card for an unknown resource."""
        ...

    async def department_policy(self, resource_id: uuid.UUID) -> domain.DepartmentPolicy:
        """The over-allocation policy of the resource's current department (``warn`` unless set); an empty policy
        for an unknown resource."""
        ...

    async def name(self, resource_id: uuid.UUID) -> str | None:
        """The resource's name; ``None`` once erased (or never given)."""
        ...

    async def known_project(self, project_id: uuid.UUID) -> domain.KnownProject | None:
        """The project (currency, status, milestones) as consumed from ``pmo.projects.v1``; ``None`` when this
        service has not seen it."""
        ...

    async def sheet_project(self, resource_id: uuid.UUID, sheet_id: uuid.UUID) -> uuid.UUID | None:
        """The project of the resource's work sheet; ``None`` for a sheet it does not have."""
        ...

    async def exchange_rates(self, currency: str, on: date) -> tuple[domain.ExchangeRate, ...]:
        """The exchange rates in force on ``on`` (per pair, the latest effective on or before it) from and to
        ``currency``, as consumed from ``pmo.budget.v1``."""
        ...
