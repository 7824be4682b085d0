"""The facts the resources handlers read, over the service's own tables (the reading interfaces of
:mod:`resources.handlers`, implemented in SQL), and the erasable ``people`` table they write apart from events."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from resources import domain
from resources.handlers import PersonalDataWrite
from resources.projections import PersonalData
from resources.views import rates_of_role
from shared.contracts.resources import OverAllocationPolicy


class ResourceTables:
    """:class:`resources.handlers.ResourceFacts` and :class:`resources.handlers.PersonalDataStore` over
    PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def role_rates(self, resource_id: uuid.UUID) -> domain.RoleRateCard:
        async with self.engine.connect() as conn:
            role = (
                await conn.execute(text("SELECT role FROM resources WHERE resource_id = :id"), {"id": resource_id})
            ).scalar()
            if role is None:
                return domain.RoleRateCard()  # the command will find no resource
            return await rates_of_role(conn, str(role))

    async def department_policy(self, resource_id: uuid.UUID) -> domain.DepartmentPolicy:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT r.department, p.policy FROM resources r LEFT JOIN department_policies p "
                        "ON p.department = r.department WHERE r.resource_id = :id"
                    ),
                    {"id": resource_id},
                )
            ).first()
        if row is None:
            return domain.DepartmentPolicy()
        return domain.DepartmentPolicy(row.department, OverAllocationPolicy(row.policy or OverAllocationPolicy.WARN))

    async def known_project(self, project_id: uuid.UUID) -> domain.KnownProject | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT currency, status FROM known_projects WHERE project_id = :p"), {"p": project_id}
                )
            ).first()
            if row is None:
                return None
            milestones = await conn.execute(
                text("SELECT milestone_id FROM known_milestones WHERE project_id = :p"), {"p": project_id}
            )
            return domain.KnownProject(
                project_id, str(row.currency), str(row.status), frozenset(m.milestone_id for m in milestones)
            )

    async def sheet_project(self, resource_id: uuid.UUID, sheet_id: uuid.UUID) -> uuid.UUID | None:
        async with self.engine.connect() as conn:
            project_id = (
                await conn.execute(
                    text("SELECT project_id FROM work_sheets WHERE sheet_id = :s AND resource_id = :r"),
                    {"s": sheet_id, "r": resource_id},
                )
            ).scalar()
        return None if project_id is None else uuid.UUID(str(project_id))

    async def exchange_rates(self, currency: str, on: date) -> tuple[domain.ExchangeRate, ...]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT DISTINCT ON (base, quote) base, quote, rate, effective_on, source FROM known_rates "
                    "WHERE (base = :c OR quote = :c) AND effective_on <= :on "
                    "ORDER BY base, quote, effective_on DESC"
                ),
                {"c": currency, "on": on},
            )
            return tuple(domain.ExchangeRate(r.base, r.quote, r.rate, r.effective_on, r.source) for r in rows)

    async def name(self, resource_id: uuid.UUID) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(text("SELECT name FROM people WHERE resource_id = :id"), {"id": resource_id})
            ).scalar()

    async def replace_personal_data(self, data: PersonalData) -> PersonalDataWrite:
        async with self.engine.begin() as conn:
            erased = (
                await conn.execute(
                    text("SELECT erased FROM resources WHERE resource_id = :id FOR UPDATE"), {"id": data.resource_id}
                )
            ).scalar()
            if erased is None:
                return PersonalDataWrite.NO_SUCH_RESOURCE
            if erased:
                return PersonalDataWrite.ERASED
            await conn.execute(
                text(
                    "INSERT INTO people (resource_id, name, email, phone, updated_at) VALUES (:id, :n, :e, :p, now()) "
                    "ON CONFLICT (resource_id) DO UPDATE SET name = excluded.name, email = excluded.email, "
                    "phone = excluded.phone, updated_at = excluded.updated_at"
                ),
                {"id": data.resource_id, "n": data.name, "e": data.email, "p": data.phone},
            )
        return PersonalDataWrite.REPLACED
