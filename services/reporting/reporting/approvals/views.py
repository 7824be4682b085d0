"""The caller's approvals inbox: the pending items of :mod:`reporting.approvals.model` that her role may decide, on
projects in her scope, that she neither requested nor may decide by the separation-of-duties rules (she registered or
manages the project of a gate, the sheet is her own work), oldest request first."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reporting.approvals.kinds import RULES, ApprovalKind, deciding_roles, kinds_for
from reporting.domain.amounts import shown
from shared.auth import Principal
from shared.authz import scope_filter
from shared.identity import skeleton


@dataclass(frozen=True)
class InboxFilter:
    kind: ApprovalKind | None = None
    project_id: uuid.UUID | None = None
    portfolio_id: str | None = None


async def inbox(
    engine: AsyncEngine, principal: Principal | None, wanted: InboxFilter, limit: int, offset: int, now: datetime
) -> dict[str, Any]:
    """A page of the caller's inbox (``total``: every item she may decide under the filters)."""
    kinds = [] if principal is None else kinds_for(principal.roles)
    if wanted.kind is not None:
        kinds = [k for k in kinds if k is wanted.kind]
    if principal is None or not kinds:
        return {"items": [], "total": 0, "limit": limit, "offset": offset}
    condition, params = scope_filter(principal, "a.project_id")
    where = [
        "a.pending",
        "a.kind = ANY(:kinds)",
        "NOT (:me = ANY(a.excluded))",
        "(r.subject_key IS NULL OR r.subject_key <> :me)",
        condition,
    ]
    params |= {"kinds": [k.value for k in kinds], "me": skeleton(principal.subject)}
    if wanted.project_id is not None:
        where.append("a.project_id = :project_id")
        params["project_id"] = wanted.project_id
    if wanted.portfolio_id is not None:
        where.append("pp.portfolio_id = :portfolio_id")
        params["portfolio_id"] = wanted.portfolio_id
    source = (
        "FROM approval_items a LEFT JOIN approval_resources r ON r.resource_id = a.resource_id "
        f"LEFT JOIN portfolio_projects pp ON pp.project_id = a.project_id WHERE {' AND '.join(where)}"
    )
    async with engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) {source}"), params)).scalar_one()
        rows = (
            await conn.execute(
                text(
                    "SELECT a.item_key, a.kind, a.project_id, a.what, a.detail, a.amount, a.currency, a.requested_by, "
                    "a.requested_at, a.params::text AS params, pp.code, pp.name, pp.portfolio_id, pp.programme_id "
                    f"{source} ORDER BY a.requested_at, a.item_key LIMIT :limit OFFSET :offset"
                ),
                {**params, "limit": limit, "offset": offset},
            )
        ).all()
    return {"items": [_item(row, now) for row in rows], "total": total, "limit": limit, "offset": offset}


def _item(row: Any, now: datetime) -> dict[str, Any]:
    kind = ApprovalKind(row.kind)
    path_params = json.loads(row.params)
    age = max(now - row.requested_at, timedelta(0))
    return {
        "item_id": row.item_key,
        "kind": kind.value,
        "project": {
            "project_id": str(row.project_id),
            "code": row.code,
            "name": row.name,
            "portfolio_id": row.portfolio_id,
            "programme_id": row.programme_id,
        },
        "what": row.what if row.detail is None else f"{row.what}: {row.detail}",
        "amount": None if row.amount is None else {"amount": shown(row.amount, row.currency), "currency": row.currency},
        "requested_by": row.requested_by,
        "requested_at": row.requested_at.isoformat(),
        "age_days": age.days,
        "age_hours": int(age.total_seconds() // 3600),
        "deciders": sorted(role.value for role in deciding_roles(kind)),
        "actions": [
            {
                "action": a.action,
                "method": a.method,
                "path": a.template.format(**path_params),
                "service": a.service,
            }
            for a in RULES[kind].actions
        ],
    }
